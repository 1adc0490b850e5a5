//! Socket options a client sets before it connects, as iperf3, ncat and
//! socat let their users: buffers, MSS, TOS, congestion control, device,
//! Nagle, source address. Each is read back after it is set and the value
//! the kernel took is what gets reported: a call that "succeeded" but did
//! not take (a buffer clamped to `wmem_max`, say) is not trusted.

use std::net::SocketAddr;

use socket2::Socket;

type BufferSet = fn(&Socket, usize) -> std::io::Result<()>;
type BufferGet = fn(&Socket) -> std::io::Result<usize>;

/// The options asked for; `None`: the system's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Knobs {
    /// `--bind ADDR[:PORT]`: the source address (and port).
    pub bind: Option<SocketAddr>,
    pub sndbuf: Option<usize>,
    pub rcvbuf: Option<usize>,
    /// `TCP_MAXSEG`, bytes.
    pub mss: Option<u32>,
    /// The IP TOS byte (DSCP and ECN); IPv6's traffic class.
    pub tos: Option<u8>,
    pub congestion: Option<String>,
    /// `SO_BINDTODEVICE`.
    pub bind_dev: Option<String>,
    /// `TCP_NODELAY`: `Some(false)` is `--delay` (Nagle on).
    pub nodelay: Option<bool>,
}

impl Knobs {
    pub fn is_default(&self) -> bool {
        *self == Knobs::default()
    }

    /// Sets every option asked for on an unconnected TCP socket, checks
    /// each by reading it back, and binds; returns what the kernel took,
    /// for `--verbose`.
    pub fn apply(&self, socket: &Socket, ipv6: bool) -> Result<String, String> {
        let failed = |what: &str, err: std::io::Error| format!("{what}: {}", crate::error::describe(&err));
        let mut took = Vec::new();
        // The kernel doubles a buffer size it is given (for its bookkeeping)
        // and clamps it to net.core.wmem_max / rmem_max.
        let buffers: [(&str, Option<usize>, BufferSet, BufferGet, &str); 2] = [
            (
                "sndbuf",
                self.sndbuf,
                Socket::set_send_buffer_size,
                Socket::send_buffer_size,
                "wmem_max",
            ),
            (
                "rcvbuf",
                self.rcvbuf,
                Socket::set_recv_buffer_size,
                Socket::recv_buffer_size,
                "rmem_max",
            ),
        ];
        for (name, size, set, get, cap) in buffers {
            let Some(size) = size else { continue };
            let flag = format!("--{name}");
            let got = set(socket, size)
                .and_then(|()| get(socket))
                .map_err(|e| failed(&flag, e))?;
            if got < size {
                return Err(format!(
                    "{flag} {size}: the kernel took {got} (net.core.{cap} caps it)"
                ));
            }
            took.push(format!("{name} {got}"));
        }
        if let Some(mss) = self.mss {
            crate::sys::set_int_option(socket, libc::IPPROTO_TCP, libc::TCP_MAXSEG, mss as libc::c_int)
                .map_err(|e| failed("--mss", e))?;
            let got = crate::sys::int_option(socket, libc::IPPROTO_TCP, libc::TCP_MAXSEG)
                .map_err(|e| failed("--mss", e))?;
            if got != mss as libc::c_int {
                return Err(format!("--mss {mss}: the kernel took {got}"));
            }
            took.push(format!("mss {got}"));
        }
        if let Some(tos) = self.tos {
            let got = if ipv6 {
                socket
                    .set_tclass_v6(u32::from(tos))
                    .and_then(|()| socket.tclass_v6())
            } else {
                socket.set_tos_v4(u32::from(tos)).and_then(|()| socket.tos_v4())
            }
            .map_err(|e| failed("--tos", e))?;
            if got != u32::from(tos) {
                return Err(format!("--tos {tos:#04x}: the kernel took {got:#04x}"));
            }
            took.push(format!("tos {got:#04x}"));
        }
        if let Some(name) = &self.congestion {
            if let Err(err) = socket.set_tcp_congestion(name.as_bytes()) {
                let available =
                    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
                        .unwrap_or_default();
                return Err(format!(
                    "--congestion {name}: {} (this kernel has: {})",
                    crate::error::describe(&err),
                    available.trim()
                ));
            }
            let got = congestion(socket).map_err(|e| failed("--congestion", e))?;
            if got != *name {
                return Err(format!("--congestion {name}: the kernel took {got}"));
            }
            took.push(format!("congestion {got}"));
        }
        if let Some(device) = &self.bind_dev {
            socket
                .bind_device(Some(device.as_bytes()))
                .map_err(|e| failed(&format!("--bind-dev {device}"), e))?;
            let got = socket
                .device()
                .map_err(|e| failed("--bind-dev", e))?
                .unwrap_or_default();
            if got != device.as_bytes() {
                return Err(format!(
                    "--bind-dev {device}: the socket is bound to {}",
                    String::from_utf8_lossy(&got)
                ));
            }
            took.push(format!("device {device}"));
        }
        if let Some(nodelay) = self.nodelay {
            socket
                .set_tcp_nodelay(nodelay)
                .map_err(|e| failed("--no-delay/--delay", e))?;
            let got = socket
                .tcp_nodelay()
                .map_err(|e| failed("--no-delay/--delay", e))?;
            took.push(format!("nodelay {got}"));
        }
        if let Some(addr) = self.bind {
            socket
                .bind(&addr.into())
                .map_err(|e| failed(&format!("--bind {addr}"), e))?;
            if let Some(local) = socket.local_addr().ok().and_then(|a| a.as_socket()) {
                took.push(format!("bound {local}"));
            }
        }
        Ok(took.join(", "))
    }

    /// A TCP connection to `addr` with these options, within `timeout`.
    pub fn connect(
        &self,
        addr: SocketAddr,
        timeout: std::time::Duration,
    ) -> Result<(std::net::TcpStream, String), String> {
        let socket = Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .map_err(|err| format!("cannot open a socket: {}", crate::error::describe(&err)))?;
        let took = self.apply(&socket, addr.is_ipv6())?;
        socket
            .connect_timeout(&addr.into(), timeout)
            .map_err(|err| format!("cannot connect to {addr}: {}", crate::error::describe(&err)))?;
        Ok((socket.into(), took))
    }
}

/// The congestion control a socket uses, by name.
fn congestion(socket: &Socket) -> std::io::Result<String> {
    let name = socket.tcp_congestion()?;
    Ok(String::from_utf8_lossy(&name).trim_end_matches('\0').to_string())
}

/// What a connected TCP socket has, read from the kernel (`send --verbose`).
pub fn describe(socket: &Socket) -> String {
    let ipv6 = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .is_some_and(|a| a.is_ipv6());
    let tos = if ipv6 { socket.tclass_v6() } else { socket.tos_v4() };
    format!(
        "sndbuf {}, rcvbuf {}, mss {}, tos {:#04x}, congestion {}, nodelay {}",
        socket.send_buffer_size().unwrap_or(0),
        socket.recv_buffer_size().unwrap_or(0),
        crate::sys::int_option(socket, libc::IPPROTO_TCP, libc::TCP_MAXSEG).unwrap_or(0),
        tos.unwrap_or(0),
        congestion(socket).unwrap_or_default(),
        socket.tcp_nodelay().unwrap_or(false)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_reads_back_and_a_missing_algorithm_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let knobs = Knobs {
            bind: Some("127.0.0.2:0".parse().unwrap()),
            sndbuf: Some(64 * 1024),
            rcvbuf: Some(96 * 1024),
            mss: Some(1000),
            tos: Some(0x10),
            congestion: Some("reno".into()),
            bind_dev: Some("lo".into()),
            nodelay: Some(true),
        };
        let (stream, took) = knobs.connect(addr, std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(stream.local_addr().unwrap().ip().to_string(), "127.0.0.2");
        for part in [
            "sndbuf 131072",
            "rcvbuf 196608",
            "mss 1000",
            "tos 0x10",
            "congestion reno",
            "device lo",
            "nodelay true",
        ] {
            assert!(took.contains(part), "{part} not in {took}");
        }
        let wrong = Knobs {
            congestion: Some("no-such-algorithm".into()),
            ..Knobs::default()
        };
        let err = wrong
            .connect(addr, std::time::Duration::from_secs(5))
            .unwrap_err();
        assert!(
            err.contains("--congestion no-such-algorithm") && err.contains("this kernel has: "),
            "{err}"
        );
        assert!(Knobs::default().is_default() && !knobs.is_default());
    }
}
