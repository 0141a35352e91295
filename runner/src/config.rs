//! Configuration from the environment: which secrets are set, the dev
//! fallbacks used when they are not, and the refusal of those fallbacks when
//! `PERSONA_ENV=production`. Checked when the configuration is loaded, so a
//! production process with a missing secret never starts.

use std::fmt;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use catalog::SeedSecret;
use registry::crypto::{KeyEncryptionKey, Keyring};

/// The internal API key used when `MANA_SERVICE_KEY` is unset (development only).
pub const DEV_SERVICE_KEY: &str = "dev-service-key-rotate-in-prod";
/// The admin account's email when `MANA_ADMIN_EMAIL` is unset.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@mana.test";
/// The id of the development key-encryption key.
const DEV_KEK_ID: &str = "dev";
/// The default MCP/HTTP address of the gateway.
pub const DEFAULT_GATEWAY_ADDR: &str = "127.0.0.1:3069";
/// The default address of the runner's control API.
pub const DEFAULT_CONTROL_ADDR: &str = "127.0.0.1:3070";

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether `PERSONA_ENV=production`.
pub fn production() -> anyhow::Result<bool> {
    match var("PERSONA_ENV").as_deref() {
        None | Some("development") | Some("dev") | Some("test") => Ok(false),
        Some("production") => Ok(true),
        Some(other) => bail!("PERSONA_ENV={other:?} is not valid; use production or development"),
    }
}

/// The secrets every part of the system shares.
pub struct Secrets {
    pub production: bool,
    pub seed_secret: SeedSecret,
    pub service_key: String,
    pub keyring: Keyring,
    pub admin_email: String,
    pub admin_password: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("production", &self.production)
            .field("admin_email", &self.admin_email)
            .finish_non_exhaustive()
    }
}

impl Secrets {
    pub fn from_env() -> anyhow::Result<Secrets> {
        let production = production()?;
        let seed_secret = match var("PERSONA_SEED_SECRET") {
            Some(secret) => SeedSecret::new(secret, production)?,
            None if production => {
                bail!("PERSONA_SEED_SECRET must be set when PERSONA_ENV=production")
            }
            None => SeedSecret::dev_fallback(),
        };
        let service_key = match var("MANA_SERVICE_KEY") {
            Some(key) if production && key == DEV_SERVICE_KEY => {
                bail!(
                    "MANA_SERVICE_KEY is the public development value; set a random one for production"
                )
            }
            Some(key) => key,
            None if production => bail!("MANA_SERVICE_KEY must be set when PERSONA_ENV=production"),
            None => DEV_SERVICE_KEY.to_owned(),
        };
        let keyring = keyring(production)?;
        let admin_email = var("MANA_ADMIN_EMAIL").unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_owned());
        let admin_password = match var("MANA_ADMIN_PASSWORD") {
            Some(password) => password,
            None if production => {
                bail!("MANA_ADMIN_PASSWORD must be set when PERSONA_ENV=production")
            }
            // In development the admin password is derived like a persona's,
            // so `persona seed` can log in on a fresh database unaided.
            None => catalog::derive_password(&seed_secret, &admin_email),
        };
        Ok(Secrets {
            production,
            seed_secret,
            service_key,
            keyring,
            admin_email,
            admin_password,
        })
    }
}

/// `MANA_KEK` (base64, 32 bytes) with id `MANA_KEK_ID`, plus retired keys in
/// `MANA_KEK_PREVIOUS` (`id=base64,id=base64`) that still unwrap old keys.
fn keyring(production: bool) -> anyhow::Result<Keyring> {
    let parse = |name: &str, id: &str, encoded: &str| -> anyhow::Result<KeyEncryptionKey> {
        let bytes = STANDARD.decode(encoded).with_context(|| {
            format!("{name} is not base64; generate one with `openssl rand -base64 32`")
        })?;
        KeyEncryptionKey::new(id, &bytes).with_context(|| {
            format!("{name} must decode to 32 bytes; generate one with `openssl rand -base64 32`")
        })
    };
    let current = match var("MANA_KEK") {
        Some(encoded) => parse(
            "MANA_KEK",
            &var("MANA_KEK_ID").unwrap_or_else(|| "kek-1".into()),
            &encoded,
        )?,
        None if production => {
            bail!("MANA_KEK must be set when PERSONA_ENV=production (base64 of 32 random bytes)")
        }
        None => KeyEncryptionKey::new(DEV_KEK_ID, &dev_kek())?,
    };
    let mut previous = Vec::new();
    for entry in var("MANA_KEK_PREVIOUS")
        .iter()
        .flat_map(|list| list.split(','))
    {
        let (id, encoded) = entry
            .split_once('=')
            .with_context(|| format!("MANA_KEK_PREVIOUS entry {entry:?} must be id=base64"))?;
        previous.push(parse("MANA_KEK_PREVIOUS", id.trim(), encoded.trim())?);
    }
    Ok(Keyring::new(current, previous))
}

/// A fixed development key: public, so refused in production.
fn dev_kek() -> [u8; 32] {
    let mut key = [0u8; 32];
    for (index, byte) in b"dev-kek-rotate-in-prod-0123456789"
        .iter()
        .take(32)
        .enumerate()
    {
        key[index] = *byte;
    }
    key
}
