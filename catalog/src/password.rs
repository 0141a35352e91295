//! The deterministic persona password.
//!
//! `HMAC-SHA256(secret, email)` → standard base64 → keep only `[A-Za-z0-9]` →
//! the first 32 characters. The email is used exactly as given (no case
//! folding), matching the original TypeScript implementation bit for bit; the
//! vectors in the tests come from it. Seeding and the runner both call
//! [`derive_password`], so no per-persona credential is ever stored.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The secret used when none is configured. It is public (it is in this file),
/// so [`SeedSecret::new`] refuses it in production.
pub const DEV_FALLBACK_SEED_SECRET: &str = "dev-persona-seed-secret-rotate-in-prod";

/// Length of every derived password.
pub const PASSWORD_LEN: usize = 32;

/// The `PERSONA_SEED_SECRET`. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct SeedSecret(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedSecretError {
    #[error("PERSONA_SEED_SECRET is empty; set it to a long random string")]
    Empty,
    #[error(
        "PERSONA_SEED_SECRET is the public development fallback, which is refused when \
         PERSONA_ENV=production; set it to a long random string shared by seeding and the runner"
    )]
    DevFallbackInProduction,
}

impl SeedSecret {
    /// Accepts `secret`, refusing an empty one and, in production, the dev fallback.
    pub fn new(secret: impl Into<String>, production: bool) -> Result<SeedSecret, SeedSecretError> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(SeedSecretError::Empty);
        }
        if production && secret == DEV_FALLBACK_SEED_SECRET {
            return Err(SeedSecretError::DevFallbackInProduction);
        }
        Ok(SeedSecret(secret))
    }

    /// The development fallback; only for local runs and tests.
    pub fn dev_fallback() -> SeedSecret {
        SeedSecret(DEV_FALLBACK_SEED_SECRET.to_owned())
    }

    pub fn is_dev_fallback(&self) -> bool {
        self.0 == DEV_FALLBACK_SEED_SECRET
    }
}

impl fmt::Debug for SeedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeedSecret(<redacted>)")
    }
}

/// Derives the login password of the persona with this email.
pub fn derive_password(secret: &SeedSecret, email: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.0.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts keys of every length"));
    mac.update(email.as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    encoded
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(PASSWORD_LEN)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copied from `shared/vectors/interop.json` (node:crypto HMAC-SHA256).
    const VECTORS: &[(&str, &str, &str)] = &[
        (
            "dev-persona-seed-secret-rotate-in-prod",
            "persona.anna@mana.test",
            "1FJ7w8KbjK5CWVa8NqfobexAFNuQKxiA",
        ),
        (
            "dev-persona-seed-secret-rotate-in-prod",
            "persona.maya@mana.test",
            "cGqE8D7hwpIKvyjBql7vJAXAvbBlepEZ",
        ),
        (
            "dev-persona-seed-secret-rotate-in-prod",
            "Persona.Ben@Mana.Test",
            "pS9iOj42zrek3xBe1ECdVUy1oesrfbMW",
        ),
        (
            "dev-persona-seed-secret-rotate-in-prod",
            "x@mana.test",
            "0YLinuaCMaYBqr2mEEpyc0jWRO3YatjE",
        ),
        (
            "prod-0f3c9a",
            "persona.anna@mana.test",
            "8hCO6bdR9h9g1Z6lqhg0PBaQ6cq2K6RH",
        ),
        (
            "prod-0f3c9a",
            "persona.maya@mana.test",
            "hvkaaRNRvBGBAS7xEUJzZm4fETK1waI1",
        ),
        (
            "prod-0f3c9a",
            "Persona.Ben@Mana.Test",
            "HhMtMfPTDnUx1SQdJHE8dAvDc3MG4EUm",
        ),
        (
            "prod-0f3c9a",
            "x@mana.test",
            "IFai001g708xlPQeGQBb9gRD0n9Nv50V",
        ),
        (
            "ключ-🔑",
            "persona.anna@mana.test",
            "ut8z2RMz09z96AgcXwKr3azFWnBfIUsT",
        ),
        (
            "ключ-🔑",
            "persona.maya@mana.test",
            "7D9HsNBDJwLrla86XYijre9b67rZqoXh",
        ),
        (
            "ключ-🔑",
            "Persona.Ben@Mana.Test",
            "dW8WSG7G2CsVBISh9GcP4ry57pyxVDfd",
        ),
        ("ключ-🔑", "x@mana.test", "GlFuafGoaggqH81AMTEtfDLhNhE7YaBZ"),
    ];

    #[test]
    fn matches_every_interop_vector() {
        for (secret, email, expected) in VECTORS {
            let secret = SeedSecret::new(*secret, false).unwrap();
            assert_eq!(
                derive_password(&secret, email),
                *expected,
                "secret {secret:?}, email {email}"
            );
        }
    }

    #[test]
    fn matches_the_shared_vector_file_when_present() {
        // The file sits beside the repository in the development layout; a
        // copy of its values is kept above so the test also runs without it.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/interop.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let vectors = file["persona_password"].as_array().unwrap();
        assert!(!vectors.is_empty());
        for vector in vectors {
            let secret = SeedSecret::new(vector["secret"].as_str().unwrap(), false).unwrap();
            let email = vector["email"].as_str().unwrap();
            assert_eq!(
                derive_password(&secret, email),
                vector["password"].as_str().unwrap()
            );
        }
    }

    #[test]
    fn dev_fallback_is_refused_only_in_production() {
        assert_eq!(
            SeedSecret::new(DEV_FALLBACK_SEED_SECRET, true).unwrap_err(),
            SeedSecretError::DevFallbackInProduction
        );
        assert!(
            SeedSecret::new(DEV_FALLBACK_SEED_SECRET, false)
                .unwrap()
                .is_dev_fallback()
        );
        assert!(SeedSecret::new("a-real-secret", true).is_ok());
        assert_eq!(
            SeedSecret::new("", false).unwrap_err(),
            SeedSecretError::Empty
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SeedSecret::new("super-secret-value", false).unwrap();
        assert!(!format!("{secret:?}").contains("super-secret-value"));
    }
}
