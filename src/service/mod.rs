//! What the reactor asks of a kind of service.
//!
//! The reactor ([`crate::server`]) owns sockets, tokens, the slab, accepting
//! and stopping; a service decides what happens to the bytes:
//! [`crate::service::echo::EchoService`] (each client gets its own bytes back),
//! [`crate::service::tls_echo::TlsEchoService`] (the same through TLS) and
//! [`crate::service::broadcast::BroadcastService`] (every client gets every client's
//! bytes).

use std::io;
use std::net::IpAddr;

use crate::transport::Stream;
use crate::transport::readiness::Readiness;
use slab::Slab;

pub mod broadcast;
pub mod connection;
pub mod echo;
pub mod pending;
pub mod tls_echo;

/// What the reactor should do with a connection after driving it.
#[derive(Debug)]
pub enum Progress {
    /// Nothing more can be done until the next readiness event.
    Waiting,
    /// The budget ran out while the socket may still hold bytes; no new edge
    /// will come for them, so the reactor must drive it again soon.
    Yielded,
    /// The peer is done and everything owed to it has been written: close it.
    Finished,
    /// The socket failed (reset, broken pipe...): drop it.
    Failed(io::Error),
    /// The client's credentials were refused (a TLS client certificate
    /// missing or not verified): drop it, counted and logged apart from
    /// broken connections.
    Refused(Refusal),
}

/// Who was refused and why.
#[derive(Debug)]
pub struct Refusal {
    /// The client's address (from the PROXY header where there is one);
    /// `None` over a Unix socket.
    pub client: Option<IpAddr>,
    pub why: String,
}

/// Byte counts of one call to drive, for the server's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Transferred {
    pub read: u64,
    pub written: u64,
    /// The peer sent bytes, whether or not they made `read` yet (a TLS
    /// record still incomplete): it is not idle, nor quiet while stopping.
    pub received: bool,
    /// Reading stopped because the unsent echo reached its limit.
    pub paused: bool,
}

pub trait Service {
    /// Per-connection state, stored in the reactor's slab.
    type Connection;

    /// Its connections start with a handshake that must end in time.
    const HANDSHAKES: bool = false;

    /// A new client's connection; `client` is its address (from the PROXY
    /// header where there is one), `None` over a Unix socket.
    fn open(&mut self, stream: Stream, client: Option<IpAddr>) -> Self::Connection;

    fn stream(connection: &mut Self::Connection) -> &mut Stream;

    fn on_readiness(connection: &mut Self::Connection, readiness: Readiness);

    /// Unsent bytes held for this client (for the pending-output gauge).
    fn owed(connection: &Self::Connection) -> usize;

    /// True when closing the connection now loses nothing its client sent:
    /// nothing is owed to it and its socket was read dry (or to its EOF).
    fn is_quiet(connection: &Self::Connection) -> bool;

    /// Moves bytes for connection `key` (which may touch the others).
    fn drive(
        &mut self,
        key: usize,
        connections: &mut Slab<Self::Connection>,
        moved: &mut Transferred,
    ) -> Progress;

    /// Still in its handshake (see [`Service::HANDSHAKES`]).
    fn handshaking(_connection: &Self::Connection) -> bool {
        false
    }

    /// Last words before the server closes the connection itself (a
    /// stop, an idle timeout): TLS sends its `close_notify`. Best effort,
    /// without blocking.
    fn farewell(_connection: &mut Self::Connection) {}

    /// Connections the service decided to drop while driving another one,
    /// with the reason.
    fn take_casualties(&mut self, _into: &mut Vec<(usize, String)>) {}
}
