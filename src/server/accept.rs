//! Accepting: limits, the out-of-descriptors back-off, and the PROXY gate
//! (`serve --proxy-protocol`) a connection passes before it is served.

use std::io;
use std::time::Instant;

use crate::transport::{Accepted, Peer, Stream};
use log::{debug, info, warn};
use mio::{Interest, Token};

use super::proxy::Outcome;
use super::reactor::{ACCEPT_BACKOFF, Reactor};
use super::stats::plural;
use crate::error::describe;
use crate::service::Service;

impl<S: Service> Reactor<S> {
    /// Accepts from every listener (TCP, and Unix with `--unix`) until
    /// each would block or the connection cap is reached.
    pub(super) fn accept_all(&mut self) {
        self.accept_from(false);
        self.accept_from(true);
    }

    fn accept_from(&mut self, unix: bool) {
        loop {
            let listener = if unix { &self.unix_listener } else { &self.listener };
            let Some(listener) = listener else { return };
            if !self.admission.claim() {
                if !self.at_capacity {
                    debug!(
                        "at {} connections: new clients wait in the backlog",
                        self.admission.limit()
                    );
                }
                self.at_capacity = true;
                return;
            }
            self.at_capacity = false;
            match listener.accept() {
                Ok(client) => {
                    self.accept_paused_until = None;
                    self.accepted(client);
                    continue;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.admission.release(1);
                    return;
                }
                Err(err) if is_out_of_resources(&err) => {
                    self.admission.release(1);
                    self.summary.accept_errors += 1;
                    if self.accept_paused_until.is_none() {
                        self.summary.accept_backoffs += 1;
                        warn!(
                            "cannot accept: {} ({} open); retrying every {:?}",
                            describe(&err),
                            plural(self.connections.len() as u64, "connection"),
                            ACCEPT_BACKOFF
                        );
                    }
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
                // ECONNABORTED and the like concern one client only.
                Err(err) => {
                    self.admission.release(1);
                    self.summary.accept_errors += 1;
                    debug!("accept failed: {}", describe(&err));
                }
            }
        }
    }

    /// A new client: served at once, or first made to send its PROXY header
    /// (TCP only: a Unix socket's clients are local processes).
    fn accepted(&mut self, client: Accepted) {
        let (stream, peer) = match client {
            Accepted::Tcp(stream, peer) if self.proxy.is_some() => (stream, peer),
            Accepted::Tcp(stream, peer) => {
                return self.serve(Stream::from_tcp(stream), Peer::Ip(peer), Peer::Ip(peer));
            }
            Accepted::Unix(stream) => return self.serve(Stream::from_unix(stream), Peer::Local, Peer::Local),
        };
        let Some(gate) = &mut self.proxy else { return };
        if !gate.trusts(peer.ip()) {
            self.admission.release(1);
            self.summary.proxy_rejected += 1;
            debug!(
                "{}connection from {peer} closed: not a trusted proxy (--proxy-trust)",
                self.tag
            );
            return;
        }
        if let Err(err) = gate.admit(self.poll.registry(), stream, peer, self.now) {
            self.admission.release(1);
            debug!("cannot set up connection from {peer}: {}", describe(&err));
        }
    }

    /// A connection waiting for its PROXY header has sent something.
    pub(super) fn on_proxy_readable(&mut self, token: Token) {
        let Some(gate) = &mut self.proxy else { return };
        match gate.on_readable(self.poll.registry(), token) {
            Outcome::Waiting => {}
            Outcome::Rejected(peer, why) => {
                self.admission.release(1);
                self.summary.proxy_rejected += 1;
                debug!("{}connection from {peer} closed: {why}", self.tag);
            }
            Outcome::Ready { stream, client, peer } => {
                self.summary.proxy_accepted += 1;
                self.serve(Stream::from_tcp(stream), Peer::Ip(client), Peer::Ip(peer));
            }
        }
    }

    /// PROXY headers that did not come in time.
    pub(super) fn expire_proxy_headers(&mut self) {
        let Some(gate) = &mut self.proxy else { return };
        let timeout = gate.timeout();
        let mut expired = Vec::new();
        gate.expire(self.poll.registry(), self.now, &mut expired);
        self.admission.release(expired.len());
        for peer in expired {
            self.summary.proxy_rejected += 1;
            debug!(
                "{}connection from {peer} closed: no complete PROXY header within {timeout:?}",
                self.tag
            );
        }
    }

    fn serve(&mut self, stream: Stream, client: Peer, peer: Peer) {
        let client_ip = match client {
            Peer::Ip(addr) => Some(addr.ip()),
            Peer::Local => None,
        };
        if let (Some(per_source), Some(ip)) = (&mut self.per_source, client_ip)
            && let Err(say) = per_source.admit(ip, self.now)
        {
            self.admission.release(1);
            self.summary.per_ip_rejected += 1;
            if say {
                info!(
                    "{}connections from {} over --max-connections-per-ip are closed at accept \
                     (said once per 10 s per source; all are counted)",
                    self.tag, ip
                );
            }
            return;
        }
        match self.add_connection(stream, client, peer) {
            Ok(key) => {
                if let (Some(per_source), Some(ip)) = (&mut self.per_source, client_ip) {
                    per_source.opened(key, ip);
                }
                if self.proxy.is_some() {
                    // Bytes may already wait behind a PROXY header: no new
                    // edge will announce them.
                    self.drive(key);
                }
            }
            Err(err) => {
                self.admission.release(1);
                if let (Some(per_source), Some(ip)) = (&mut self.per_source, client_ip) {
                    per_source.release(ip);
                }
                debug!("cannot set up connection from {client}: {}", describe(&err));
            }
        }
    }

    fn add_connection(&mut self, mut stream: Stream, client: Peer, peer: Peer) -> io::Result<usize> {
        if let Peer::Ip(_) = peer {
            // Echo traffic is small request/response pairs: Nagle would hold
            // each reply back for the peer's delayed ACK.
            stream.socket().set_tcp_nodelay(true)?;
            self.dead_peers.apply(stream.socket())?;
        }
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        // Registered once for both directions: no epoll_ctl per message.
        self.poll
            .registry()
            .register(&mut stream, Token(key), Interest::READABLE | Interest::WRITABLE)?;
        if log::log_enabled!(log::Level::Debug) {
            // As seed 002's server prints both ends; getsockname only when asked for.
            let local = stream.local_name();
            let via = if client == peer {
                String::new()
            } else {
                format!(" via {peer}")
            };
            debug!("{}connection {key} from {client}{via} to {local}", self.tag);
        }
        entry.insert(self.service.open(stream));
        if let Some(idle) = &mut self.idle {
            idle.opened(key, self.now);
        }
        if let Some(handshakes) = &mut self.handshakes {
            handshakes.opened(key, self.now);
        }
        self.summary.connections += 1;
        Ok(key)
    }
}

/// Accept errors that concern the whole process, not one client: retrying at
/// once would only spin.
fn is_out_of_resources(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
