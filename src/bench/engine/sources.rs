//! Which local addresses bench's connections come from.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::bench::config::Config;
use crate::bench::config::Mode;
use crate::bench::report::warnings::Warnings;

/// Loopback source addresses churn spreads its connections over.
const CHURN_SOURCE_ADDRESSES: usize = 64;

/// Warns about a source address this machine cannot send from (connects
/// from it would all fail with no other explanation).
pub(in crate::bench) fn check_source_ips(ips: &[IpAddr], warnings: &Warnings) {
    for ip in ips {
        let probe = socket2::Socket::new(
            socket2::Domain::for_address(SocketAddr::new(*ip, 0)),
            socket2::Type::STREAM,
            None,
        )
        .and_then(|socket| socket.bind(&SocketAddr::new(*ip, 0).into()));
        if let Err(err) = probe {
            warnings.once(
                "source-ip",
                format!(
                    "source address {ip} cannot be used here: {}; connections from it will fail",
                    crate::error::describe(&err)
                ),
            );
        }
    }
}

/// Source addresses: the user's, or on loopback as many of 127.0.0.x as it
/// takes to stay within the ephemeral port range of one source address.
pub(in crate::bench) fn choose_source_ips(config: &Config) -> Result<Vec<IpAddr>, String> {
    if !config.source_ips.is_empty() {
        if let Some(ip) = config
            .source_ips
            .iter()
            .find(|ip| ip.is_ipv4() != config.addr.is_ipv4())
        {
            return Err(format!(
                "source address {ip} is not of the same family as {}",
                config.addr
            ));
        }
        return Ok(config.source_ips.clone());
    }
    if !config.addr.ip().is_loopback() || !config.addr.is_ipv4() {
        return Ok(Vec::new());
    }
    let ports = ephemeral_port_count();
    let needed = if config.mode == Mode::Churn {
        // Every churn cycle leaves a TIME_WAIT socket on our side, and the
        // kernel's search for a free port per (source, destination) walks
        // past them: with one source address it took a quarter of the load
        // generator's CPU, so churn measured the client. Spread over 64
        // addresses, the search stays short (docs/benchmarks.md).
        CHURN_SOURCE_ADDRESSES
    } else if config.connections > ports {
        config.connections.div_ceil(ports.max(1)).min(250)
    } else {
        return Ok(Vec::new());
    };
    Ok((1..=needed as u8)
        .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .collect())
}

fn ephemeral_port_count() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(|n| n.parse::<usize>().ok());
            Some(bounds.next()??.abs_diff(bounds.next()??) + 1)
        })
        .unwrap_or(28_232)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(connections: usize, addr: &str) -> Config {
        Config {
            addr: addr.parse().unwrap(),
            connections,
            size: 512,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            mode: Mode::Pingpong,
            threads: 1,
            window: 1 << 18,
            connect_rate: None,
            source_ips: Vec::new(),
            server_pid: None,
            progress: false,
            io_uring: true,
            drain_timeout: Duration::from_secs(5),
            open_loop: None,
            slo: Vec::new(),
            interval: None,
            step: None,
            hdr_log: None,
            hgrm: None,
            live: Vec::new(),
            payload: None,
            knobs: Default::default(),
            start_at: None,
            proxy_header: None,
            proxy_split: false,
            tls: None,
            max_loss: None,
            train: 1,
            unix: None,
        }
    }

    #[test]
    fn loopback_spreads_over_source_addresses_beyond_the_port_range() {
        let ports = ephemeral_port_count();
        assert!(choose_source_ips(&config(100, "127.0.0.1:1")).unwrap().is_empty());
        let ips = choose_source_ips(&config(ports * 2 + 1, "127.0.0.1:1")).unwrap();
        assert_eq!(ips.len(), 3);
        assert_eq!(ips[2], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    }

    #[test]
    fn mixed_address_families_are_refused() {
        let mut config = config(10, "127.0.0.1:1");
        config.source_ips = vec!["::1".parse().unwrap()];
        assert!(choose_source_ips(&config).unwrap_err().contains("family"));
    }
}
