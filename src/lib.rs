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
//! - `server/`: the reactors. `reactor.rs`, the loop: one thread, one
//!   `mio::Poll`, connections in a `slab::Slab` keyed by their tokens;
//!   `listener.rs` binds (and `activation.rs` takes systemd's socket);
//!   `accept.rs` accepts, under `admission.rs`'s `--max-connections`
//!   (true across reactors) and `limits.rs`'s keepalive and per-source caps;
//!   `proxy.rs`, the PROXY header a connection passes first; `idle.rs` and
//!   `handshake.rs`, the idle and TLS handshake timeouts; `drain.rs`, what a
//!   graceful stop keeps; `shutdown.rs`, the stop signals; `stats.rs` and
//!   `metrics.rs`, the figures, the stats line and the Prometheus endpoint.
//! - `service.rs`: what the reactor asks of a service; `echo.rs` and
//!   `broadcast.rs` are the plain ones, `tls/echo.rs` (on `tls/wire.rs`)
//!   the echo over rustls, with its settings in `tls/config.rs`.
//! - `connection.rs`: one echo client's state machine (read, echo, queue
//!   what the socket refuses, pause reading under backpressure, close after
//!   EOF), generic over the stream so tests drive it with fakes;
//!   `pending.rs`: the unsent bytes of one slow client.
//! - `transport/`: the stream sockets served, TCP or Unix (`unix.rs`: the
//!   socket file's life); `udp/`: the UDP echo (`echo.rs`, batched) and its
//!   abuse guards (`guard.rs`).
//!
//! The clients:
//! - `client/`: `send` (`mod.rs`) and `chat` (`chat.rs`) over `link.rs`, a
//!   blocking connection plain or TLS (`tls/client.rs`, `tls/session.rs`)
//!   on a TCP or Unix `socket.rs`; `datagram.rs` is `send --udp`;
//!   `proxy_protocol.rs` writes the PROXY headers `send` and `bench` send.
//! - `bench/`: the load generator. `worker/` is one load thread (connect,
//!   traffic, the open loop, batched sends, the window and its tally);
//!   `collect.rs` adds the threads into a `report.rs`; `intervals.rs`,
//!   `histograms.rs` and `output.rs` give time series and HdrHistogram
//!   files; `slo.rs`, `search.rs` and `merge.rs` are the gates, the max-rate
//!   search and `bench merge`; `udp/` is `--mode udp`.
//!
//! Around them:
//! - `cli/`: flags, help, completions and manual pages; `main.rs` only
//!   parses and dispatches.
//! - `logging.rs`: the log's non-blocking way to stderr; `error.rs`: errors
//!   worded for people; `fd_limit.rs`: the open-file limit; `sys.rs`: system
//!   calls the crates in use do not wrap.

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
