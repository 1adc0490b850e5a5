//! Command-line interface: the flags of each subcommand and their help.
//! `command.rs` is the command line, `values.rs` (and `bench_values.rs`)
//! the parsing of flag values, `bench_config.rs` bench's flags made its
//! config, `run.rs` what each subcommand does.

mod address;
mod bench_args;
mod bench_config;
mod bench_values;
mod command;
mod docs;
mod report;
mod run;
mod serve_args;
mod socket_args;
mod tls_args;
mod values;

pub use command::{Cli, Command};
pub use run::run;
pub use values::USAGE;
