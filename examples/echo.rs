//! A whole readiness-based echo server in one file, on mio and slab alone:
//! read this first. `mio-echo serve` is this loop grown up (reactors,
//! limits, TLS, UDP, a graceful stop); the rules below are the same there.
//!
//! ```sh
//! cargo run --example echo                  # listens on 127.0.0.1:10000
//! cargo run --example echo 127.0.0.1:0      # port 0: the system picks one
//! ```
//!
//! 1. One `Poll` waits for readiness of every socket at once.
//! 2. Connections live in a `Slab`; a connection's key is its `Token`, so an
//!    event leads straight to its state.
//! 3. Events are edge-triggered: "readable" is said once, when data arrives.
//!    So each socket is read until `WouldBlock`, or that data would wait for
//!    an edge that never comes.
//! 4. A write may take only part of what is offered: the rest waits in the
//!    connection (`pending`) for the next "writable" edge.
//! 5. Backpressure: while `MAX_PENDING` bytes wait for a client that does not
//!    read, we stop reading it. Its bytes then fill the kernel's buffers and
//!    its own writes block: memory stays flat however much it sends.
//! 6. Half-close: at the client's EOF we still send back everything owed,
//!    then close (which sends our FIN).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

/// The listener's token: above any slab key.
const LISTENER: Token = Token(usize::MAX);

/// Bytes owed to one client before we stop reading from it.
const MAX_PENDING: usize = 64 * 1024;

/// One client: its socket, and what it sent that has not gone back yet.
struct Connection {
    stream: TcpStream,
    /// Echo owed to the client; `pending[written..]` is still to write.
    pending: Vec<u8>,
    written: usize,
    /// The client sent EOF: nothing more to read.
    read_closed: bool,
}

/// What a connection needs next.
enum Next {
    /// Wait for its next event.
    Wait,
    /// Everything echoed after the client's EOF: close it.
    Close,
}

impl Connection {
    /// Moves as many bytes as the socket allows now, both ways.
    fn drive(&mut self) -> io::Result<Next> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            // Write back what is owed, as far as the socket takes it.
            while self.written < self.pending.len() {
                match self.stream.write(&self.pending[self.written..]) {
                    Ok(n) => self.written += n,
                    // Full: the next "writable" edge brings us back here.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
            if self.written == self.pending.len() {
                self.pending.clear();
                self.written = 0;
                if self.read_closed {
                    return Ok(Next::Close);
                }
            }
            // Backpressure: no more reading while this much is owed. The
            // "writable" edge that drains it will call us again.
            if self.read_closed || self.pending.len() - self.written >= MAX_PENDING {
                return Ok(Next::Wait);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => self.read_closed = true,
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                // Read dry: the next "readable" edge brings more.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Next::Wait),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}

fn main() -> io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:10000".into())
        .parse()
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, format!("ADDR: {err}")))?;
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening on {}", listener.local_addr()?);

    let mut connections: Slab<Connection> = Slab::new();
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(err) = poll.poll(&mut events, None) {
            if err.kind() == io::ErrorKind::Interrupted {
                continue; // a signal woke us: nothing happened
            }
            return Err(err);
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => accept_all(&listener, &poll, &mut connections)?,
                Token(key) => {
                    // A stale event: its connection closed earlier in this batch.
                    let Some(connection) = connections.get_mut(key) else {
                        continue;
                    };
                    let next = connection.drive().unwrap_or_else(|err| {
                        eprintln!("connection {key}: {err}");
                        Next::Close
                    });
                    if let Next::Close = next {
                        let mut connection = connections.remove(key);
                        poll.registry().deregister(&mut connection.stream)?;
                        // Dropping the stream closes it: our FIN goes out.
                    }
                }
            }
        }
    }
}

/// Accepts every waiting client (until `WouldBlock`: edge-triggered too).
fn accept_all(listener: &TcpListener, poll: &Poll, connections: &mut Slab<Connection>) -> io::Result<()> {
    loop {
        let (mut stream, _peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            // Out of descriptors, say: the clients wait in the backlog until
            // the next arrival's edge (mio-echo serve retries on a timer).
            Err(err) => {
                eprintln!("accept: {err}");
                return Ok(());
            }
        };
        let entry = connections.vacant_entry();
        // Both directions, once: no system call per message to re-arm.
        let interest = Interest::READABLE | Interest::WRITABLE;
        poll.registry()
            .register(&mut stream, Token(entry.key()), interest)?;
        entry.insert(Connection {
            stream,
            pending: Vec::new(),
            written: 0,
            read_closed: false,
        });
    }
}
