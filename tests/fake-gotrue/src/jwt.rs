//! HS256 JWTs: signing the access tokens the fake issues, and verifying bearer tokens the way
//! GoTrue does (golang-jwt v5), with the same error texts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs `claims` with HS256.
pub(crate) fn sign(secret: &[u8], claims: &Value) -> String {
    sign_raw(secret, &claims.to_string())
}

/// Signs a payload given as JSON text (keeps its key order).
pub(crate) fn sign_raw(secret: &[u8], payload_json: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(payload_json);
    let signing_input = format!("{header}.{payload}");
    let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(secret, signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // new_from_slice accepts keys of any length for HMAC.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cold]
fn unreachable_hmac() -> ! {
    panic!("HMAC accepts keys of any length")
}

/// Why a bearer token was refused. `Display` is the text golang-jwt v5 gives, which GoTrue puts
/// after "invalid JWT: unable to parse or verify signature, ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwtError {
    /// Not a JWT at all.
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    /// Not HS256 (GoTrue would look for a key by `kid` and find none).
    #[error("token is unverifiable: error while executing keyfunc: unrecognized JWT kid <nil> for algorithm {0}")]
    Algorithm(String),
    /// Signed with another secret, or altered.
    #[error("token signature is invalid: signature is invalid")]
    Signature,
    /// `exp` is in the past.
    #[error("token has invalid claims: token is expired")]
    Expired,
    /// `exp` is not a number.
    #[error("token has invalid claims: invalid type for claim")]
    BadExp,
}

/// Verifies `token` (HS256, signature, `exp` against `now_ms`) and returns its claims.
pub(crate) fn verify(secret: &[u8], token: &str, now_ms: i64) -> Result<Map<String, Value>, JwtError> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(JwtError::Malformed("token contains an invalid number of segments"));
    }
    let header = URL_SAFE_NO_PAD.decode(parts[0]).map_err(|_| JwtError::Malformed("could not base64 decode header"))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header).map_err(|_| JwtError::Malformed("could not JSON decode header"))?;
    let claims = URL_SAFE_NO_PAD.decode(parts[1]).map_err(|_| JwtError::Malformed("could not base64 decode claim"))?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&claims).map_err(|_| JwtError::Malformed("could not JSON decode claim"))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg != "HS256" {
        return Err(JwtError::Algorithm(alg.to_owned()));
    }
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).map_err(|_| JwtError::Malformed("could not base64 decode signature"))?;
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    mac.update(parts[0].as_bytes());
    mac.update(b".");
    mac.update(parts[1].as_bytes());
    mac.verify_slice(&sig).map_err(|_| JwtError::Signature)?;
    match claims.get("exp") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) => {
            let exp_ms = n.as_f64().map(|e| e * 1000.0).ok_or(JwtError::BadExp)?;
            // golang-jwt: valid while now is before exp (no leeway in GoTrue).
            if (now_ms as f64) >= exp_ms {
                return Err(JwtError::Expired);
            }
        }
        Some(_) => return Err(JwtError::BadExp),
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sign_then_verify() {
        let t = sign(b"secret", &json!({"sub": "u", "exp": 2000}));
        let c = verify(b"secret", &t, 1_999_999).unwrap();
        assert_eq!(c["sub"], "u");
        assert_eq!(verify(b"secret", &t, 2_000_000), Err(JwtError::Expired));
        assert_eq!(verify(b"other", &t, 0), Err(JwtError::Signature));
    }

    #[test]
    fn malformed_tokens_are_refused_with_jwt_texts() {
        assert!(matches!(verify(b"s", "abc", 0), Err(JwtError::Malformed(_))));
        assert!(matches!(verify(b"s", "a.b.c", 0), Err(JwtError::Malformed(_))));
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode("{}"));
        assert_eq!(verify(b"s", &none, 0), Err(JwtError::Algorithm("none".into())));
        assert_eq!(JwtError::Expired.to_string(), "token has invalid claims: token is expired");
    }

    #[test]
    fn known_demo_anon_key_matches() {
        // The anon key of a local Supabase stack, signed with its default secret.
        let secret = b"super-secret-jwt-token-with-at-least-32-characters-long";
        let t = sign_raw(secret, r#"{"iss":"supabase-demo","role":"anon","exp":1983812996}"#);
        assert_eq!(
            t,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
        );
        assert_eq!(verify(secret, &t, 0).unwrap()["role"], "anon");
    }
}
