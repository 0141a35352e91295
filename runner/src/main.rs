//! The `persona` binary: parses the command line and hands off to one
//! subcommand module. Nothing else lives here.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use runner::{cli, config_file, telemetry};

fn main() -> ExitCode {
    let matches = match config_file::parse(cli::Cli::command(), std::env::args().collect()) {
        Ok(matches) => matches,
        Err(failure) => {
            eprint!("{}", failure.message);
            return ExitCode::from(u8::try_from(failure.exit_code).unwrap_or(2));
        }
    };
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let traces = match telemetry::init() {
        Ok(traces) => traces,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let code = match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    };
    if let Some(traces) = traces {
        traces.shutdown();
    }
    code
}
