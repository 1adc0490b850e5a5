//! Shell completions and manual pages, made from the same clap definitions
//! as the parser, so they cannot drift from it.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, Failure};

/// `mio-echo completions SHELL`: the completion script on `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut impl Write) -> io::Result<ExitCode> {
    // Made in memory first: clap_complete panics on a failed write (a
    // closed pipe), and this way a closed pipe is only an error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mio-echo", &mut script);
    if shell == clap_complete::Shell::Bash {
        // clap_complete 4.6 spells the hyphen of "mio-echo" two ways in bash
        // (`mio__echo` where it walks the words, `mio__subcmd__echo` in the
        // case labels), so no subcommand's flags would ever match: one
        // spelling for both. tests/docs.rs completes flags to keep it honest.
        let text = String::from_utf8_lossy(&script).replace("mio__subcmd__echo", "mio__echo");
        script = text.into_bytes();
    }
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `mio-echo man [SUBCOMMAND]`: the roff page of the program or of one
/// subcommand (named `mio-echo-SUBCOMMAND`, as git's are).
pub fn man(subcommand: Option<&str>, out: &mut impl Write) -> Result<ExitCode, Failure> {
    let mut command = Cli::command();
    command.build();
    let page = match subcommand {
        None => clap_mangen::Man::new(command),
        Some(name) => {
            let names: Vec<String> = command
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            let found = command.find_subcommand(name).cloned().ok_or_else(|| {
                Failure::Usage(format!("no subcommand '{name}' (one of: {})", names.join(", ")))
            })?;
            clap_mangen::Man::new(found).title(format!("mio-echo-{name}"))
        }
    };
    page.render(out)
        .map_err(|err| Failure::Runtime(format!("cannot write the manual page: {err}")))?;
    Ok(ExitCode::SUCCESS)
}
