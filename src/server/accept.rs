//! The doors: everything between a client's connect and its first byte
//! served. Accepting from the listeners under `--max-connections` (true
//! across reactors) and the per-source cap, the out-of-descriptors
//! back-off, and the PROXY gate (`serve --proxy-protocol`) a connection
//! passes first. What comes out is an [`Arrival`], which the reactor seats
//! in its slab; each seat is handed back through [`Doors::left`].

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::{Registry, Token};

use super::admission::Admission;
use super::limits::{DeadPeers, PerSource};
use super::proxy::{Outcome, ProxyGate};
use super::stats::{Summary, plural};
use crate::error::describe;
use crate::transport::{Accepted, Listener, Peer, Stream};

/// How long to stop accepting after the process or system ran out of file
/// descriptors or memory: long enough not to spin, short enough that clients
/// in the backlog are picked up soon after something frees up.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A client let in, ready to be served.
pub(super) struct Arrival {
    pub stream: Stream,
    /// Who the client is: the PROXY header's source, or the peer itself.
    pub client: Peer,
    /// Who connected: a proxy, or the client itself.
    pub peer: Peer,
    /// It passed a PROXY header: bytes may already wait behind it, and no
    /// new edge will announce them.
    pub proxied: bool,
}

impl Arrival {
    /// The client's address, `None` over a Unix socket.
    pub fn client_ip(&self) -> Option<IpAddr> {
        ip_of(self.client)
    }
}

pub(super) struct Doors {
    /// "reactor N: " with `--threads`, so log lines say which one.
    tag: String,
    /// Emptied once stopping: new clients are refused.
    listeners: Vec<Listener>,
    /// The listener `accept_next` takes the next client from.
    cursor: usize,
    admission: Arc<Admission>,
    /// Accepting stopped at `--max-connections`; clients wait in the
    /// backlog and are accepted as soon as a connection closes anywhere.
    at_capacity: bool,
    /// Set while accepting is paused after running out of descriptors.
    paused_until: Option<Instant>,
    /// `--proxy-protocol`: connections waiting for their header.
    proxy: Option<ProxyGate>,
    /// `--max-connections-per-ip`, shared with the other reactors.
    per_source: Option<PerSource>,
    /// Socket options that find vanished peers.
    dead_peers: DeadPeers,
}

impl Doors {
    pub fn new(
        tag: String,
        listeners: Vec<Listener>,
        admission: Arc<Admission>,
        proxy: Option<ProxyGate>,
        per_source: Option<PerSource>,
        dead_peers: DeadPeers,
    ) -> Doors {
        Doors {
            tag,
            listeners,
            cursor: 0,
            admission,
            at_capacity: false,
            paused_until: None,
            proxy,
            per_source,
            dead_peers,
        }
    }

    /// The next client let in from the listeners, until each would block
    /// or the connection cap is reached. One at a time, each seated before
    /// the next is accepted: no list of a burst's clients is ever held (one
    /// grown to a burst of thousands stayed allocated, and 10,000 idle
    /// connections cost 32-49 bytes each instead of 30).
    /// `open`: this reactor's connections, for the log.
    pub fn accept_next(
        &mut self,
        registry: &Registry,
        now: Instant,
        open: usize,
        summary: &mut Summary,
    ) -> Option<Arrival> {
        while self.cursor < self.listeners.len() {
            if !self.admission.claim() {
                if !self.at_capacity {
                    debug!(
                        "at {} connections: new clients wait in the backlog",
                        self.admission.limit()
                    );
                }
                self.at_capacity = true;
                break;
            }
            self.at_capacity = false;
            match self.listeners[self.cursor].accept() {
                Ok(client) => {
                    self.paused_until = None;
                    if let Some(arrival) = self.let_in(client, registry, now, summary) {
                        return Some(arrival);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.admission.release(1);
                    self.cursor += 1;
                }
                Err(err) if is_out_of_resources(&err) => {
                    self.admission.release(1);
                    summary.accept_errors += 1;
                    if self.paused_until.is_none() {
                        summary.accept_backoffs += 1;
                        warn!(
                            "cannot accept: {} ({} open); retrying every {:?}",
                            describe(&err),
                            plural(open as u64, "connection"),
                            ACCEPT_BACKOFF
                        );
                    }
                    self.paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    break;
                }
                // ECONNABORTED and the like concern one client only.
                Err(err) => {
                    self.admission.release(1);
                    summary.accept_errors += 1;
                    debug!("accept failed: {}", describe(&err));
                }
            }
        }
        // Every listener was asked: the next readiness starts from the first.
        self.cursor = 0;
        None
    }

    /// A new client: let in at once, or first made to send its PROXY header
    /// (TCP only: a Unix socket's clients are local processes).
    fn let_in(
        &mut self,
        client: Accepted,
        registry: &Registry,
        now: Instant,
        summary: &mut Summary,
    ) -> Option<Arrival> {
        let (stream, peer) = match client {
            Accepted::Tcp(stream, peer) if self.proxy.is_some() => (stream, peer),
            Accepted::Tcp(stream, peer) => {
                let arrival = Arrival {
                    stream: Stream::from_tcp(stream),
                    client: Peer::Ip(peer),
                    peer: Peer::Ip(peer),
                    proxied: false,
                };
                return self.arrive(arrival, now, summary);
            }
            Accepted::Unix(stream) => {
                let arrival = Arrival {
                    stream: Stream::from_unix(stream),
                    client: Peer::Local,
                    peer: Peer::Local,
                    proxied: false,
                };
                return self.arrive(arrival, now, summary);
            }
        };
        let gate = self.proxy.as_mut()?;
        if !gate.trusts(peer.ip()) {
            self.admission.release(1);
            summary.proxy_rejected += 1;
            debug!(
                "{}connection from {peer} closed: not a trusted proxy (--proxy-trust)",
                self.tag
            );
            return None;
        }
        if let Err(err) = gate.admit(registry, stream, peer, now) {
            self.admission.release(1);
            debug!("cannot set up connection from {peer}: {}", describe(&err));
        }
        None
    }

    /// A connection waiting for its PROXY header has sent something.
    pub fn on_proxy_readable(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
        summary: &mut Summary,
    ) -> Option<Arrival> {
        let gate = self.proxy.as_mut()?;
        match gate.on_readable(registry, token) {
            Outcome::Waiting => None,
            Outcome::Rejected(peer, why) => {
                self.admission.release(1);
                summary.proxy_rejected += 1;
                debug!("{}connection from {peer} closed: {why}", self.tag);
                None
            }
            Outcome::Ready { stream, client, peer } => {
                summary.proxy_accepted += 1;
                let arrival = Arrival {
                    stream: Stream::from_tcp(stream),
                    client: Peer::Ip(client),
                    peer: Peer::Ip(peer),
                    proxied: true,
                };
                self.arrive(arrival, now, summary)
            }
        }
    }

    /// The last check before a client is served: its source's cap, and the
    /// socket options every echo connection gets.
    fn arrive(&mut self, arrival: Arrival, now: Instant, summary: &mut Summary) -> Option<Arrival> {
        if let (Some(per_source), Some(ip)) = (&mut self.per_source, ip_of(arrival.client))
            && let Err(say) = per_source.admit(ip, now)
        {
            self.admission.release(1);
            summary.per_ip_rejected += 1;
            if say {
                info!(
                    "{}connections from {} over --max-connections-per-ip are closed at accept \
                     (said once per 10 s per source; all are counted)",
                    self.tag, ip
                );
            }
            return None;
        }
        if let Peer::Ip(_) = arrival.peer {
            // Echo traffic is small request/response pairs: Nagle would hold
            // each reply back for the peer's delayed ACK.
            let socket = arrival.stream.socket();
            let options = socket
                .set_tcp_nodelay(true)
                .and_then(|()| self.dead_peers.apply(socket));
            if let Err(err) = options {
                self.turned_away(arrival.client, &err);
                return None;
            }
        }
        Some(arrival)
    }

    /// The arrival now sits at `key` in the reactor's slab.
    pub fn seated(&mut self, key: usize, arrival: &Arrival) {
        if let (Some(per_source), Some(ip)) = (&mut self.per_source, ip_of(arrival.client)) {
            per_source.opened(key, ip);
        }
    }

    /// The arrival could not be set up (registering its socket failed).
    pub fn turned_away(&mut self, client: Peer, err: &io::Error) {
        self.admission.release(1);
        if let (Some(per_source), Some(ip)) = (&mut self.per_source, ip_of(client)) {
            per_source.release(ip);
        }
        debug!("cannot set up connection from {client}: {}", describe(err));
    }

    /// The connection seated at `key` closed: its place is free again,
    /// here and for every other reactor.
    #[inline]
    pub fn left(&mut self, key: usize) {
        self.admission.release(1);
        if let Some(per_source) = &mut self.per_source {
            per_source.closed(key);
        }
    }

    /// PROXY headers that did not come in time.
    #[inline]
    pub fn expire(&mut self, registry: &Registry, now: Instant, summary: &mut Summary) {
        if self.proxy.is_some() {
            self.expire_headers(registry, now, summary);
        }
    }

    fn expire_headers(&mut self, registry: &Registry, now: Instant, summary: &mut Summary) {
        let Some(gate) = &mut self.proxy else { return };
        let timeout = gate.timeout();
        let mut expired = Vec::new();
        gate.expire(registry, now, &mut expired);
        self.admission.release(expired.len());
        for peer in expired {
            summary.proxy_rejected += 1;
            debug!(
                "{}connection from {peer} closed: no complete PROXY header within {timeout:?}",
                self.tag
            );
        }
    }

    /// Accepting should be tried again: the back-off passed, or a place
    /// freed up under the cap.
    #[inline]
    pub fn should_retry(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|until| now >= until)
            || (self.at_capacity && self.admission.room_or_wait())
    }

    /// Stops accepting for good (a graceful stop): the listeners go, and
    /// so do the connections still waiting for their PROXY header.
    pub fn close(&mut self, registry: &Registry) {
        for mut listener in self.listeners.drain(..) {
            let _ = registry.deregister(&mut listener);
        }
        if let Some(gate) = &mut self.proxy {
            let closed = gate.close_all(registry);
            self.admission.release(closed);
            if closed > 0 {
                debug!(
                    "{}closed {closed} connections still waiting for their PROXY header",
                    self.tag
                );
            }
        }
    }

    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.proxy {
            None => self.paused_until,
            Some(gate) => [self.paused_until, gate.next_deadline()]
                .into_iter()
                .flatten()
                .min(),
        }
    }

    /// Connections waiting for their PROXY header, for the figures.
    pub fn proxy_waiting(&self) -> usize {
        self.proxy.as_ref().map_or(0, ProxyGate::len)
    }
}

fn ip_of(client: Peer) -> Option<IpAddr> {
    match client {
        Peer::Ip(addr) => Some(addr.ip()),
        Peer::Local => None,
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
