//! `mio-echo`: parses the command line and hands it to `cli::run`.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use mio_echo::cli::{Cli, USAGE};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    // rustls warns of every peer that misbehaves; the server says so at
    // debug and the clients in their own error, so its warnings are noise.
    mio_echo::logging::init("info,rustls=error");
    mio_echo::cli::run(cli.command)
}

/// Help and version go out whole; a usage error is one line, like every
/// other error, with a pointer to the help instead of clap's usage block.
fn usage_error(err: &clap::Error) -> ExitCode {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::from(err.exit_code().clamp(0, 255) as u8);
    }
    // The first paragraph, on one line: clap puts the missing arguments'
    // names on the lines below its first.
    let text = err.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty())
        .collect();
    let first = if first.is_empty() {
        "error: invalid arguments".to_string()
    } else {
        first.join(" ")
    };
    eprintln!("{first} (see --help)");
    ExitCode::from(USAGE)
}
