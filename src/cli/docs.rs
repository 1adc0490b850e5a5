//! Shell completions and manual pages, made from the same clap definitions
//! as the parser, so they cannot drift from it.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;

use super::command::{Cli, PAGES};
use super::values::Failure;

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

/// `mio-echo man [PAGE]`: the roff page of the program or of one
/// subcommand (named `mio-echo-PAGE`, as git's are; `bench-merge` for
/// `bench merge`).
pub fn man(page: Option<&str>, out: &mut impl Write) -> Result<ExitCode, Failure> {
    render(page, out).map_err(|err| Failure::Runtime(format!("cannot write the manual page: {err}")))?;
    Ok(ExitCode::SUCCESS)
}

/// `mio-echo man --install DIR`: every page into `DIR/man1`.
pub fn install(dir: &std::path::Path) -> Result<ExitCode, Failure> {
    let section = dir.join("man1");
    let fail =
        |path: &std::path::Path, err: io::Error| Failure::Runtime(crate::error::cannot_write(path, &err));
    std::fs::create_dir_all(&section).map_err(|err| fail(&section, err))?;
    for page in std::iter::once(None).chain(PAGES.iter().map(|page| Some(*page))) {
        let name = page.map_or("mio-echo".to_string(), |page| format!("mio-echo-{page}"));
        let path = section.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path).map_err(|err| fail(&path, err))?;
        render(page, &mut file).map_err(|err| fail(&path, err))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn render(page: Option<&str>, out: &mut impl Write) -> io::Result<()> {
    let mut command = Cli::command();
    command.build();
    // The footer names the program and its version on every page.
    let source = format!("mio-echo {}", env!("CARGO_PKG_VERSION"));
    let man = match page {
        None => clap_mangen::Man::new(command),
        Some(name) => {
            let mut found = &command;
            for part in name.split(['-', ' ']) {
                found = found
                    .find_subcommand(part)
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no page '{name}'")))?;
            }
            clap_mangen::Man::new(found.clone()).title(format!("mio-echo-{name}"))
        }
    };
    man.source(source).render(out)
}
