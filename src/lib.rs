//! mio-echo: a TCP echo server and echo toolkit built on mio.
//!
//! New to readiness-based event loops? Read `examples/echo.rs` first: the
//! whole loop in one file on mio and slab alone. The server below grows it.
//!
//! The crate is laid out by role, so the file list is the architecture:
//!
//! - [`server`]: the reactors. One thread, one `mio::Poll` each; the
//!   listener and the signal pipe have reserved tokens, every connection
//!   lives in a `slab::Slab` whose key is its token. Binding, stop signals,
//!   the graceful drain, idle timeouts and the stats line live beside it.
//! - [`service`]: what the reactor asks of a service; [`echo`] and
//!   [`broadcast`] are the two.
//! - [`connection`]: one echo client's state machine (read, echo, queue what the
//!   socket refuses, pause reading under backpressure, close after EOF),
//!   generic over the stream so tests can drive it with fakes.
//! - [`pending`]: the unsent bytes of one slow connection.
//! - [`client`]: the blocking clients, `send` and `chat` (`client::chat`),
//!   over plain TCP or TLS (`client::link`).
//! - [`bench`]: the load generator, one `mio::Poll` per thread: closed-loop
//!   pingpong (each turn's messages in one io_uring submission), an open
//!   loop paced by a timerfd (`bench::schedule`), gates (`bench::slo`), a
//!   max-rate search, interval series and HdrHistogram files, and
//!   `bench merge`.
//! - [`cli`]: flags and help; `main.rs` only parses them and dispatches.
//!
//! docs/architecture.md tells the same story with a diagram.

pub mod bench;
pub mod broadcast;
pub mod cli;
pub mod client;
pub mod connection;
pub mod echo;
pub mod error;
pub mod fd_limit;
pub mod logging;
pub mod pending;
pub mod proxy_protocol;
pub mod server;
pub mod service;
mod sys;
pub mod tls;
pub mod transport;
pub mod udp;
