//! Small helpers: a random source (no `rand` dependency), UUIDs, RFC 3339 times, URL decoding.

use sha2::{Digest, Sha256};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Unpredictable bytes: SHA-256 over a per-process random seed and a counter. Good enough for
/// test tokens and ids; this is a fake server, not a key generator.
pub(crate) struct Rng {
    seed: [u8; 32],
    counter: AtomicU64,
}

impl Rng {
    pub(crate) fn new() -> Rng {
        let mut h = Sha256::new();
        for _ in 0..4 {
            // Each RandomState is keyed by the OS random source.
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u64(0x5eed);
            h.update(hasher.finish().to_le_bytes());
        }
        h.update(std::process::id().to_le_bytes());
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        h.update(t.to_le_bytes());
        Rng { seed: h.finalize().into(), counter: AtomicU64::new(0) }
    }

    pub(crate) fn fill(&self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let mut h = Sha256::new();
            h.update(self.seed);
            h.update(n.to_le_bytes());
            let block = h.finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }

    pub(crate) fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }

    /// A version-4 UUID, as GoTrue's ids are.
    pub(crate) fn uuid(&self) -> String {
        let mut b: [u8; 16] = self.bytes();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        format_uuid(&b)
    }

    /// `n` characters of `[a-z0-9]`, the shape of GoTrue's legacy refresh tokens.
    pub(crate) fn alphanumeric(&self, n: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut raw = vec![0u8; n];
        self.fill(&mut raw);
        raw.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
    }

    /// `n` decimal digits (an email OTP).
    pub(crate) fn digits(&self, n: usize) -> String {
        let mut raw = vec![0u8; n];
        self.fill(&mut raw);
        raw.iter().map(|b| char::from(b'0' + b % 10)).collect()
    }
}

pub(crate) fn format_uuid(b: &[u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Parses a UUID in its hyphenated form (any case).
pub(crate) fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let bytes = s.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut nibbles = Vec::with_capacity(32);
    for (i, c) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if *c != b'-' {
                return None;
            }
            continue;
        }
        nibbles.push(char::from(*c).to_digit(16)?);
    }
    for (i, pair) in nibbles.chunks(2).enumerate() {
        out[i] = u8::try_from(pair[0] * 16 + pair[1]).ok()?;
    }
    Some(out)
}

/// RFC 3339 in UTC with milliseconds, as GoTrue's JSON times look (`2024-01-01T00:00:00.000Z`).
pub(crate) fn rfc3339(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Decodes `%XX` escapes and `+` (as a space) in a query component. Invalid escapes are kept.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `a=1&b=2` into decoded pairs.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4_and_round_trip() {
        let r = Rng::new();
        let a = r.uuid();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, r.uuid());
        assert_eq!(format_uuid(&parse_uuid(&a).unwrap()), a);
        assert!(parse_uuid("not-a-uuid").is_none());
        assert!(parse_uuid("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz").is_none());
    }

    #[test]
    fn tokens_have_their_alphabet() {
        let r = Rng::new();
        let t = r.alphanumeric(12);
        assert_eq!(t.len(), 12);
        assert!(t.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert!(r.digits(6).bytes().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_704_067_200_123), "2024-01-01T00:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn query_decoding() {
        assert_eq!(
            parse_query("grant_type=refresh_token&x=a%20b+c&bad=%zz&flag"),
            vec![
                ("grant_type".into(), "refresh_token".into()),
                ("x".into(), "a b c".into()),
                ("bad".into(), "%zz".into()),
                ("flag".into(), String::new())
            ]
        );
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%41"), "A");
    }
}
