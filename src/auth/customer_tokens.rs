//! Customer tokens: what the support widget holds. A token lets one customer (a distinct
//! id of one team) read their own tickets and write their own messages, until it expires.
//!
//! Format (stable; a team's backend may mint tokens itself with the shared secret):
//!
//! ```text
//! tgc_<payload>.<signature>
//! payload   = base64url(JSON {"v":1,"team":"<team uuid>","sub":"<distinct id>","exp":<unix s>})
//! signature = base64url(HMAC-SHA256(secret, "tgc_" + payload))      (no padding)
//! ```
//!
//! The secret is `TICKETGATE_TOKEN_SECRET` (at least 32 bytes), the same on every replica.
//!
//! The subject (`sub`) is a distinct id, 1 to 400 characters without NUL: what the
//! database can store (a `text` column, `CHECK (length BETWEEN 1 AND 400)`). A subject
//! outside that is refused when issued and, as a malformed token, when presented: a
//! backend minting by itself can sign anything, and such a subject would otherwise reach
//! PostgreSQL, which refuses it, and come back as an internal error.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

pub const TOKEN_PREFIX: &str = "tgc_";
pub const MIN_SECRET_BYTES: usize = 32;
/// The longest a token may live: a widget session, not a password.
pub const MAX_TTL_SECONDS: i64 = 30 * 24 * 3600;
/// The longest subject: the database's limit on a distinct id.
pub const MAX_SUBJECT_CHARS: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub v: u8,
    pub team: Uuid,
    pub sub: String,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad signature")]
    BadSignature,
    #[error("expired token")]
    Expired,
    #[error("the distinct id {0}")]
    InvalidSubject(&'static str),
}

/// Why a token may not carry `sub`, if it may not.
pub fn subject_problem(sub: &str) -> Option<&'static str> {
    if sub.is_empty() {
        return Some("must not be empty");
    }
    // PostgreSQL text cannot hold NUL: the only character a UTF-8 database refuses.
    if sub.contains('\0') {
        return Some("must not contain NUL characters");
    }
    if sub.chars().count() > MAX_SUBJECT_CHARS {
        return Some("must be at most 400 characters");
    }
    None
}

/// The server's signing key.
#[derive(Clone)]
pub struct TokenSecret(Vec<u8>);

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(…)")
    }
}

impl TokenSecret {
    /// `None` for a secret too short to be safe.
    pub fn new(secret: &[u8]) -> Option<TokenSecret> {
        (secret.len() >= MIN_SECRET_BYTES).then(|| TokenSecret(secret.to_vec()))
    }

    fn mac(&self, signed: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(signed);
        mac
    }

    /// A token for `distinct_id`, unless the subject is one `verify` would refuse: what
    /// the CLI and the API mint with.
    pub fn issue(
        &self,
        team: Uuid,
        distinct_id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        if let Some(problem) = subject_problem(distinct_id) {
            return Err(TokenError::InvalidSubject(problem));
        }
        Ok(self.mint(team, distinct_id, expires_at))
    }

    /// Signs whatever it is given, as a team's backend may: the tests forge tokens with
    /// it. Issue real tokens with `issue`.
    pub fn mint(&self, team: Uuid, distinct_id: &str, expires_at: DateTime<Utc>) -> String {
        let claims = Claims {
            v: 1,
            team,
            sub: distinct_id.to_string(),
            exp: expires_at.timestamp(),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signed = format!("{TOKEN_PREFIX}{payload}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(signed.as_bytes()).finalize().into_bytes());
        format!("{signed}.{signature}")
    }

    /// The claims of a genuine, unexpired token. The signature is checked (in constant
    /// time) before anything in the payload is trusted.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let payload = signed
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        self.mac(signed.as_bytes())
            .verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.v != 1 || subject_problem(&claims.sub).is_some() {
            return Err(TokenError::Malformed);
        }
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn secret() -> TokenSecret {
        TokenSecret::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn tokens_verify_until_they_expire() {
        let now = Utc::now();
        let team = Uuid::now_v7();
        let token = secret().mint(team, "visitor-1", now + Duration::minutes(5));
        assert!(token.starts_with("tgc_"));
        let claims = secret().verify(&token, now).unwrap();
        assert_eq!((claims.team, claims.sub.as_str()), (team, "visitor-1"));
        assert_eq!(
            secret().verify(&token, now + Duration::minutes(6)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let now = Utc::now();
        let token = secret().mint(Uuid::now_v7(), "visitor-1", now + Duration::minutes(5));
        let other = TokenSecret::new(&[8u8; 32]).unwrap();
        assert_eq!(other.verify(&token, now), Err(TokenError::BadSignature));
        // Another subject with the original signature.
        let (_, signature) = token.rsplit_once('.').unwrap();
        let forged_claims = Claims {
            v: 1,
            team: Uuid::now_v7(),
            sub: "visitor-2".into(),
            exp: i64::MAX,
        };
        let forged = format!(
            "tgc_{}.{signature}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap())
        );
        assert_eq!(secret().verify(&forged, now), Err(TokenError::BadSignature));
        for junk in [
            "",
            "tgc_",
            "tgc_.",
            "tgc_abc",
            "tg_x.y",
            "tgc_a.b.c",
            &token[..token.len() - 2],
        ] {
            assert!(secret().verify(junk, now).is_err(), "{junk}");
        }
        assert!(TokenSecret::new(b"short").is_none());
    }

    #[test]
    fn subjects_the_database_cannot_store_are_refused_both_ways() {
        let now = Utc::now();
        let later = now + Duration::minutes(5);
        let long = "x".repeat(MAX_SUBJECT_CHARS + 1);
        for sub in ["", "ali\0ce", "\0", long.as_str()] {
            assert!(
                matches!(
                    secret().issue(Uuid::now_v7(), sub, later),
                    Err(TokenError::InvalidSubject(_))
                ),
                "{sub:?}"
            );
            let signed_anyway = secret().mint(Uuid::now_v7(), sub, later);
            assert_eq!(
                secret().verify(&signed_anyway, now),
                Err(TokenError::Malformed),
                "{sub:?}"
            );
        }
        let longest = "é".repeat(MAX_SUBJECT_CHARS);
        let token = secret().issue(Uuid::now_v7(), &longest, later).unwrap();
        assert_eq!(secret().verify(&token, now).unwrap().sub, longest);
    }
}
