//! Command-line interface: the flags of each subcommand and their help.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod address;
mod bench_args;
mod docs;
mod run;
mod serve_args;
mod tls_args;

use crate::client::socket::Target;
pub use address::{Endpoint, HostPort, parse_host_port};
use bench_args::BENCH_HELP;
pub use bench_args::{BenchArgs, BenchCommand, BenchMerge, MAX_RATE, MergeArgs, RateSpec};
pub use run::run;
pub use serve_args::ServeArgs;
pub use tls_args::TlsClientArgs;

/// Exit status of a usage error, as clap's own.
pub const USAGE: u8 = 2;

/// What went wrong, and so the exit status: 2 for a usage error, 1 otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Runtime(message)
    }
}

/// A TCP echo server and echo toolkit built on mio.
#[derive(Debug, Parser)]
#[command(
    name = "mio-echo",
    version,
    after_help = "Examples:\n  mio-echo serve --addr 127.0.0.1:10000\n  mio-echo send \"hello, echo\"\n  mio-echo send < big.iso > copy.iso\n\nLogging: RUST_LOG=debug shows each connection, RUST_LOG=trace each transfer."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the echo server: every byte a client sends comes back to it, in order
    #[command(
        after_help = "Stopping: the first SIGINT, SIGTERM or SIGHUP (a closed terminal) stops accepting; each\nconnection is closed once its client has sent nothing for --drain-quiet and nothing is owed\nto it, busy ones are served to their EOF for up to --shutdown-timeout; a second signal\nstops at once. Exit status 0 after a stop, 1 when the server cannot start, 2 for usage errors.\n\nDurations (SECS) are seconds, fractions allowed, at most 31536000 (365 days).\n\nExamples:\n  mio-echo serve --addr 127.0.0.1:0   # pick a free port; the first line of output names it\n  mio-echo serve --port 1234 --broadcast",
        mut_arg("addr", |a| a.help("Address to listen on, HOST:PORT [default: 127.0.0.1:10000]; port 0 lets the system pick a free one, named in the first line of output")),
        mut_arg("port", |a| a.help("Shorthand for --addr 127.0.0.1:PORT (0: any free port)")),
    )]
    Serve(Box<ServeArgs>),
    /// Send a message (or standard input) to an echo server and print the reply
    #[command(
        mut_arg("addr", |a| a.help("Echo server to send to, HOST:PORT [default: 127.0.0.1:10000]")),
        mut_arg("port", |a| a.help("Shorthand for --addr 127.0.0.1:PORT").value_parser(clap::value_parser!(u16).range(1..))),
        after_help = "Prints the reply as it arrives, byte for byte (a message given as an argument gets a\nnewline after its reply on a terminal). Says nothing more when the reply matches.\nA server that echoes everything but keeps the connection open (serve --broadcast does)\nis left after 1 s of silence with a note; the exit status still tells whether it matched.\n\nExit status: 0 when the reply equals what was sent, 1 when it differs or the exchange fails, 2 for usage errors.\nDurations (SECS) are seconds, fractions allowed, at most 31536000 (365 days).\n\nExamples:\n  mio-echo send \"hello, echo\"\n  mio-echo send --port 9900 < big.iso > copy.iso\n  mio-echo send --chunk 16 \"This is our message. It is very long\"   # print each read, as seed 001 does"
    )]
    Send(SendArgs),
    /// Load-test an echo server: many connections, every byte verified, latency percentiles
    #[command(
        after_help = BENCH_HELP,
        mut_arg("addr", |a| a.help("Echo server to load, HOST:PORT [default: 127.0.0.1:10000]")),
        mut_arg("port", |a| a.help("Shorthand for --addr 127.0.0.1:PORT").value_parser(clap::value_parser!(u16).range(1..))),
    )]
    Bench(Box<BenchCommand>),
    /// Interactive client: send each line of standard input, print everything that arrives
    #[command(
        after_help = "Lines are sent as they are typed; a receiving thread prints whatever arrives\n(the echo, or with `serve --broadcast` every client's lines) as it arrives.\nEOF on standard input (Ctrl-D) half-closes; chat exits once the server closes.\nExit status 0 when the server closes after our EOF, 1 when it drops the connection first.\n\nExamples:\n  mio-echo chat --port 10000\n  printf 'one\\ntwo\\n' | mio-echo chat",
        mut_arg("addr", |a| a.help("Server to chat with, HOST:PORT [default: 127.0.0.1:10000]")),
        mut_arg("port", |a| a.help("Shorthand for --addr 127.0.0.1:PORT").value_parser(clap::value_parser!(u16).range(1..))),
    )]
    Chat(ChatArgs),
    /// Print a shell completion script: mio-echo completions bash > /etc/bash_completion.d/mio-echo
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of mio-echo or of one subcommand: mio-echo man serve | man -l -
    Man {
        /// The page to print: a subcommand, or bench-merge [default: the whole program]
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(docs::PAGES), conflicts_with = "install")]
        subcommand: Option<String>,
        /// Write every page (mio-echo.1, mio-echo-serve.1, ...) into DIR/man1, e.g.
        /// /usr/local/share/man, where man(1) and the systemd units' Documentation= find them
        #[arg(long, value_name = "DIR")]
        install: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,

    /// Give up connecting after SECS seconds
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    pub timeout: Duration,

    #[command(flatten)]
    pub tls: TlsClientArgs,

    /// Chat over the Unix domain socket PATH (@NAME: the abstract namespace) instead of TCP
    #[arg(long, value_name = "PATH", conflicts_with_all = ["addr", "port"])]
    pub unix: Option<String>,
}

impl ChatArgs {
    pub fn target(&self) -> Result<Target, Failure> {
        target(&self.endpoint, self.unix.as_deref())
    }
}

/// The server to connect to: `--unix`, or the TCP address.
fn target(endpoint: &Endpoint, unix: Option<&str>) -> Result<Target, Failure> {
    match unix {
        Some(path) => Ok(Target::Unix(path.to_string())),
        None => Ok(Target::Tcp(endpoint.server_addr()?)),
    }
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The message to send (any bytes); standard input until EOF when absent
    pub message: Option<std::ffi::OsString>,

    #[command(flatten)]
    pub endpoint: Endpoint,

    /// Print the reply one read at a time, at most N bytes a read
    ///
    /// One line per read with its byte count and the bytes escaped as Python shows them.
    #[arg(long, value_name = "N", value_parser = parse_count::<MAX_BYTES>)]
    pub chunk: Option<usize>,

    /// Print the local and the server's socket addresses to stderr
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Give up connecting, or waiting on a silent server, after SECS seconds
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Send a PROXY protocol header before the message
    ///
    /// With this connection's real endpoints, as a load balancer would: to test servers that
    /// expect one.
    #[arg(long, value_enum, value_name = "VERSION")]
    pub proxy_header: Option<crate::proxy_protocol::Version>,

    #[command(flatten)]
    pub tls: TlsClientArgs,

    /// Send the message as one UDP datagram and print the reply
    ///
    /// At most 65,507 bytes; no reply within --timeout is an error.
    #[arg(long, conflicts_with_all = ["tls", "proxy_header", "chunk"])]
    pub udp: bool,

    /// Send over the Unix domain socket PATH (@NAME: the abstract namespace) instead of TCP
    #[arg(long, value_name = "PATH", conflicts_with_all = ["addr", "port", "udp", "proxy_header"])]
    pub unix: Option<String>,
}

impl SendArgs {
    pub fn target(&self) -> Result<Target, Failure> {
        target(&self.endpoint, self.unix.as_deref())
    }
}

/// The longest duration any flag takes: a year is past any timeout or
/// run worth asking for, and far from where `Instant` arithmetic overflows
/// (1e19 s once passed the parser and panicked at start).
pub const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// A whole number from 1 to `MAX`.
fn parse_count<const MAX: usize>(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        Ok(_) => Err(format!("'{text}' is out of range: from 1 to {MAX}")),
        Err(_) => Err(format!("'{text}' is not a whole number from 1 to {MAX}")),
    }
}

/// Reactors or load threads: far more than cores is only overhead.
const MAX_THREADS: usize = 1024;
/// Connections, sources and messages in flight.
const MAX_COUNT: usize = 10_000_000;
/// Byte sizes: a message, a window, a queue.
const MAX_BYTES: usize = 1 << 30;

/// Rates (per second) up to a billion.
const MAX_PER_SECOND: f64 = 1e9;

fn parse_rate(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|rate| rate.is_finite() && *rate > 0.0 && *rate <= MAX_PER_SECOND)
        .ok_or_else(|| format!("'{text}' is not a rate from more than 0 to {MAX_PER_SECOND} per second"))
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    if text.parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    parse_timeout(text)
}

/// Whole seconds, at least 1 (the kernel's keepalive counts in seconds).
fn parse_whole_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=32_767).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "'{text}' is not a whole number of seconds from 1 to 32767"
        )),
    }
}

/// Milliseconds, at least 1.
fn parse_millis(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(ms) if ms >= 1 && ms <= u64::from(u32::MAX) => Ok(Duration::from_millis(ms)),
        _ => Err(format!("'{text}' is not a positive number of milliseconds")),
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs = text
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .ok_or_else(|| format!("'{text}' is not a positive number of seconds"))?;
    if secs > MAX_SECONDS as f64 {
        return Err(format!(
            "'{text}' is out of range: seconds from more than 0 to {MAX_SECONDS} (365 days)"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::net::SocketAddr;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn resolve(text: &str) -> Result<SocketAddr, Failure> {
        parse_host_port(text).unwrap().resolve()
    }

    #[test]
    fn addresses_parse_or_explain() {
        assert_eq!(
            resolve("127.0.0.1:9").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 9))
        );
        assert_eq!(resolve("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        assert!(resolve("localhost:9").unwrap().ip().is_loopback());
        assert!(parse_host_port("nonsense").unwrap_err().contains("HOST:PORT"));
        assert!(parse_host_port(":9").unwrap_err().contains("HOST:PORT"));
        assert!(parse_host_port("::1:9").unwrap_err().contains("brackets"));
        assert_eq!(
            parse_host_port("127.0.0.1:99999").unwrap_err(),
            "port 99999 is out of range (0 to 65535)"
        );
        assert!(
            parse_host_port("127.0.0.1:http")
                .unwrap_err()
                .contains("not a port number")
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_a_runtime_failure() {
        match resolve("nosuchhost.invalid:10000") {
            Err(Failure::Runtime(message)) => {
                assert!(
                    message.starts_with("cannot resolve host 'nosuchhost.invalid': "),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
