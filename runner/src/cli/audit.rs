//! `persona audit encrypted-tools`: tools' encryption declarations against
//! the app's encryption table.

use std::process::ExitCode;

use anyhow::Context as _;
use registry::Registry;
use registry::audit::audit_encrypted_tools;
use registry::encryption::ENCRYPTION_TABLE;
use registry::policy::PolicyGate;

/// Diff every tool's declared encrypted fields against the app's encryption
/// table.
///
/// Reports missing-collection (a tool declares a collection the app does not
/// encrypt), field-drift (both lists shown) and disabled (advisory). Exit
/// codes: 0 no drift (advisories allowed), 1 drift found, 2 the registry could
/// not be built.
#[derive(Debug, clap::Args)]
pub struct EncryptedTools {}

impl EncryptedTools {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let registry = Registry::with_app_tools(PolicyGate::default())
            .context("building the tool registry")?;
        let findings = audit_encrypted_tools(&registry, ENCRYPTION_TABLE);
        let declaring = registry
            .tools()
            .filter(|spec| spec.encrypted_fields.is_some())
            .count();
        let failures = findings
            .iter()
            .filter(|finding| finding.is_failure())
            .count();
        for finding in &findings {
            println!("{finding}");
        }
        println!(
            "{} tools, {declaring} declaring encrypted fields, {} collections in the encryption table: {}",
            registry.tools().count(),
            ENCRYPTION_TABLE.len(),
            if failures == 0 {
                "no drift".to_owned()
            } else {
                format!("{failures} drift finding(s)")
            }
        );
        Ok(if failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}
