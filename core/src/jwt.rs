//! Reading (never verifying) the claims of a JWT: the core only needs `exp`, `sub` and
//! `session_id` to make decisions; the server verifies signatures.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The claims of an access token the core looks at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Claims {
    /// Expiry, Unix seconds.
    pub exp: Option<i64>,
    /// The user id.
    pub sub: Option<String>,
    /// The server-side session id.
    pub session_id: Option<String>,
    /// A free-form tag (used by test tokens to name a session).
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

/// Why a string is not a JWT the core can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three dot-separated parts.
    #[error("a JWT has three dot-separated parts")]
    Shape,
    /// The payload is not base64url.
    #[error("the JWT payload is not base64url")]
    Base64,
    /// The payload is not a JSON object of claims.
    #[error("the JWT payload is not a JSON claims object")]
    Json,
    /// The token is longer than [`crate::limits::MAX_TOKEN_BYTES`].
    #[error(transparent)]
    TooLong(#[from] crate::limits::LimitError),
}

/// The server session an access token belongs to (its `session_id` claim), when it says.
pub(crate) fn session_id_of(access_token: &str) -> Option<String> {
    decode_claims(access_token).ok().and_then(|c| c.session_id)
}

/// Decodes the payload of `token` without checking the signature.
pub fn decode_claims(token: &str) -> Result<Claims, JwtError> {
    crate::limits::check_token("the JWT", token)?;
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_sig), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Shape);
    };
    // Some issuers pad base64url; the padding carries no information.
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).map_err(|_| JwtError::Base64)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> String {
        format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn reads_claims() {
        let c = decode_claims(&token(r#"{"exp":1767229200,"sub":"u","session_id":"s","ref":"a"}"#)).unwrap();
        assert_eq!(c.exp, Some(1767229200));
        assert_eq!(c.sub.as_deref(), Some("u"));
        assert_eq!(c.session_id.as_deref(), Some("s"));
        assert_eq!(c.reference.as_deref(), Some("a"));
    }

    #[test]
    fn tolerates_padding_and_missing_claims() {
        let t = format!("h.{}==.s", URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#));
        let c = decode_claims(&t).unwrap();
        assert_eq!(c.exp, None);
    }

    #[test]
    fn rejects_malformed_tokens() {
        assert_eq!(decode_claims("not-a-jwt"), Err(JwtError::Shape));
        assert_eq!(decode_claims("a.b.c.d"), Err(JwtError::Shape));
        assert_eq!(decode_claims("a.!!!.c"), Err(JwtError::Base64));
        assert_eq!(decode_claims(&token("[1,2]")), Err(JwtError::Json));
        assert_eq!(decode_claims(&token(r#"{"exp":"soon"}"#)), Err(JwtError::Json));
        let long = token(&format!(r#"{{"sub":"{}"}}"#, "u".repeat(crate::limits::MAX_TOKEN_BYTES)));
        assert_eq!(decode_claims(&long).unwrap_err().to_string(), "the JWT is larger than 16384 bytes");
    }
}
