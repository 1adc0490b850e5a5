//! Datagrams in batches: `recvmmsg(2)` and `sendmmsg(2)`, up to [`BATCH`]
//! messages a system call each way, over buffers and headers that stay
//! put (boxed) for as long as the kernel may look at them.
//!
//! With `UDP_GRO` on the socket ([`enable_gro`]), one message can be a
//! *train*: several datagrams of one source, all of one size but the last,
//! that the kernel kept together (a sender using `UDP_SEGMENT`, say). Its
//! segment size comes with it ([`Datagrams::segment_size`]), and a reply
//! sent with that size (`UDP_SEGMENT`) leaves as the same datagrams.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Datagrams per system call.
pub const BATCH: usize = 32;

/// Room for any datagram (65,507 bytes of IPv4 payload; 65,527 over IPv6),
/// or any train (the kernel keeps one under 64 KiB).
const SLOT: usize = 65_536;

/// Room for one control message carrying an int (`UDP_GRO`) or a u16
/// (`UDP_SEGMENT`): `CMSG_SPACE(4)` is 24 bytes on 64-bit Linux.
const CONTROL: usize = 32;

/// Asks the kernel to hand over trains whole (see the module's doc).
pub fn enable_gro(socket: &impl AsRawFd) -> io::Result<()> {
    super::set_int_option(socket, libc::SOL_UDP, libc::UDP_GRO, 1)
}

/// The buffers and headers of one batch: what `receive` read, and the
/// replies `reply` queued for `send`.
pub struct Datagrams {
    slots: Box<[u8]>,
    sources: [libc::sockaddr_storage; BATCH],
    received_iov: [libc::iovec; BATCH],
    received: [libc::mmsghdr; BATCH],
    replies_iov: [libc::iovec; BATCH],
    replies: [libc::mmsghdr; BATCH],
    /// Control messages as received (a train's segment size), and as sent
    /// (`UDP_SEGMENT`); u64s for the alignment `cmsghdr` wants.
    received_control: [[u64; CONTROL / 8]; BATCH],
    replies_control: [[u64; CONTROL / 8]; BATCH],
    /// Datagrams in each queued reply (more than one for a train).
    replies_datagrams: [u64; BATCH],
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
                received_control: zeroed(),
                replies_control: zeroed(),
                replies_datagrams: zeroed(),
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
            header.msg_control = self.received_control[i].as_mut_ptr().cast();
            header.msg_controllen = CONTROL as _;
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

    /// The bytes of message `i` of the last `receive`.
    pub fn len(&self, i: usize) -> usize {
        self.received[i].msg_len as usize
    }

    /// Message `i`'s segment size, if it is a train (`UDP_GRO`): its
    /// datagrams are that long, the last one maybe shorter.
    pub fn segment_size(&self, i: usize) -> Option<usize> {
        let header = &self.received[i].msg_hdr;
        if header.msg_controllen == 0 {
            return None;
        }
        // SAFETY: the kernel wrote `msg_controllen` bytes of well-formed
        // control messages into `received_control[i]`, which the header
        // points at; the CMSG macros walk only within them.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(header);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == libc::UDP_GRO {
                    let size = libc::CMSG_DATA(cmsg).cast::<libc::c_int>().read_unaligned();
                    return usize::try_from(size).ok().filter(|size| *size > 0);
                }
                cmsg = libc::CMSG_NXTHDR(header, cmsg);
            }
        }
        None
    }

    /// Queues the first `datagrams` of message `i` of the last `receive`,
    /// cut at `segment` bytes (the whole message when it is one), to go
    /// back, unchanged, to where it came from.
    pub fn reply(&mut self, i: usize, segment: usize, datagrams: u64) {
        let length = (segment * datagrams as usize).min(self.received[i].msg_len as usize);
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
        if datagrams > 1 {
            let size = u16::try_from(segment).unwrap_or(u16::MAX);
            put_segment_size(header, &mut self.replies_control[self.queued], size);
        }
        self.replies_datagrams[self.queued] = datagrams;
        self.queued += 1;
    }

    /// Datagrams in the queued replies from `from` on.
    pub fn datagrams_from(&self, from: usize) -> u64 {
        self.replies_datagrams[from..self.queued].iter().sum()
    }

    /// Replies queued since the last `receive`.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Sends the queued replies from `from` on, without blocking; returns
    /// how many went, and their datagrams and bytes.
    pub fn send(&mut self, socket: &impl AsRawFd, from: usize) -> io::Result<(usize, u64, u64)> {
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
        let bytes = sent.iter().map(|header| u64::from(header.msg_len)).sum();
        let datagrams = self.replies_datagrams[from..from + n as usize].iter().sum();
        Ok((sent.len(), datagrams, bytes))
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

/// Sends `bytes` on a connected socket as datagrams of `segment` bytes
/// each (the last one maybe shorter) in one system call: `UDP_SEGMENT`.
pub fn send_segmented(socket: &impl AsRawFd, bytes: &[u8], segment: u16) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    let mut control = [0u64; CONTROL / 8];
    // SAFETY: all-zero bytes are a valid msghdr.
    let mut header: libc::msghdr = unsafe { zeroed() };
    header.msg_iov = &raw mut iov;
    header.msg_iovlen = 1;
    put_segment_size(&mut header, &mut control, segment);
    // SAFETY: the header points at `iov` and `control`, both alive for the
    // call, and the kernel only reads through them.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, libc::MSG_DONTWAIT) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// Points `header` at `control` and writes into it the one control message
/// `UDP_SEGMENT` takes: cut what is sent into datagrams of `segment` bytes.
/// The header must not be used past `control`'s life.
fn put_segment_size(header: &mut libc::msghdr, control: &mut [u64; CONTROL / 8], segment: u16) {
    header.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE of a u16 (24 bytes) fits `control` (CONTROL), to
    // which the header now points, so CMSG_FIRSTHDR is its start and every
    // write below stays inside it.
    unsafe {
        header.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(header);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
        libc::CMSG_DATA(cmsg).cast::<u16>().write_unaligned(segment);
    }
}
