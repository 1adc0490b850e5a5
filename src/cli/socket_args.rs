//! `--bind`, `--sndbuf`, `--rcvbuf`, `--mss`, `--tos`, `--congestion`,
//! `--bind-dev`, `--no-delay`/`--delay`: the socket options of a client's
//! connections (send, chat, bench), as iperf3, ncat and socat take them.

use clap::Args;

use super::values::{MAX_BYTES, parse_size};

/// Socket options of a client's connections (send, chat, bench), as
/// iperf3, ncat and socat take them; each is read back once set.
#[derive(Debug, Args)]
pub struct SocketArgs {
    /// Connect from ADDR[:PORT]: the source address (bench: an address only, as --source-ips)
    #[arg(help_heading = "Socket", long, value_name = "ADDR[:PORT]", value_parser = parse_bind)]
    pub bind: Option<std::net::SocketAddr>,

    /// SO_SNDBUF: the socket's send buffer (the kernel doubles it)
    #[arg(help_heading = "Socket", long, value_name = "BYTES", value_parser = parse_size::<MAX_BYTES>)]
    pub sndbuf: Option<usize>,

    /// SO_RCVBUF: the socket's receive buffer (the kernel doubles it)
    #[arg(help_heading = "Socket", long, value_name = "BYTES", value_parser = parse_size::<MAX_BYTES>)]
    pub rcvbuf: Option<usize>,

    /// TCP_MAXSEG: the largest segment to send [88-65535]
    #[arg(help_heading = "Socket", long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(88..=65535))]
    pub mss: Option<u32>,

    /// The IP TOS byte (DSCP << 2 | ECN; IPv6: the traffic class), decimal or 0x..
    #[arg(help_heading = "Socket", long, value_name = "BYTE", value_parser = parse_tos)]
    pub tos: Option<u8>,

    /// TCP congestion control (cubic, bbr, reno: what the kernel has)
    #[arg(help_heading = "Socket", long, value_name = "NAME")]
    pub congestion: Option<String>,

    /// SO_BINDTODEVICE: send and receive through IFNAME only
    #[arg(help_heading = "Socket", long, value_name = "IFNAME")]
    pub bind_dev: Option<String>,

    /// TCP_NODELAY on: no Nagle delay for small writes (bench's default)
    #[arg(help_heading = "Socket", long, conflicts_with = "delay")]
    pub no_delay: bool,

    /// TCP_NODELAY off: Nagle's algorithm coalesces small writes
    #[arg(help_heading = "Socket", long)]
    pub delay: bool,
}

impl SocketArgs {
    pub fn knobs(&self) -> crate::transport::knobs::Knobs {
        crate::transport::knobs::Knobs {
            bind: self.bind,
            sndbuf: self.sndbuf,
            rcvbuf: self.rcvbuf,
            mss: self.mss,
            tos: self.tos,
            congestion: self.congestion.clone(),
            bind_dev: self.bind_dev.clone(),
            nodelay: match (self.no_delay, self.delay) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
        }
    }
}

/// `--bind`: an address, with a port or without (then 0: any).
fn parse_bind(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(ip) = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(std::net::SocketAddr::new(ip, 0));
    }
    text.parse()
        .map_err(|_| format!("'{text}' is not an address to bind: ADDR or ADDR:PORT (127.0.0.2, [::1]:5000)"))
}

/// `--tos`: 0-255, decimal or hexadecimal.
pub(super) fn parse_tos(text: &str) -> Result<u8, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => text.parse::<u8>(),
    };
    parsed.map_err(|_| format!("'{text}' is not a TOS byte: 0 to 255, or 0x00 to 0xff"))
}
