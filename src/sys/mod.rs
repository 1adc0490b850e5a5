//! System calls that the crates in use do not wrap, each behind a safe
//! interface: the crate's `unsafe` lives here and nowhere else, each block
//! with its safety comment. `mmsg.rs` reads and answers datagrams in
//! batches (the UDP echo), `uring.rs` makes many sends one submission
//! (bench); the rest is here: socket options, timers, interfaces.

pub mod mmsg;
pub mod uring;

use std::io;
use std::os::fd::AsRawFd;

/// `SO_ATTACH_REUSEPORT_CBPF` (asm-generic/socket.h; libc names it for
/// Android only).
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

/// Attaches a classic BPF program that picks, for each packet, the index of
/// the socket in `member`'s `SO_REUSEPORT` group that receives it.
pub fn attach_reuseport_cbpf(member: &impl AsRawFd, program: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| io::Error::other("BPF program too long"))?;
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `program`, alive for the call; the kernel
    // copies the program and never writes through the pointer.
    let rc = unsafe {
        libc::setsockopt(
            member.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&raw const fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets an integer socket option socket2 does not wrap
/// (`IP_BIND_ADDRESS_NO_PORT`, say).
pub fn set_int_option(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt on a descriptor the caller owns, with a pointer to
    // a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads an integer socket option socket2 does not wrap (`TCP_MAXSEG`).
pub fn int_option(socket: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt on a descriptor the caller owns, into a live c_int
    // with its size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw mut value).cast(),
            &raw mut length,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What the kernel knows of one TCP connection's path (`TCP_INFO`), the
/// figures iperf3 and `ss -ti` show.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TcpInfo {
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u32,
    /// Segments the kernel now thinks lost.
    pub lost: u32,
    /// Reorderings seen.
    pub reord_seen: u32,
    /// Smoothed round-trip time and its mean deviation, microseconds.
    pub rtt_us: u32,
    pub rttvar_us: u32,
    /// Congestion window, segments.
    pub snd_cwnd: u32,
    /// The latest delivery rate estimate, bytes per second.
    pub delivery_rate: u64,
}

/// `TCP_INFO` of a connected TCP socket. Fields newer than the running
/// kernel stay zero (it copies only the length it knows).
pub fn tcp_info(socket: &impl AsRawFd) -> io::Result<TcpInfo> {
    // SAFETY: an all-zero tcp_info is a valid value of that plain C struct.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt on a descriptor the caller owns, into a live
    // tcp_info with its size; the kernel writes at most `length` bytes.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &raw mut length,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo {
        total_retrans: info.tcpi_total_retrans,
        lost: info.tcpi_lost,
        reord_seen: info.tcpi_reord_seen,
        rtt_us: info.tcpi_rtt,
        rttvar_us: info.tcpi_rttvar,
        snd_cwnd: info.tcpi_snd_cwnd,
        delivery_rate: info.tcpi_delivery_rate,
    })
}

/// A non-blocking, close-on-exec timerfd on the monotonic clock.
pub fn timerfd_create() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: timerfd_create takes no pointers; the result is checked.
    let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Arms `timer` to fire once, `after` from now (zero disarms it).
pub fn timerfd_set(timer: &impl AsRawFd, after: std::time::Duration) -> io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: after.as_secs() as _,
            tv_nsec: after.subsec_nanos() as libc::c_long,
        },
    };
    // SAFETY: `spec` lives across the call, and the old value is not asked for.
    let rc = unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// This thread's timer slack (how late the kernel may fire its timers to
/// batch wake-ups), in nanoseconds. Best effort: the kernel's default stays
/// if it refuses.
pub fn set_timer_slack(nanoseconds: libc::c_ulong) {
    // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, nanoseconds) };
}

/// Clock ticks per second, the unit of /proc's CPU times.
pub fn clock_ticks_per_second() -> libc::c_long {
    // SAFETY: sysconf only reads a configuration value.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }
}

/// The broadcast addresses of this host's IPv4 interfaces.
pub fn ipv4_broadcast_addresses() -> Vec<std::net::Ipv4Addr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read, then
    // free with freeifaddrs; each pointer is checked before use.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut entry = list;
        while !entry.is_null() {
            let ifa = &*entry;
            let broadcast = ifa.ifa_ifu;
            if ifa.ifa_flags & libc::IFF_BROADCAST as u32 != 0
                && !broadcast.is_null()
                && i32::from((*broadcast).sa_family) == libc::AF_INET
            {
                let sin = &*(broadcast as *const libc::sockaddr_in);
                found.push(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            entry = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}
