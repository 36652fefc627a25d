//! How much the core reads: the size and nesting of every value it keeps or hands on.
//!
//! Stored values, server answers and tokens come from places the app does not control (another
//! process, a restored backup, a proxy, a captive portal). Without bounds, a `user_metadata` nested
//! 200 000 levels deep would be kept as the user's text and handed to apps whose own JSON parsers
//! recurse, and overflow their stack, on it. Each limit is far above anything GoTrue sends; what
//! exceeds one is refused with a [`LimitError`] that says which limit, before it is parsed
//! (docs/policy.md, "Limits"). A refused answer is `invalid_response` and never removes a session.

/// The largest answer body the core parses (a token answer, a `/user` answer, an error body).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The largest stored session value the core parses. Eight times [`MAX_ANSWER_BYTES`]: the stored
/// form of a session the core accepted is never refused when read back, even when the answer spelt
/// numbers tersely and they are written longer (`1E15` is written `1000000000000000.0`).
pub const MAX_STORED_BYTES: usize = 8 << 20;

/// The largest user object the core keeps or hands on (from an answer or from storage).
pub const MAX_USER_BYTES: usize = MAX_ANSWER_BYTES;

/// The deepest nesting of a value the core keeps or hands on, the value itself being level 1: a
/// user object (whose `user_metadata` is level 2), or any other field of a session. A session
/// object (a token answer, a stored value) may nest one level more, since its fields sit inside it.
pub const MAX_DEPTH: usize = 32;

/// The longest access token or refresh token the core accepts (and the longest stored PKCE
/// verifier it reads).
pub const MAX_TOKEN_BYTES: usize = 16 << 10;

/// The most headers an answer may carry.
pub const MAX_HEADERS: usize = 100;

/// The longest header an answer may carry, name and value together.
pub const MAX_HEADER_BYTES: usize = 8 << 10;

/// A value refused for exceeding a limit. The message names the value and the limit, never the
/// content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Larger than its size limit.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        /// What was too large ("the answer", "the stored value", "access_token", ...).
        what: &'static str,
        /// The limit, in bytes.
        limit: usize,
    },
    /// Nested deeper than its limit.
    #[error("{what} is nested deeper than {limit} levels")]
    TooDeep {
        /// What was too deep.
        what: &'static str,
        /// The limit, in levels.
        limit: usize,
    },
    /// More headers than [`MAX_HEADERS`].
    #[error("the answer has more than {limit} headers")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
}

/// What a JSON text must stay within: the limits above, one set per kind of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Names the text in the error.
    pub what: &'static str,
    /// Its largest size in bytes.
    pub max_bytes: usize,
    /// Its deepest nesting, the text's own value being level 1.
    pub max_depth: usize,
}

impl JsonLimits {
    /// A token answer.
    pub const TOKEN_ANSWER: JsonLimits =
        JsonLimits { what: "the answer", max_bytes: MAX_ANSWER_BYTES, max_depth: MAX_DEPTH + 1 };
    /// A `/user` answer.
    pub const USER_ANSWER: JsonLimits =
        JsonLimits { what: "the answer", max_bytes: MAX_ANSWER_BYTES, max_depth: MAX_DEPTH };
    /// A GoTrue error body (only its top-level fields are read).
    pub const ERROR_BODY: JsonLimits =
        JsonLimits { what: "the answer", max_bytes: MAX_ANSWER_BYTES, max_depth: MAX_DEPTH + 1 };
    /// A stored session.
    pub const STORED_SESSION: JsonLimits =
        JsonLimits { what: "the stored value", max_bytes: MAX_STORED_BYTES, max_depth: MAX_DEPTH + 1 };
    /// A user object on its own (from a binding, or written apart by an app).
    pub const USER: JsonLimits =
        JsonLimits { what: "the user object", max_bytes: MAX_USER_BYTES, max_depth: MAX_DEPTH };

    /// Checks `text` against the limits. Only the brackets outside strings are counted: this
    /// bounds the text before a parser sees it, the parser then checks that it is JSON.
    pub fn check(self, text: &[u8]) -> Result<(), LimitError> {
        if text.len() > self.max_bytes {
            return Err(LimitError::TooLarge { what: self.what, limit: self.max_bytes });
        }
        if nesting_exceeds(text, self.max_depth) {
            return Err(LimitError::TooDeep { what: self.what, limit: self.max_depth });
        }
        Ok(())
    }
}

/// Whether the arrays and objects in `text` nest deeper than `max` (a linear scan, no recursion).
/// Strings, most of a session's bytes (its tokens), are skipped to their closing quote with
/// `memchr`; only the bytes between them are looked at one by one.
fn nesting_exceeds(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&b) = text.get(at) {
        match b {
            b'"' => match string_end(text, at + 1) {
                Some(end) => at = end,
                // An unterminated string: no JSON at all, which the parser says.
                None => return false,
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    false
}

/// Where the string whose text starts at `from` ends: the offset of its closing quote.
fn string_end(text: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let found = from + memchr::memchr2(b'"', b'\\', text.get(from..)?)?;
        if text[found] == b'"' {
            return Some(found);
        }
        // A backslash escapes the byte after it (a quote, a backslash, the `u` of `\u0022`).
        from = found + 2;
    }
}

/// Checks a token's length; `what` names it in the error.
pub(crate) fn check_token(what: &'static str, token: &str) -> Result<(), LimitError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(LimitError::TooLarge { what, limit: MAX_TOKEN_BYTES });
    }
    Ok(())
}

/// Checks an answer's headers: how many, and how long each is.
pub(crate) fn check_headers(headers: &[(String, String)]) -> Result<(), LimitError> {
    if headers.len() > MAX_HEADERS {
        return Err(LimitError::TooManyHeaders { limit: MAX_HEADERS });
    }
    if headers.iter().any(|(name, value)| name.len() + value.len() > MAX_HEADER_BYTES) {
        return Err(LimitError::TooLarge { what: "a header", limit: MAX_HEADER_BYTES });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        let limits = JsonLimits { what: "x", max_bytes: 1 << 20, max_depth: 3 };
        assert_eq!(limits.check(nested(3).as_bytes()), Ok(()));
        assert_eq!(limits.check(nested(4).as_bytes()), Err(LimitError::TooDeep { what: "x", limit: 3 }));
        // Brackets inside strings, escaped quotes included, are text.
        assert_eq!(limits.check(br#"{"a":"[[[[[[\"[[[[","b":[{}]}"#), Ok(()));
        assert_eq!(limits.check(br#"{"a":"\\","b":[[{}]]}"#), Err(LimitError::TooDeep { what: "x", limit: 3 }));
        // An unterminated string (a trailing backslash too) is for the parser to refuse.
        assert_eq!(limits.check(br#"["[[[[[[\"#), Ok(()));
        // Closing brackets that were never opened do not buy depth.
        assert!(limits.check(format!("]]]]]{}", nested(4)).as_bytes()).is_err());
    }

    #[test]
    fn size_is_checked_first_and_named() {
        let limits = JsonLimits { what: "the answer", max_bytes: 4, max_depth: 1 };
        let e = limits.check(b"[[[[[").unwrap_err();
        assert_eq!(e.to_string(), "the answer is larger than 4 bytes");
        assert_eq!(
            JsonLimits::USER.check(nested(33).as_bytes()).unwrap_err().to_string(),
            "the user object is nested deeper than 32 levels"
        );
    }

    #[test]
    fn tokens_and_headers() {
        assert!(check_token("access_token", &"a".repeat(MAX_TOKEN_BYTES)).is_ok());
        assert_eq!(
            check_token("access_token", &"a".repeat(MAX_TOKEN_BYTES + 1)).unwrap_err().to_string(),
            "access_token is larger than 16384 bytes"
        );
        let h = |n: usize, len: usize| vec![("x".to_owned(), "v".repeat(len)); n];
        assert!(check_headers(&h(MAX_HEADERS, MAX_HEADER_BYTES - 1)).is_ok());
        assert_eq!(check_headers(&h(MAX_HEADERS + 1, 1)), Err(LimitError::TooManyHeaders { limit: MAX_HEADERS }));
        assert!(check_headers(&h(1, MAX_HEADER_BYTES)).is_err());
    }
}
