//! The echo service: each client gets its own bytes back, in order.

use crate::transport::Stream;
use slab::Slab;

use crate::service::connection::{Connection, Limits};
use crate::service::{Progress, Service, Transferred};
use crate::transport::readiness::Readiness;

pub struct EchoService {
    /// The single read buffer: bytes pass through it on their way back, so a
    /// connection only holds memory while its peer is slow to read.
    scratch: Box<[u8]>,
    limits: Limits,
}

impl EchoService {
    pub fn new(read_buffer: usize, max_pending: usize) -> EchoService {
        let read_buffer = read_buffer.max(1);
        EchoService {
            scratch: vec![0; read_buffer].into_boxed_slice(),
            limits: Limits {
                max_pending: max_pending.max(1),
                budget: 4 * read_buffer,
            },
        }
    }
}

impl Service for EchoService {
    type Connection = Connection<Stream>;

    fn open(&mut self, stream: Stream, _client: Option<std::net::IpAddr>) -> Self::Connection {
        Connection::new(stream)
    }

    fn stream(connection: &mut Self::Connection) -> &mut Stream {
        connection.stream_mut()
    }

    fn on_readiness(connection: &mut Self::Connection, readiness: Readiness) {
        connection.on_readiness(readiness);
    }

    fn owed(connection: &Self::Connection) -> usize {
        connection.pending_len()
    }

    fn is_quiet(connection: &Self::Connection) -> bool {
        connection.is_quiet()
    }

    fn drive(
        &mut self,
        key: usize,
        connections: &mut Slab<Self::Connection>,
        moved: &mut Transferred,
    ) -> Progress {
        match connections.get_mut(key) {
            Some(connection) => connection.drive(&mut self.scratch, self.limits, moved),
            None => Progress::Waiting,
        }
    }
}
