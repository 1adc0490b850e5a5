//! Where to listen or connect: `--addr HOST:PORT` and `--port`.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use clap::Args;

use super::values::Failure;
use crate::client::socket::Target;

/// Where to listen or connect. Each subcommand words the help of `--addr`
/// and `--port` for itself (see the `mut_arg` attributes above).
#[derive(Debug, Args)]
pub struct Endpoint {
    /// Address, HOST:PORT [default: 127.0.0.1:10000]
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub addr: Option<HostPort>,

    /// Shorthand for --addr 127.0.0.1:PORT
    #[arg(long, conflicts_with = "addr")]
    pub port: Option<u16>,
}

impl Endpoint {
    pub const DEFAULT_PORT: u16 = 10000;

    /// The address to listen on; port 0 lets the system pick one.
    pub fn listen_addr(&self) -> Result<SocketAddr, Failure> {
        match &self.addr {
            Some(addr) => addr.resolve(),
            None => Ok(self.loopback()),
        }
    }

    /// The address of the server to connect to; port 0 is a usage error.
    pub fn server_addr(&self) -> Result<SocketAddr, Failure> {
        let addr = self.listen_addr()?;
        if addr.port() == 0 {
            return Err(Failure::Usage(format!(
                "port 0 names no server: give the port the server listens on (--addr {}:PORT)",
                addr.ip()
            )));
        }
        Ok(addr)
    }

    /// Every address of the server: one for an address, all a name has.
    pub fn server_addrs(&self) -> Result<Vec<SocketAddr>, Failure> {
        let addrs = match &self.addr {
            Some(addr) if addr.host.parse::<IpAddr>().is_err() => addr.resolve_all()?,
            _ => vec![self.server_addr()?],
        };
        match addrs.iter().find(|addr| addr.port() == 0) {
            Some(_) => Err(Failure::Usage(
                "port 0 names no server: give the port the server listens on".into(),
            )),
            None => Ok(addrs),
        }
    }

    /// What a client connects to: the address, or a name with all its
    /// addresses (happy eyeballs).
    pub fn target(&self) -> Result<Target, Failure> {
        let mut addrs = self.server_addrs()?;
        Ok(match (&self.addr, addrs.len()) {
            (Some(addr), 2..) => Target::Name {
                name: format!("{}:{}", addr.host, addr.port),
                addrs,
            },
            _ => Target::Tcp(addrs.remove(0)),
        })
    }

    /// The one address bench loads: a name's first to answer a connect.
    pub fn reachable_addr(
        &self,
        timeout: std::time::Duration,
        knobs: &crate::transport::knobs::Knobs,
    ) -> Result<SocketAddr, Failure> {
        match self.target()? {
            Target::Tcp(addr) => Ok(addr),
            Target::Name { name, addrs } => crate::client::eyeballs::connect_first(&addrs, timeout, knobs)
                .map(|(_, addr)| addr)
                .map_err(|tried| Failure::Runtime(format!("cannot connect to {name}: {tried}"))),
            Target::Unix(_) => unreachable!("a TCP endpoint"),
        }
    }

    fn loopback(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port.unwrap_or(Self::DEFAULT_PORT)))
    }
}

/// A HOST:PORT as typed. The name is resolved when the command runs, so a
/// name that does not resolve is a failure (exit 1), not a usage error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// The address, IPv4 preferred when a name has both kinds.
    pub fn resolve(&self) -> Result<SocketAddr, Failure> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let addrs = self.resolve_all()?;
        Ok(*addrs.iter().find(|addr| addr.is_ipv4()).unwrap_or(&addrs[0]))
    }

    /// Every address the name has, in the resolver's order (at least one).
    pub fn resolve_all(&self) -> Result<Vec<SocketAddr>, Failure> {
        let cannot = |why: String| Failure::Runtime(format!("cannot resolve host '{}': {why}", self.host));
        let mut addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|err| cannot(resolver_reason(&err)))?
            .collect();
        // The resolver lists an address once per socket type it may serve.
        let mut seen = std::collections::HashSet::new();
        addrs.retain(|addr| seen.insert(*addr));
        if addrs.is_empty() {
            return Err(cannot("it has no address".to_string()));
        }
        Ok(addrs)
    }
}

/// The resolver's words without the Rust wrapping: "failed to lookup
/// address information: Name or service not known" becomes "name or
/// service not known".
fn resolver_reason(err: &io::Error) -> String {
    let text = crate::error::describe(err);
    let reason = text.rsplit(": ").next().unwrap_or(&text);
    let mut chars = reason.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Accepts `127.0.0.1:10000`, `[::1]:10000` and `localhost:10000`; checks
/// the syntax and the port's range, and leaves the name to [`HostPort::resolve`].
pub fn parse_host_port(text: &str) -> Result<HostPort, String> {
    let not_an_address = || format!("'{text}' is not a HOST:PORT address");
    let (host, port) = text.rsplit_once(':').ok_or_else(not_an_address)?;
    let host = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.strip_suffix(']').ok_or_else(not_an_address)?,
        None if host.contains(':') => {
            return Err(format!(
                "'{text}': write an IPv6 address in brackets, as [{host}]:{port}"
            ));
        }
        None => host,
    };
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(not_an_address());
    }
    let port = match port.parse::<u64>() {
        Ok(port) if port <= u64::from(u16::MAX) => port as u16,
        Ok(port) => return Err(format!("port {port} is out of range (0 to 65535)")),
        Err(_) => return Err(format!("'{port}' is not a port number (in '{text}')")),
    };
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}
