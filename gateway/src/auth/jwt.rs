//! JWTs signed with Ed25519 (EdDSA). The signing key is created on first
//! start and stored in the database sealed by the server's key-encryption
//! key, so tokens stay valid across restarts and replicas share one key.
//! `aud`, `iss` and `exp` are checked on every token: the signature, audience
//! and issuer once per token ([`super::verified`]), the expiry on every use.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use registry::crypto::{Keyring, MasterKey, WrappedMasterKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::verified::VerifiedTokens;
use crate::store::{SigningKeyRow, Store, User};

/// The audience every token is issued for and checked against.
pub const AUDIENCE: &str = "mana";
/// The issuer every token names.
pub const ISSUER: &str = "mana-gateway";
/// Seconds of clock skew allowed on `exp`.
const LEEWAY_SECS: i64 = 5;
/// Verified tokens remembered at most (a few hundred bytes each).
const VERIFIED_TOKENS: usize = 16_384;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub email: String,
    /// `human`, `persona` or `system`.
    pub kind: String,
    /// `user` or `admin`.
    pub role: String,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the token is invalid: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the signing key could not be created or loaded: {0}")]
    Key(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub struct JwtKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_key: [u8; 32],
    validation: Validation,
    token_ttl: Duration,
    verified: VerifiedTokens,
}

impl JwtKeys {
    /// Loads the newest signing key, creating one on a fresh database.
    pub async fn load_or_create(
        store: &Store,
        keyring: &Keyring,
        token_ttl: Duration,
    ) -> Result<JwtKeys, JwtError> {
        let row = match store.latest_signing_key().await? {
            Some(row) => row,
            None => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|error| JwtError::Key(error.to_string()))?;
                let signing = SigningKey::from_bytes(&seed);
                // The 32-byte Ed25519 seed is sealed like a master key.
                let sealed = keyring
                    .wrap(
                        &MasterKey::from_bytes(&seed)
                            .map_err(|error| JwtError::Key(error.to_string()))?,
                    )
                    .map_err(|error| JwtError::Key(error.to_string()))?;
                let row = SigningKeyRow {
                    kid: uuid::Uuid::now_v7().to_string(),
                    algorithm: "EdDSA".into(),
                    sealed_private_key: sealed.sealed,
                    kek_id: sealed.kek_id,
                    public_key: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
                    created_at: crate::store::now(),
                };
                // Another replica may have won the race; use whichever is newest.
                store.insert_signing_key(&row).await?;
                store.latest_signing_key().await?.unwrap_or(row)
            }
        };
        let seed = keyring
            .unwrap_key(&WrappedMasterKey {
                kek_id: row.kek_id.clone(),
                sealed: row.sealed_private_key.clone(),
            })
            .map_err(|error| JwtError::Key(format!("signing key {}: {error}", row.kid)))?;
        let signing = SigningKey::from_bytes(seed.bytes());
        let der = signing
            .to_pkcs8_der()
            .map_err(|error| JwtError::Key(error.to_string()))?;
        let public_key = signing.verifying_key().to_bytes();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = LEEWAY_SECS as u64;
        Ok(JwtKeys {
            kid: row.kid,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_der(&public_key),
            public_key,
            validation,
            token_ttl,
            verified: VerifiedTokens::new(VERIFIED_TOKENS),
        })
    }

    /// Signs a token for `user`; returns it with its expiry.
    pub fn issue(&self, user: &User) -> Result<(String, DateTime<Utc>), JwtError> {
        let now = Utc::now();
        let expires_at = now + self.token_ttl;
        let claims = Claims {
            sub: user.id.clone(),
            email: user.email.clone(),
            kind: user.kind.to_string(),
            role: user.role.as_str().to_owned(),
            aud: AUDIENCE.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        Ok((self.sign(&claims)?, expires_at))
    }

    /// Signs arbitrary claims with the current key (tests craft expired or
    /// foreign-audience tokens with it).
    pub fn sign(&self, claims: &Claims) -> Result<String, JwtError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// Checks signature, audience, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        self.verify_at(token, Utc::now().timestamp())
    }

    /// [`Self::verify`] with the expiry judged at `now` (Unix seconds) for a
    /// token verified before; a new token is checked in full against the
    /// system clock.
    pub fn verify_at(&self, token: &str, now: i64) -> Result<Claims, JwtError> {
        if let Some(claims) = self.verified.get(token) {
            // The same rule jsonwebtoken applies to a new token.
            if claims.exp < now - LEEWAY_SECS {
                return Err(JwtError::Invalid(
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature.into(),
                ));
            }
            return Ok(claims);
        }
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
        self.verified.insert(token, claims.clone(), now);
        Ok(claims)
    }

    /// Forgets the remembered tokens of user `sub` (the user was deleted);
    /// they would be verified, and refused, afresh.
    pub fn forget_user(&self, sub: &str) {
        self.verified.forget_user(sub);
    }

    /// The public keys as a JWK set.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public_key),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }] })
    }
}
