//! Datagrams in batches: `recvmmsg(2)` and `sendmmsg(2)`, up to [`BATCH`]
//! datagrams a system call each way, over buffers and headers that stay
//! put (boxed) for as long as the kernel may look at them.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Datagrams per system call.
pub const BATCH: usize = 32;

/// Room for any datagram (65,507 bytes of IPv4 payload; 65,527 over IPv6).
const SLOT: usize = 65_536;

/// The buffers and headers of one batch: what `receive` read, and the
/// replies `reply` queued for `send`.
pub struct Datagrams {
    slots: Box<[u8]>,
    sources: [libc::sockaddr_storage; BATCH],
    received_iov: [libc::iovec; BATCH],
    received: [libc::mmsghdr; BATCH],
    replies_iov: [libc::iovec; BATCH],
    replies: [libc::mmsghdr; BATCH],
    /// Replies queued, at the start of `replies`.
    queued: usize,
}

impl Datagrams {
    pub fn new() -> Box<Datagrams> {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs
        // for which all-zero bytes are valid values.
        unsafe {
            Box::new(Datagrams {
                slots: vec![0; BATCH * SLOT].into_boxed_slice(),
                sources: zeroed(),
                received_iov: zeroed(),
                received: zeroed(),
                replies_iov: zeroed(),
                replies: zeroed(),
                queued: 0,
            })
        }
    }

    /// Reads up to [`BATCH`] datagrams without blocking; returns how many.
    /// Queued replies are forgotten: their buffers are reused.
    pub fn receive(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        self.queued = 0;
        for i in 0..BATCH {
            self.received_iov[i] = libc::iovec {
                iov_base: self.slots[i * SLOT..].as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            let header = &mut self.received[i].msg_hdr;
            header.msg_name = (&raw mut self.sources[i]).cast();
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_iov = &raw mut self.received_iov[i];
            header.msg_iovlen = 1;
            header.msg_control = std::ptr::null_mut();
            header.msg_controllen = 0;
            header.msg_flags = 0;
            self.received[i].msg_len = 0;
        }
        // SAFETY: every header points into `self`, which outlives the call;
        // the kernel writes at most `msg_namelen` and `iov_len` bytes.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.received.as_mut_ptr(),
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

    /// Where datagram `i` of the last `receive` came from (`None` for an
    /// address family other than IPv4 and IPv6).
    pub fn source(&self, i: usize) -> Option<SocketAddr> {
        socket_addr(&self.sources[i])
    }

    /// Queues datagram `i` of the last `receive` to go back, unchanged, to
    /// where it came from.
    pub fn reply(&mut self, i: usize) {
        let length = self.received[i].msg_len as usize;
        self.replies_iov[self.queued] = libc::iovec {
            iov_base: self.slots[i * SLOT..].as_mut_ptr().cast(),
            iov_len: length,
        };
        let header = &mut self.replies[self.queued].msg_hdr;
        header.msg_name = (&raw mut self.sources[i]).cast();
        header.msg_namelen = self.received[i].msg_hdr.msg_namelen;
        header.msg_iov = &raw mut self.replies_iov[self.queued];
        header.msg_iovlen = 1;
        header.msg_control = std::ptr::null_mut();
        header.msg_controllen = 0;
        header.msg_flags = 0;
        self.queued += 1;
    }

    /// Replies queued since the last `receive`.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Sends the queued replies from `from` on, without blocking; returns
    /// how many went and their bytes.
    pub fn send(&mut self, socket: &impl AsRawFd, from: usize) -> io::Result<(usize, u64)> {
        let pending = &mut self.replies[from..self.queued];
        // SAFETY: these headers point into `self`, alive for the call.
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                pending.as_mut_ptr(),
                pending.len() as libc::c_uint,
                libc::MSG_DONTWAIT as _,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let sent = &self.replies[from..from + n as usize];
        Ok((
            sent.len(),
            sent.iter().map(|header| u64::from(header.msg_len)).sum(),
        ))
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
