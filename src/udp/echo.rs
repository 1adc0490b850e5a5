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
            handled += self.answer(received, now);
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
    fn answer(&mut self, received: usize, now: Instant) -> usize {
        let mut datagrams = 0;
        for i in 0..received {
            let length = self.batch.len(i);
            // A train (UDP_GRO) is several datagrams of one source.
            let segment = self
                .batch
                .segment_size(i)
                .filter(|size| *size < length)
                .unwrap_or(length.max(1));
            let count = length.div_ceil(segment).max(1);
            datagrams += count;
            self.counts.received += count as u64;
            if count > 1 {
                self.counts.trains += 1;
            }
            let Some(source) = self.batch.source(i) else {
                continue;
            };
            // The guard judges each datagram: those it lets through are the
            // first ones (its tokens only run out within a batch).
            let answered = (0..count)
                .filter(|_| self.guard.check(source, now) == Verdict::Answer)
                .count();
            if answered > 0 {
                self.batch.reply(i, segment, answered as u64);
            }
        }
        let replies = self.batch.queued();
        let mut sent = 0;
        while sent < replies {
            let err = match self.batch.send(&self.socket, sent) {
                Ok((n, echoed, bytes)) if n > 0 => {
                    self.counts.echoed += echoed;
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
                    self.counts.dropped += self.batch.datagrams_from(sent);
                    return datagrams;
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
        datagrams
    }
}
