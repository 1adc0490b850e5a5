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
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::net::UdpSocket;

use super::UdpCounts;
use super::guard::{Guard, Verdict};

/// Datagrams per system call.
pub const BATCH: usize = 32;

/// Room for any datagram (65,507 bytes of IPv4 payload; 65,527 over IPv6).
const SLOT: usize = 65_536;

/// Datagrams handled per readiness event before the socket yields to the
/// reactor's other work (and is driven again right after it).
const BUDGET: usize = 16 * BATCH;

pub struct UdpEcho {
    socket: UdpSocket,
    guard: Guard,
    batch: Box<Batch>,
    /// What the socket itself saw; the refusals are the guard's.
    counts: UdpCounts,
    /// The budget ran out with datagrams maybe still queued: no new edge
    /// will come for them, so the reactor drives the socket again.
    pub yielded: bool,
}

/// The buffers and headers of one batch; boxed so that the pointers the
/// headers hold stay valid while it is in use.
struct Batch {
    slots: Box<[u8]>,
    sources: [libc::sockaddr_storage; BATCH],
    received_iov: [libc::iovec; BATCH],
    received: [libc::mmsghdr; BATCH],
    replies_iov: [libc::iovec; BATCH],
    replies: [libc::mmsghdr; BATCH],
}

impl UdpEcho {
    pub fn new(socket: UdpSocket, guard: Guard) -> UdpEcho {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs
        // for which all-zero bytes are valid values.
        let batch = unsafe {
            Box::new(Batch {
                slots: vec![0; BATCH * SLOT].into_boxed_slice(),
                sources: zeroed(),
                received_iov: zeroed(),
                received: zeroed(),
                replies_iov: zeroed(),
                replies: zeroed(),
            })
        };
        UdpEcho {
            socket,
            guard,
            batch,
            counts: UdpCounts::default(),
            yielded: false,
        }
    }

    /// Reads and answers until the socket is empty or the budget is spent.
    pub fn on_readable(&mut self, now: Instant) {
        self.yielded = false;
        let mut handled = 0;
        while handled < BUDGET {
            let received = match self.receive() {
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

    fn receive(&mut self) -> io::Result<usize> {
        let batch = &mut *self.batch;
        for i in 0..BATCH {
            batch.received_iov[i] = libc::iovec {
                iov_base: batch.slots[i * SLOT..].as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            let header = &mut batch.received[i].msg_hdr;
            header.msg_name = (&mut batch.sources[i] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_iov = &mut batch.received_iov[i];
            header.msg_iovlen = 1;
            header.msg_control = std::ptr::null_mut();
            header.msg_controllen = 0;
            header.msg_flags = 0;
            batch.received[i].msg_len = 0;
        }
        // SAFETY: every header points into `batch`, which outlives the call;
        // the kernel writes at most `msg_namelen` and `iov_len` bytes.
        let n = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                batch.received.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Sends back the first `received` datagrams of the batch that the
    /// guard lets through, in one `sendmmsg` (or more, past an error).
    fn answer(&mut self, received: usize, now: Instant) {
        let batch = &mut *self.batch;
        let mut replies = 0;
        for i in 0..received {
            let length = batch.received[i].msg_len as usize;
            self.counts.received += 1;
            let Some(source) = socket_addr(&batch.sources[i]) else {
                continue;
            };
            if self.guard.check(source, now) != Verdict::Answer {
                continue;
            }
            batch.replies_iov[replies] = libc::iovec {
                iov_base: batch.slots[i * SLOT..].as_mut_ptr().cast(),
                iov_len: length,
            };
            let header = &mut batch.replies[replies].msg_hdr;
            header.msg_name = (&mut batch.sources[i] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = batch.received[i].msg_hdr.msg_namelen;
            header.msg_iov = &mut batch.replies_iov[replies];
            header.msg_iovlen = 1;
            header.msg_control = std::ptr::null_mut();
            header.msg_controllen = 0;
            header.msg_flags = 0;
            replies += 1;
        }
        let mut sent = 0;
        while sent < replies {
            // SAFETY: headers `sent..replies` point into `batch`, alive for the call.
            let n = unsafe {
                libc::sendmmsg(
                    self.socket.as_raw_fd(),
                    batch.replies[sent..].as_mut_ptr(),
                    (replies - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT as _,
                )
            };
            if n > 0 {
                for header in &batch.replies[sent..sent + n as usize] {
                    self.counts.echoed += 1;
                    self.counts.bytes += u64::from(header.msg_len);
                }
                sent += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
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

/// The IPv4 or IPv6 address a `sockaddr_storage` holds.
fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::new(ip.into(), u16::from_be(sin6.sin6_port)))
        }
        _ => None,
    }
}
