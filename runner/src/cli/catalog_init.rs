//! `persona catalog init --target FILE`: a starter catalog for any app,
//! from what its MCP server lists.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use actors::app_client::Credentials;
use actors::mcp_client::{McpEndpoint, ToolSurface as _};
use actors::tick::PersonaProfile;
use anyhow::Context as _;
use catalog::target::Target;
use catalog::{Cadence, Catalog, KnownArchetype, LoadOptions, ModuleMix, PersonaSpec};
use serde_json::json;

/// Write a starter catalog for the app a target file describes.
///
/// Opens one MCP session (as --as EMAIL: with auth.kind = "login" an account
/// the app knows; with "bearer" or "oauth2" the secrets for that email),
/// lists the tools the target lets personas use, groups them into modules as
/// the target maps them, and writes three personas with distinct
/// temperaments (a systematic developer, an unsure newcomer, a hurried
/// manager) whose module mixes cover the busiest modules. The file says it
/// is a draft (`"draft"`); `persona catalog check` and seeding warn until
/// that line is removed. Exit codes: 0 written, 2 the target could not be
/// read or reached, or the output file exists.
#[derive(Debug, clap::Args)]
pub struct CatalogInit {
    /// The target file describing the app.
    #[arg(long, value_name = "FILE", env = "PERSONA_TARGET")]
    target: PathBuf,
    /// Where to write the catalog; an existing file is never overwritten.
    #[arg(long, short, value_name = "FILE", default_value = "personas.json")]
    out: PathBuf,
    /// Who opens the session that lists the tools.
    #[arg(
        long = "as",
        value_name = "EMAIL",
        default_value = "catalog-init@mana.test"
    )]
    as_email: String,
    /// The email domain the personas use.
    #[arg(long, env = "PERSONA_TEST_DOMAIN", default_value = catalog::DEFAULT_TEST_DOMAIN)]
    test_domain: String,
}

/// A module and how many of the target's tools it holds.
struct ModuleSize {
    name: String,
    tools: usize,
}

impl CatalogInit {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        anyhow::ensure!(
            !self.out.exists(),
            "{} exists; name another file with --out (it is never overwritten)",
            self.out.display()
        );
        let target = Target::from_path(&self.target)?;
        let modules = self.list_modules(&target).await?;
        anyhow::ensure!(
            !modules.is_empty(),
            "the server at {} lists no tool the target's tools settings let through",
            target.mcp.describe()
        );
        let personas = starter_personas(&modules, &self.test_domain)?;
        let tools: usize = modules.iter().map(|module| module.tools).sum();
        let names: Vec<&str> = modules.iter().map(|module| module.name.as_str()).collect();
        let document = json!({
            "version": 1,
            "draft": format!(
                "written by persona catalog init from {} ({tools} tools in {} modules: {}); \
                 edit the personas to be your app's users, then remove this line",
                self.target.display(),
                modules.len(),
                names.join(", ")
            ),
            "personas": personas,
        });
        // What is written must load: checked as `persona run` will read it.
        Catalog::from_value(
            &document,
            LoadOptions {
                test_domain: &self.test_domain,
                known_modules: None,
            },
        )
        .context("the starter catalog does not load (a bug: please report it)")?;
        let text = serde_json::to_string_pretty(&document)?;
        std::fs::write(&self.out, format!("{text}\n"))
            .with_context(|| format!("writing {}", self.out.display()))?;
        println!(
            "wrote {} with {} draft personas over {} modules ({}); edit it, then `persona catalog check {}`",
            self.out.display(),
            personas.len(),
            modules.len(),
            names.join(", "),
            self.out.display()
        );
        Ok(ExitCode::SUCCESS)
    }

    /// The target's modules (tools it lets through, mapped as it says), the
    /// busiest first.
    async fn list_modules(&self, target: &Target) -> anyhow::Result<Vec<ModuleSize>> {
        let login = crate::app_login::for_target(target).context("building the app login")?;
        let seed_secret = crate::config::Secrets::from_env()?.seed_secret;
        let password = catalog::derive_password(&seed_secret, &self.as_email);
        let session = login
            .login(Credentials {
                persona_id: &self.as_email,
                email: &self.as_email,
                password: &password,
            })
            .await
            .with_context(|| format!("logging {} in (--as)", self.as_email))?;
        // Only its id, email and name reach the server (headers, stdio env).
        let profile = PersonaProfile {
            id: self.as_email.clone(),
            email: self.as_email.clone(),
            name: "catalog init".to_owned(),
            archetype: KnownArchetype::SoloDev.into(),
            module_mix: weighted(&[("init".to_owned(), 1.0)])?,
            system_prompt: String::new(),
            cadence: Cadence::Daily,
        };
        let server = target.mcp.describe();
        let mcp = McpEndpoint::for_target(target)?
            .open(&session, &profile)
            .await
            .with_context(|| format!("opening the MCP server ({server})"))?;
        let listed = mcp.list_tools().await;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        if let Ok(tools) = &listed {
            for tool in tools {
                *counts.entry(mcp.module_of(&tool.name)).or_default() += 1;
            }
        }
        mcp.close().await;
        listed.with_context(|| format!("listing the tools of {server}"))?;
        let mut modules: Vec<ModuleSize> = counts
            .into_iter()
            .map(|(name, tools)| ModuleSize { name, tools })
            .collect();
        modules.sort_by(|a, b| b.tools.cmp(&a.tools).then_with(|| a.name.cmp(&b.name)));
        Ok(modules)
    }
}

/// Three personas with distinct temperaments over `modules` (busiest first).
fn starter_personas(modules: &[ModuleSize], domain: &str) -> anyhow::Result<Vec<PersonaSpec>> {
    let name = |index: usize| modules[index.min(modules.len() - 1)].name.clone();
    let spread: Vec<String> = modules
        .iter()
        .take(4)
        .map(|module| module.name.clone())
        .collect();
    let list = |names: &[String]| names.join(", ");
    let personas = [
        (
            "Greta Lang",
            KnownArchetype::SoloDev,
            Cadence::Hourly,
            even(&spread),
            format!(
                "Du bist Greta Lang, 34, Entwicklerin, und prüfst die App für dein Team. Du gehst \
                 systematisch vor und probierst jeden Bereich aus ({}), auch mit Grenzfällen. Du \
                 schreibst knapp und genau. Beim Bewerten zählt für dich, ob die Antworten stimmen \
                 und ob Fehlermeldungen sagen, was falsch war.",
                list(&spread)
            ),
        ),
        (
            "Jonas Weber",
            KnownArchetype::OverwhelmedNewbie,
            Cadence::Daily,
            weighted(&[(name(0), 0.7), (name(1), 0.3)]),
            format!(
                "Du bist Jonas Weber, 58, und nutzt die App zum ersten Mal, vor allem für {}. Du \
                 verstehst Fachbegriffe nicht, probierst aus und schreibst lange, höfliche Sätze. \
                 Wenn etwas nicht klappt, bist du schnell verunsichert. Beim Bewerten zählt für \
                 dich, ob du verstanden hast, was passiert ist.",
                name(0)
            ),
        ),
        (
            "Aylin Demir",
            KnownArchetype::CeoBusy,
            Cadence::Weekdays,
            weighted(&[(name(1), 0.6), (name(2), 0.4)]),
            format!(
                "Du bist Aylin Demir, 45, Geschäftsführerin, und hast für alles zwei Minuten. Du \
                 nutzt die App für {} und {} und willst keine Umwege. Du schreibst in Stichworten. \
                 Beim Bewerten zählt für dich nur Tempo und dass das Ergebnis stimmt.",
                name(1),
                name(2)
            ),
        ),
    ];
    personas
        .into_iter()
        .map(|(full_name, archetype, cadence, mix, system_prompt)| {
            let local = full_name.to_lowercase().replace(' ', ".");
            Ok(PersonaSpec {
                name: full_name.to_owned(),
                email: format!("{local}@{domain}"),
                archetype: archetype.into(),
                cadence,
                module_mix: mix?,
                system_prompt,
                shared_spaces: Vec::new(),
            })
        })
        .collect()
}

/// Equal weights over `modules`.
fn even(modules: &[String]) -> anyhow::Result<ModuleMix> {
    let weight = 1.0 / modules.len().max(1) as f64;
    weighted(
        &modules
            .iter()
            .map(|module| (module.clone(), weight))
            .collect::<Vec<_>>(),
    )
}

/// The weights, a module named twice (a target with few modules) added up.
fn weighted(pairs: &[(String, f64)]) -> anyhow::Result<ModuleMix> {
    let mut weights = BTreeMap::new();
    for (module, weight) in pairs {
        *weights.entry(module.clone()).or_insert(0.0) += weight;
    }
    Ok(ModuleMix::new(weights)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(names: &[&str]) -> Vec<ModuleSize> {
        names
            .iter()
            .map(|name| ModuleSize {
                name: (*name).to_owned(),
                tools: 1,
            })
            .collect()
    }

    #[test]
    fn three_personas_cover_the_busiest_modules_with_valid_mixes() {
        let personas = starter_personas(
            &sizes(&["echo", "math", "media", "text", "misc"]),
            "mana.test",
        )
        .unwrap();
        assert_eq!(personas.len(), 3);
        let archetypes: Vec<&str> = personas.iter().map(|p| p.archetype.as_str()).collect();
        assert_eq!(archetypes, ["solo-dev", "overwhelmed-newbie", "ceo-busy"]);
        let first: Vec<&str> = personas[0].module_mix.weights().map(|(m, _)| m).collect();
        assert_eq!(first, ["echo", "math", "media", "text"]);
        assert_eq!(personas[2].email, "aylin.demir@mana.test");
    }

    #[test]
    fn a_server_with_one_module_still_gets_valid_mixes() {
        let personas = starter_personas(&sizes(&["echo"]), "mana.test").unwrap();
        for persona in &personas {
            let modules: Vec<(&str, f64)> = persona.module_mix.weights().collect();
            assert_eq!(modules.len(), 1, "{}", persona.name);
            assert!((modules[0].1 - 1.0).abs() < 1e-9);
        }
    }
}
