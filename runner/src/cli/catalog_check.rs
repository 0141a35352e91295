//! `persona catalog check [FILE]`: validates a persona catalog.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use catalog::{Catalog, CatalogError, LoadOptions, Severity};

/// Validate a persona catalog and list every problem with its JSON path.
///
/// Without FILE the catalog built into this binary (catalog/personas.json) is
/// checked. Exit codes: 0 valid (warnings allowed), 1 the catalog has errors,
/// 2 the file cannot be read.
#[derive(Debug, clap::Args)]
pub struct CatalogCheck {
    /// The catalog file (JSON); defaults to the built-in catalog.
    file: Option<PathBuf>,
    /// The email domain every persona must use.
    #[arg(long, env = "PERSONA_TEST_DOMAIN", default_value = catalog::DEFAULT_TEST_DOMAIN)]
    test_domain: String,
}

impl CatalogCheck {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let options = LoadOptions {
            test_domain: &self.test_domain,
            known_modules: Some(registry::MODULES),
        };
        let source = match &self.file {
            Some(path) => path.display().to_string(),
            None => "the built-in catalog".to_owned(),
        };
        let loaded = match &self.file {
            Some(path) => Catalog::from_path(path, options),
            None => Catalog::shipped(options),
        };
        let catalog = match loaded {
            Ok(catalog) => catalog,
            Err(CatalogError::Invalid { problems }) => {
                let errors = problems
                    .iter()
                    .filter(|p| p.severity == Severity::Error)
                    .count();
                println!(
                    "{source}: {errors} error(s), {} warning(s)",
                    problems.len() - errors
                );
                for problem in &problems {
                    println!("  {problem}");
                }
                return Ok(ExitCode::from(1));
            }
            Err(CatalogError::Syntax { error }) => {
                println!(
                    "{source}: not valid JSON at line {}, column {}: {error}",
                    error.line(),
                    error.column()
                );
                return Ok(ExitCode::from(1));
            }
            Err(error @ CatalogError::Read { .. }) => {
                return Err(error).context("the catalog could not be checked");
            }
        };
        println!(
            "{source}: OK — {} personas, {} warning(s)",
            catalog.personas.len(),
            catalog.warnings.len()
        );
        for warning in &catalog.warnings {
            println!("  {warning}");
        }
        println!();
        println!(
            "{:<20} {:<30} {:<19} {:<9} modules",
            "name", "email", "archetype", "cadence"
        );
        for persona in &catalog.personas {
            let modules: Vec<String> = persona
                .module_mix
                .weights()
                .map(|(module, weight)| format!("{module} {:.0}%", weight * 100.0))
                .collect();
            println!(
                "{:<20} {:<30} {:<19} {:<9} {}",
                persona.name,
                persona.email,
                persona.archetype.as_str(),
                persona.cadence.as_str(),
                modules.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
