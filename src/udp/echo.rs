//! One reactor's UDP echo socket: datagrams read and answered in batches,
//! `recvmmsg(2)` and `sendmmsg(2)`, up to [`BATCH`] a system call each way.
//!
//! Never blocks and never dies: a reply the socket will not take now is
//! dropped and counted (UDP promises nothing more, and a reply queued for
//! later would be memory any flood could grow); an ICMP error reported on
//! the socket (a port unreachable for an earlier reply, as ECONNREFUSED) is
//! counted and ignored. A datagram is echoed whole, up to the largest UDP
//! payload (65,507 bytes over IPv4), to its source, unchanged.

use std::io;
use std::time::Instant;

use mio::net::UdpSocket;

use super::UdpCounts;
use super::guard::{Guard, Verdict};
use crate::sys::mmsg::{BATCH, Datagrams};

/// Datagrams handled per readiness event before the socket yields to the
/// reactor's other work (and is driven again right after it).
const BUDGET: usize = 16 * BATCH;

pub struct UdpEcho {
    socket: UdpSocket,
    guard: Guard,
    batch: Box<Datagrams>,
    /// What the socket itself saw; the refusals are the guard's.
    counts: UdpCounts,
    /// The budget ran out with datagrams maybe still queued: no new edge
    /// will come for them, so the reactor drives the socket again.
    pub yielded: bool,
}

impl UdpEcho {
    pub fn new(socket: UdpSocket, guard: Guard) -> UdpEcho {
        UdpEcho {
            socket,
            guard,
            batch: Datagrams::new(),
            counts: UdpCounts::default(),
            yielded: false,
        }
    }

    /// Reads and answers until the socket is empty or the budget is spent.
    pub fn on_readable(&mut self, now: Instant) {
        self.yielded = false;
        let mut handled = 0;
        while handled < BUDGET {
            let received = match self.batch.receive(&self.socket) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    // An ICMP error for an earlier reply, reported here.
                    log::debug!("UDP socket error (ignored): {err}");
                    self.counts.errors += 1;
                    continue;
                }
            };
            handled += received;
            self.answer(received, now);
            if received < BATCH {
                // A short batch emptied the queue: a datagram arriving after
                // it is a new edge, so the call that would only say
                // WouldBlock is skipped.
                break;
            }
        }
        self.yielded = handled >= BUDGET;
    }

    /// When the guard's refusal summary is due, if one waits.
    pub fn next_log_deadline(&self) -> Option<Instant> {
        self.guard.next_log_deadline()
    }

    pub fn flush_log(&mut self, now: Option<Instant>) {
        self.guard.flush_log(now);
    }

    /// Everything counted so far: the socket's figures and the guard's.
    pub fn counts(&self) -> UdpCounts {
        let refusals = self.guard.refusals;
        UdpCounts {
            low_port: refusals.low_port,
            broadcast: refusals.broadcast,
            rate_limited: refusals.rate_limited,
            evicted: self.guard.evictions,
            ..self.counts
        }
    }

    /// Sends back the first `received` datagrams of the batch that the
    /// guard lets through, in one `sendmmsg` (or more, past an error).
    fn answer(&mut self, received: usize, now: Instant) {
        for i in 0..received {
            self.counts.received += 1;
            let Some(source) = self.batch.source(i) else {
                continue;
            };
            if self.guard.check(source, now) == Verdict::Answer {
                self.batch.reply(i);
            }
        }
        let replies = self.batch.queued();
        let mut sent = 0;
        while sent < replies {
            let err = match self.batch.send(&self.socket, sent) {
                Ok((n, bytes)) if n > 0 => {
                    self.counts.echoed += n as u64;
                    self.counts.bytes += bytes;
                    sent += n;
                    continue;
                }
                Ok(_) => io::Error::from(io::ErrorKind::WouldBlock),
                Err(err) => err,
            };
            match err.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    // The socket's send buffer is full: these replies go.
                    self.counts.dropped += (replies - sent) as u64;
                    return;
                }
                _ => {
                    // This datagram's reply failed (its source unreachable):
                    // skip it, send the rest.
                    log::debug!("UDP reply failed (dropped): {err}");
                    self.counts.errors += 1;
                    sent += 1;
                }
            }
        }
    }
}
