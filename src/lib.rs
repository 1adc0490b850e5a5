//! mio-echo: a TCP echo server and echo toolkit built on mio.
//!
//! New to readiness-based event loops? Read `examples/echo.rs` first: the
//! whole loop in one file on mio and slab alone. The server below grows it.
//!
//! This is the map: the crate is laid out by role, one concept per file, and
//! this list is the only place that describes the layout (docs/architecture.md
//! has the diagrams and the why; the README points here).
//!
//! The server (`mio-echo serve`):
//! - `server/`: the reactors. `config.rs`, the settings the command line
//!   gives; `reactor.rs`, the loop: one thread, one `mio::Poll`,
//!   connections in a `slab::Slab` keyed by their tokens (`tokens.rs`, the
//!   one table of them). Its parts own their state: `accept.rs`, the doors
//!   (the listeners `listener.rs` binds or `activation.rs` takes from
//!   systemd; `admission.rs`'s `--max-connections`, true across reactors;
//!   `limits.rs`'s keepalive and per-source caps; `proxy.rs`, the PROXY
//!   header a connection passes first); `timers.rs`, the clocks (`idle.rs`,
//!   `handshake.rs`, on `deadlines.rs`'s queue); `figures.rs`, the figures
//!   (`stats.rs`: the summary and the stats line; `metrics.rs`: the
//!   Prometheus endpoint); `drain.rs`, what a graceful stop keeps;
//!   `shutdown.rs`, the stop signals; `said.rs`, a refused source said in
//!   the log once per 10 s across reactors.
//! - `service/`: what happens to the bytes. `mod.rs` is what the reactor
//!   asks of a service; `echo.rs` and `broadcast.rs` are the plain ones,
//!   `tls_echo.rs` (with `tls_echo/wire.rs`) the echo over rustls.
//!   `connection.rs`: one echo client's state machine (read, echo, queue
//!   what the socket refuses, pause reading under backpressure, close after
//!   EOF), generic over the stream so tests drive it with fakes;
//!   `pending.rs`: the unsent bytes of one slow client.
//! - `transport/`: the stream sockets served, TCP or Unix (`unix.rs`: the
//!   socket file's life), `readiness.rs`, the edge-triggered rule every
//!   user of a socket follows (`Hints`, and the one write loop), and
//!   `knobs.rs`, the socket options a client sets and reads back; `udp/`: the
//!   UDP echo (`echo.rs`, batched) and its abuse guards (`guard.rs`).
//! - `tls/`: rustls settings, the server's (`config.rs`, with mutual TLS's
//!   client verifier) and the clients' (`client.rs`, and `session.rs` over
//!   a non-blocking socket); `pem.rs` reads both sides' PEM files.
//!
//! The clients:
//! - `client/`: `send` (`mod.rs`) and `chat` (`chat.rs`) over `link.rs`, a
//!   blocking connection plain or TLS on a TCP or Unix `socket.rs`
//!   (`eyeballs.rs`: a name's addresses raced, RFC 8305);
//!   `alert.rs` holds back a reply that may be a TLS alert; `hex.rs` is
//!   `send --hex`; `datagram.rs` is `send --udp`; `proxy_protocol.rs` writes the PROXY headers `send`
//!   and `bench` send.
//! - `bench/`: the load generator. `config.rs` says what to run, `run.rs`
//!   runs it: `engine/`, the stream engine, one load thread each (connect,
//!   traffic, the open loop and its state, batched sends, the window and
//!   its tally, source addresses, the payload pattern); `datagrams/`, the
//!   datagram engine (`--mode udp`); `pacing/`, the open loop's schedule,
//!   grid and timer; `report/`, the figures (`collect.rs` adds the threads
//!   up, `text.rs` is the summary, `intervals.rs`, `histograms.rs` and
//!   `output.rs` give time series and HdrHistogram files, `live.rs` is
//!   `--out`, `html.rs` the HTML report, `tcp.rs` the path's TCP_INFO,
//!   `merge.rs` is `bench merge`); `slo.rs` and `search.rs`, the gates and
//!   the max-rate search; `probe.rs`, CPU and
//!   progress; `signals.rs`, interrupted runs.
//!
//! Around them:
//! - `cli/`: the command line (`command.rs`; `serve_args.rs`,
//!   `bench_args.rs`, `socket_args.rs`, `tls_args.rs`, `address.rs` for
//!   their flags; `values.rs` and `bench_values.rs` for flag values;
//!   `bench_config.rs` turns bench's flags into its config), `run.rs` for
//!   what each subcommand does (`report.rs`: the HTML pages),
//!   `docs.rs` for completions and manual pages; `main.rs` only parses and
//!   dispatches.
//! - `logging.rs`: the log's non-blocking way to stderr; `error.rs`: errors
//!   worded for people; `fd_limit.rs`: the open-file limit; `sys/`: the
//!   system calls the crates in use do not wrap, and the crate's only
//!   `unsafe` (`mmsg.rs`: datagrams in batches; `uring.rs`: io_uring sends).

// Private by default: `main.rs` needs the command line and the log, the
// integration tests two helpers; everything else is the crate's own, so
// the compiler reports what nothing uses.
mod bench;
pub mod cli;
mod client;
mod error;
mod fd_limit;
pub mod logging;
mod proxy_protocol;
mod server;
mod service;
mod sys;
mod tls;
mod transport;
mod udp;

/// For the integration tests, which open thousands of sockets and read a
/// server's CPU time as `bench` does.
pub use bench::process_cpu_seconds;
pub use fd_limit::raise_to_hard_limit as raise_fd_limit;
