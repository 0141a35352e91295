//! The optional TOML configuration file (`--config FILE` or `PERSONA_CONFIG`).
//!
//! Its keys are the environment variable names (`TICK_INTERVAL_MS = 30000`),
//! and it has the lowest precedence: file < environment < flags. It is
//! applied as the defaults of the command line, so one set of names and one
//! set of checks cover all three. Secrets (`PERSONA_SEED_SECRET`,
//! `MANA_SERVICE_KEY`, `MANA_KEK`, `MANA_ADMIN_PASSWORD`, …) are read from
//! the environment only: configuration files get committed, secrets must not.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use actors::llm::pricing::Price;
use anyhow::{Context as _, bail};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgMatches, Command};

/// Finds `--config FILE` / `--config=FILE` in the arguments, else `PERSONA_CONFIG`.
pub fn config_path(args: &[String]) -> Option<PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("PERSONA_CONFIG")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// Every environment variable an option of `command` (or a subcommand) reads.
fn env_names(command: &Command, names: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        if let Some(env) = arg.get_env() {
            names.insert(env.to_string_lossy().into_owned());
        }
    }
    for subcommand in command.get_subcommands() {
        env_names(subcommand, names);
    }
}

fn apply_defaults(command: Command, key: &str, value: &str) -> Command {
    let command = command.mut_args(|arg| {
        if arg.get_env().is_some_and(|env| env == key) {
            arg.default_value(value.to_owned())
        } else {
            arg
        }
    });
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    names.into_iter().fold(command, |command, name| {
        command.mut_subcommand(name, |sub| apply_defaults(sub, key, value))
    })
}

/// Reads `path` and makes its values the defaults of `command`.
pub fn apply(command: Command, path: &Path) -> anyhow::Result<Command> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("the config file {} is not valid TOML", path.display()))?;
    let mut known = BTreeSet::new();
    env_names(&command, &mut known);
    let mut command = command;
    for (key, value) in &table {
        if key == PRICES_KEY {
            // Read by `prices`, checked now so a bad table fails at start.
            prices_in(&table, path)?;
            continue;
        }
        if !known.contains(key) {
            bail!(
                "the config file {} sets {key}, which is not a setting; settings are: {}",
                path.display(),
                known.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        let value = match value {
            toml::Value::String(text) => text.clone(),
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Float(number) => number.to_string(),
            toml::Value::Boolean(flag) => flag.to_string(),
            other => bail!(
                "the config file {} sets {key} to {other}; use a string, number or boolean",
                path.display()
            ),
        };
        command = apply_defaults(command, key, &value);
    }
    Ok(command)
}

/// The table of LLM prices: `[prices."<model prefix>"]` with `input`,
/// `output`, `cache_write`, `cache_read` in US dollars per million tokens.
const PRICES_KEY: &str = "prices";

/// The config file's price overrides (model prefix → price); none without
/// a config file or a `prices` table.
pub fn prices(args: &[String]) -> anyhow::Result<Vec<(String, Price)>> {
    let Some(path) = config_path(args) else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("the config file {} is not valid TOML", path.display()))?;
    prices_in(&table, &path)
}

fn prices_in(table: &toml::Table, path: &Path) -> anyhow::Result<Vec<(String, Price)>> {
    let Some(prices) = table.get(PRICES_KEY) else {
        return Ok(Vec::new());
    };
    let toml::Value::Table(prices) = prices else {
        bail!(
            "the config file {} sets {PRICES_KEY} to a value; it is a table of \
             [{PRICES_KEY}.\"<model prefix>\"] tables",
            path.display()
        );
    };
    prices
        .iter()
        .map(|(model, price)| {
            let price: Price = price.clone().try_into().with_context(|| {
                format!(
                    "the config file {} has a bad price for {model:?}: give input and output \
                     (and optionally cache_write, cache_read) in US dollars per million tokens",
                    path.display()
                )
            })?;
            Ok((model.clone(), price))
        })
        .collect()
}

/// Adds to a clap error which environment variable (or config key) the bad
/// value came from, so an operator fixing a deployment finds it.
pub fn explain(command: &Command, error: clap::Error) -> String {
    let rendered = error.render().to_string();
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return rendered;
    }
    let Some(ContextValue::String(flag)) = error.get(ContextKind::InvalidArg) else {
        return rendered;
    };
    let long = flag
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_start_matches("--")
        .to_owned();
    let mut env = None;
    find_env(command, &long, &mut env);
    match env {
        Some(env) => format!(
            "{rendered}\nThe value comes from --{long}, the environment variable {env}, or the config file key {env}."
        ),
        None => rendered,
    }
}

fn find_env(command: &Command, long: &str, found: &mut Option<String>) {
    for arg in command.get_arguments() {
        if arg.get_long() == Some(long)
            && let Some(env) = arg.get_env()
        {
            *found = Some(env.to_string_lossy().into_owned());
            return;
        }
    }
    for subcommand in command.get_subcommands() {
        find_env(subcommand, long, found);
    }
}

/// Why the command line did not yield options: the text to print and the
/// exit code (0 for `--help` and `--version`, 2 for a usage error).
#[derive(Debug)]
pub struct ParseFailure {
    pub message: String,
    pub exit_code: i32,
}

/// Parses the command line with the config file applied.
pub fn parse(command: Command, args: Vec<String>) -> Result<ArgMatches, ParseFailure> {
    let command = match config_path(&args) {
        Some(path) => apply(command, &path).map_err(|error| ParseFailure {
            message: format!("error: {error:#}\n"),
            exit_code: 2,
        })?,
        None => command,
    };
    command
        .clone()
        .try_get_matches_from(args)
        .map_err(|error| ParseFailure {
            exit_code: error.exit_code(),
            message: explain(&command, error),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> Command {
        Command::new("t").subcommand(
            Command::new("up").arg(
                clap::Arg::new("concurrency")
                    .long("concurrency")
                    .env("T_CONCURRENCY")
                    .value_parser(clap::value_parser!(usize))
                    .default_value("4"),
            ),
        )
    }

    #[test]
    fn file_values_become_defaults_that_flags_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("persona.toml");
        std::fs::write(&path, "T_CONCURRENCY = 9\n").unwrap();
        let command = apply(command(), &path).unwrap();
        let matches = command.clone().try_get_matches_from(["t", "up"]).unwrap();
        assert_eq!(
            matches
                .subcommand_matches("up")
                .unwrap()
                .get_one::<usize>("concurrency"),
            Some(&9)
        );
        let matches = command
            .try_get_matches_from(["t", "up", "--concurrency", "2"])
            .unwrap();
        assert_eq!(
            matches
                .subcommand_matches("up")
                .unwrap()
                .get_one::<usize>("concurrency"),
            Some(&2)
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("persona.toml");
        std::fs::write(&path, "T_CONCURENCY = 9\n").unwrap();
        let error = apply(command(), &path).unwrap_err().to_string();
        assert!(
            error.contains("T_CONCURENCY, which is not a setting; settings are: T_CONCURRENCY"),
            "{error}"
        );
        std::fs::write(&path, "T_CONCURRENCY = \"lots\"\n").unwrap();
        let command = apply(command(), &path).unwrap();
        let error = command
            .clone()
            .try_get_matches_from(["t", "up"])
            .unwrap_err();
        let text = explain(&command, error);
        assert!(
            text.contains("invalid value 'lots'")
                && text.contains("environment variable T_CONCURRENCY"),
            "{text}"
        );
    }

    #[test]
    fn the_path_comes_from_the_flag_or_the_environment() {
        let args: Vec<String> = ["persona", "up", "--config", "a.toml"]
            .map(String::from)
            .to_vec();
        assert_eq!(config_path(&args), Some(PathBuf::from("a.toml")));
        let args: Vec<String> = ["persona", "--config=b.toml", "up"]
            .map(String::from)
            .to_vec();
        assert_eq!(config_path(&args), Some(PathBuf::from("b.toml")));
    }
}
