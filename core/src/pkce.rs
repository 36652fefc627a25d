//! PKCE: a verifier made from entropy the shell supplies, and its S256 challenge.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Bytes of entropy a verifier is made from (43 base64url characters, RFC 7636's minimum).
pub const VERIFIER_ENTROPY_BYTES: usize = 32;

/// A verifier and its challenge.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    /// The secret the code exchange sends.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`, sent when the flow starts.
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce").field("challenge", &self.challenge).finish_non_exhaustive()
    }
}

/// Why entropy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PKCE needs at least {VERIFIER_ENTROPY_BYTES} bytes of entropy, got {0}")]
pub struct NotEnoughEntropy(pub usize);

/// Makes a verifier from `entropy` (at least 32 random bytes from the platform's CSPRNG).
pub fn from_entropy(entropy: &[u8]) -> Result<Pkce, NotEnoughEntropy> {
    if entropy.len() < VERIFIER_ENTROPY_BYTES {
        return Err(NotEnoughEntropy(entropy.len()));
    }
    let verifier = URL_SAFE_NO_PAD.encode(&entropy[..VERIFIER_ENTROPY_BYTES]);
    let challenge = challenge_s256(&verifier);
    Ok(Pkce { verifier, challenge })
}

/// The S256 challenge of a verifier.
pub fn challenge_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(
            challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_from_entropy() {
        let p = from_entropy(&[7u8; 40]).unwrap();
        assert_eq!(p.verifier.len(), 43);
        assert_eq!(p.challenge, challenge_s256(&p.verifier));
        assert_eq!(from_entropy(&[0u8; 8]), Err(NotEnoughEntropy(8)));
        assert!(!format!("{p:?}").contains(&p.verifier));
    }
}
