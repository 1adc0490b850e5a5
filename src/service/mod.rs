//! What the reactor asks of a kind of service.
//!
//! The reactor ([`crate::server`]) owns sockets, tokens, the slab, accepting
//! and stopping; a service decides what happens to the bytes:
//! [`crate::service::echo::EchoService`] (each client gets its own bytes back),
//! [`crate::service::tls_echo::TlsEchoService`] (the same through TLS) and
//! [`crate::service::broadcast::BroadcastService`] (every client gets every client's
//! bytes).

use std::io;

use crate::transport::Stream;
use slab::Slab;

pub mod broadcast;
pub mod connection;
pub mod echo;
pub mod pending;
pub mod tls_echo;

/// What one event said about a connection's socket.
#[derive(Debug, Default, Clone, Copy)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    /// The peer's FIN, a hang-up or an error: reads must go on to the EOF
    /// or the error, since no further edge will come.
    pub hang_up: bool,
    /// The socket is closed for writing too (EPOLLHUP or an error).
    pub write_closed: bool,
}

impl Readiness {
    pub fn of(event: &mio::event::Event) -> Readiness {
        Readiness {
            readable: event.is_readable(),
            writable: event.is_writable(),
            hang_up: event.is_read_closed() || event.is_write_closed() || event.is_error(),
            write_closed: event.is_write_closed() || event.is_error(),
        }
    }
}

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

    fn open(&mut self, stream: Stream) -> Self::Connection;

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
