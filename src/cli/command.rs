//! The command line: the subcommands and the flags of `send` and `chat`
//! (`serve`'s and `bench`'s have files of their own).

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::address::Endpoint;
use super::bench_args::{BENCH_HELP, BenchCommand};
use super::serve_args::ServeArgs;
use super::tls_args::TlsClientArgs;
use super::values::{Failure, MAX_BYTES, parse_size, parse_timeout};
use crate::client::socket::Target;

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
        after_help = "Stopping: the first SIGINT, SIGTERM or SIGHUP (a closed terminal) stops accepting; each\nconnection is closed once its client has sent nothing for --drain-quiet and nothing is owed\nto it, busy ones are served to their EOF for up to --shutdown-timeout; a second signal\nstops at once. Exit status 0 after a stop, 1 when the server cannot start, 2 for usage errors.\n\nValues take units: durations 250ms, 30s, 1m, 1h (a plain number is seconds, fractions allowed,\nat most 365 days); sizes 1k, 64KiB, 1M, 1MiB (a plain number is bytes); rates 10k, 2.5M per second.\n\nExamples:\n  mio-echo serve --addr 127.0.0.1:0   # pick a free port; the first line of output names it\n  mio-echo serve --port 1234 --broadcast",
        mut_arg("addr", |a| a.help("Address to listen on, HOST:PORT [default: 127.0.0.1:10000]; port 0 lets the system pick a free one, named in the first line of output")),
        mut_arg("port", |a| a.help("Shorthand for --addr 127.0.0.1:PORT (0: any free port)")),
    )]
    Serve(Box<ServeArgs>),
    /// Send a message (or standard input) to an echo server and print the reply
    #[command(
        mut_arg("addr", |a| a.help("Echo server to send to, HOST:PORT [default: 127.0.0.1:10000]")),
        mut_arg("port", |a| a.help("Shorthand for --addr 127.0.0.1:PORT").value_parser(clap::value_parser!(u16).range(1..))),
        after_help = "Prints the reply as it arrives, byte for byte (a message given as an argument gets a\nnewline after its reply on a terminal). Says nothing more when the reply matches.\nA server that echoes everything but keeps the connection open (serve --broadcast does)\nis left after 1 s of silence with a note; the exit status still tells whether it matched.\n\nExit status: 0 when the reply equals what was sent, 1 when it differs or the exchange fails, 2 for usage errors.\nValues take units: durations 250ms, 30s, 1m, 1h (a plain number is seconds, fractions allowed,\nat most 365 days); sizes 1k, 64KiB, 1M, 1MiB (a plain number is bytes); rates 10k, 2.5M per second.\n\nExamples:\n  mio-echo send \"hello, echo\"\n  mio-echo send --port 9900 < big.iso > copy.iso\n  mio-echo send --chunk 16 \"This is our message. It is very long\"   # print each read, as seed 001 does"
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
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(PAGES), conflicts_with = "install")]
        subcommand: Option<String>,
        /// Write every page (mio-echo.1, mio-echo-serve.1, ...) into DIR/man1, e.g.
        /// /usr/local/share/man, where man(1) and the systemd units' Documentation= find them
        #[arg(long, value_name = "DIR")]
        install: Option<std::path::PathBuf>,
    },
}

/// The pages `mio-echo man` prints, by the name after `mio-echo-`:
/// every subcommand, and `bench merge` (a subcommand of bench).
pub const PAGES: [&str; 7] = [
    "serve",
    "send",
    "bench",
    "bench-merge",
    "chat",
    "completions",
    "man",
];

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,

    /// Give up connecting after SECS seconds
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    pub timeout: Duration,

    #[command(flatten)]
    pub socket: super::socket_args::SocketArgs,

    /// End each line sent with CRLF, as ncat -C does (for servers that want "\r\n")
    #[arg(long, short = 'C')]
    pub crlf: bool,

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
        None => endpoint.target(),
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
    #[arg(long, value_name = "N", value_parser = parse_size::<MAX_BYTES>)]
    pub chunk: Option<usize>,

    /// Give up connecting after SECS (--timeout then bounds only the silences)
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub connect_timeout: Option<Duration>,

    #[command(flatten)]
    pub socket: super::socket_args::SocketArgs,

    /// Print the reply as a hex dump, as xxd does (offset, hex, text)
    #[arg(long, conflicts_with = "chunk")]
    pub hex: bool,

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::address::parse_host_port;
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
