//! `persona cleanup`: deletes every persona the gateway has.

use std::process::ExitCode;

use catalog::{Catalog, LoadOptions};

use crate::admin_api::AdminApi;
use crate::config::{DEFAULT_GATEWAY_ADDR, Secrets};

/// Delete every persona (and, with it, its data and audit rows).
///
/// Warns about live personas the built-in catalog does not list. Only users
/// of kind persona can be deleted this way. Exit codes: 0 done, 1 some
/// deletions failed, 2 the gateway is unusable.
#[derive(Debug, clap::Args)]
pub struct Cleanup {
    /// The gateway's base URL.
    #[arg(long, env = "MANA_API_URL", default_value_t = format!("http://{DEFAULT_GATEWAY_ADDR}"))]
    api: String,
    /// An admin JWT to use instead of logging in.
    #[arg(long, env = "MANA_ADMIN_JWT", hide_env_values = true)]
    jwt: Option<String>,
}

impl Cleanup {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let secrets = Secrets::from_env()?;
        let catalog = Catalog::shipped(LoadOptions::default())?;
        let api = match self.jwt {
            Some(token) => AdminApi::with_token(&self.api, token)?,
            None => {
                AdminApi::login(&self.api, &secrets.admin_email, &secrets.admin_password).await?
            }
        };
        let live = api.list_personas().await?;
        let mut failures = 0;
        for persona in &live {
            if catalog.find_by_email(&persona.email).is_none() {
                eprintln!(
                    "warning: {} ({}) is live but not in the catalog; deleting it too",
                    persona.email, persona.name
                );
            }
            match api.delete_persona(&persona.id).await {
                Ok(()) => println!("deleted {:<30} {}", persona.email, persona.name),
                Err(error) => {
                    eprintln!("failed  {:<30} {error:#}", persona.email);
                    failures += 1;
                }
            }
        }
        println!(
            "{} personas deleted, {failures} failed",
            live.len() - failures
        );
        Ok(if failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}
