//! `persona seed`: creates or updates every catalog persona through the
//! gateway's admin API, then the catalog's shared spaces.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use catalog::{Catalog, LoadOptions};

use crate::admin_api::AdminApi;
use crate::config::{DEFAULT_GATEWAY_ADDR, Secrets};

/// Create or update every catalog persona, and their shared spaces.
///
/// Idempotent: a second run changes nothing and says so. Passwords are
/// derived from PERSONA_SEED_SECRET. Authenticates with --jwt / MANA_ADMIN_JWT,
/// or logs in as MANA_ADMIN_EMAIL / MANA_ADMIN_PASSWORD (the same defaults as
/// `persona gateway`). Exit codes: 0 done, 1 a persona or space failed, 2 the
/// catalog or the gateway is unusable.
#[derive(Debug, clap::Args)]
pub struct Seed {
    /// The gateway's base URL.
    #[arg(long, env = "MANA_API_URL", default_value_t = format!("http://{DEFAULT_GATEWAY_ADDR}"))]
    api: String,
    /// The catalog file; defaults to the built-in catalog.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Show what would be sent without calling the gateway.
    #[arg(long)]
    dry_run: bool,
    /// An admin JWT to use instead of logging in.
    #[arg(long, env = "MANA_ADMIN_JWT", hide_env_values = true)]
    jwt: Option<String>,
}

/// A shared space with its members, once per space however many personas list it.
pub(crate) fn shared_spaces(catalog: &Catalog) -> Vec<(String, catalog::SpaceType, Vec<String>)> {
    let mut seen = BTreeSet::new();
    let mut spaces = Vec::new();
    for persona in &catalog.personas {
        for space in &persona.shared_spaces {
            let mut members = vec![persona.email.to_lowercase(), space.partner.to_lowercase()];
            members.sort();
            if seen.insert((space.name.clone(), members.clone())) {
                spaces.push((space.name.clone(), space.space_type, members));
            }
        }
    }
    spaces
}

impl Seed {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let secrets = Secrets::from_env()?;
        let options = LoadOptions {
            known_modules: Some(registry::MODULES),
            ..LoadOptions::default()
        };
        let catalog = match &self.catalog {
            Some(path) => Catalog::from_path(path, options)?,
            None => Catalog::shipped(options)?,
        };
        for warning in &catalog.warnings {
            eprintln!("{warning}");
        }
        let spaces = shared_spaces(&catalog);
        if self.dry_run {
            for persona in &catalog.personas {
                println!(
                    "would upsert {:<30} {} ({}, {})",
                    persona.email, persona.name, persona.archetype, persona.cadence
                );
            }
            for (name, space_type, members) in &spaces {
                println!(
                    "would ensure {space_type} space {name:?} with {}",
                    members.join(" + ")
                );
            }
            println!(
                "dry run: {} personas, {} shared spaces; nothing sent to {}",
                catalog.personas.len(),
                spaces.len(),
                self.api
            );
            return Ok(ExitCode::SUCCESS);
        }
        let api = match self.jwt {
            Some(token) => AdminApi::with_token(&self.api, token)?,
            None => {
                AdminApi::login(&self.api, &secrets.admin_email, &secrets.admin_password).await?
            }
        };
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        let mut failures = 0;
        for persona in &catalog.personas {
            let password = catalog::derive_password(&secrets.seed_secret, &persona.email);
            match api.upsert_persona(persona, &password).await {
                Ok(outcome) => {
                    println!("{outcome:<9} {:<30} {}", persona.email, persona.name);
                    *counts.entry(outcome).or_default() += 1;
                }
                Err(error) => {
                    eprintln!("failed    {:<30} {error:#}", persona.email);
                    failures += 1;
                }
            }
        }
        let mut spaces_changed = 0;
        for (name, space_type, members) in &spaces {
            match api.ensure_shared_space(name, *space_type, members).await {
                Ok(outcome) => {
                    println!(
                        "{outcome:<9} {space_type} space {name:?} ({})",
                        members.join(" + ")
                    );
                    spaces_changed += usize::from(outcome != "unchanged");
                }
                Err(error) => {
                    eprintln!("failed    space {name:?}: {error:#}");
                    failures += 1;
                }
            }
        }
        let created = counts.get("created").copied().unwrap_or(0);
        let updated = counts.get("updated").copied().unwrap_or(0);
        let unchanged = counts.get("unchanged").copied().unwrap_or(0);
        println!(
            "{} personas: {created} created, {updated} updated, {unchanged} unchanged; {} shared spaces, {spaces_changed} changed",
            catalog.personas.len(),
            spaces.len()
        );
        if failures == 0 && created + updated + spaces_changed == 0 {
            println!("nothing changed: the gateway already matches the catalog");
        }
        Ok(if failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}
