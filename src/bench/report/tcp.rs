//! The path's own figures, from `TCP_INFO` on bench's connections (what
//! iperf3's Retr and Cwnd columns and `ss -ti` show): read once per
//! `--interval` and at the end of the window, summed or averaged over the
//! connections open then.

use serde::{Deserialize, Serialize};

use crate::sys::TcpInfo;

/// `TCP_INFO` of the connections open at one moment, together.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TcpFigures {
    /// Connections read.
    pub connections: u64,
    /// Segments retransmitted, over those connections' lives.
    pub retransmits: u64,
    /// Segments the kernel thinks lost now, and reorderings seen.
    pub lost: u64,
    pub reordering: u64,
    /// Smoothed RTT: the mean over connections and the largest.
    pub rtt_mean_us: f64,
    pub rtt_max_us: f64,
    /// RTT mean deviation, averaged.
    pub rttvar_mean_us: f64,
    /// Congestion window in segments, averaged.
    pub cwnd_mean: f64,
    /// Delivery rate estimates, summed: bytes per second.
    pub delivery_rate_bytes_per_s: f64,
}

impl TcpFigures {
    /// Adds one connection's reading.
    pub fn add(&mut self, info: &TcpInfo) {
        self.merge(&TcpFigures {
            connections: 1,
            retransmits: u64::from(info.total_retrans),
            lost: u64::from(info.lost),
            reordering: u64::from(info.reord_seen),
            rtt_mean_us: f64::from(info.rtt_us),
            rtt_max_us: f64::from(info.rtt_us),
            rttvar_mean_us: f64::from(info.rttvar_us),
            cwnd_mean: f64::from(info.snd_cwnd),
            delivery_rate_bytes_per_s: info.delivery_rate as f64,
        });
    }

    /// Adds another set of connections (another worker's): sums add,
    /// means are weighted by connections.
    pub fn merge(&mut self, other: &TcpFigures) {
        let total = self.connections + other.connections;
        if total == 0 {
            return;
        }
        let weigh = |mine: f64, theirs: f64| {
            (mine * self.connections as f64 + theirs * other.connections as f64) / total as f64
        };
        self.rtt_mean_us = weigh(self.rtt_mean_us, other.rtt_mean_us);
        self.rttvar_mean_us = weigh(self.rttvar_mean_us, other.rttvar_mean_us);
        self.cwnd_mean = weigh(self.cwnd_mean, other.cwnd_mean);
        self.rtt_max_us = self.rtt_max_us.max(other.rtt_max_us);
        self.retransmits += other.retransmits;
        self.lost += other.lost;
        self.reordering += other.reordering;
        self.delivery_rate_bytes_per_s += other.delivery_rate_bytes_per_s;
        self.connections = total;
    }

    /// The text summary's line.
    pub fn describe(&self) -> String {
        format!(
            "retransmits {}, lost {}, reordering {}, rtt {:.0} us (max {:.0}, var {:.0}), cwnd {:.1} segments, \
             delivery {:.2} MB/s ({} connections)",
            self.retransmits,
            self.lost,
            self.reordering,
            self.rtt_mean_us,
            self.rtt_max_us,
            self.rttvar_mean_us,
            self.cwnd_mean,
            self.delivery_rate_bytes_per_s / 1e6,
            self.connections
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_sum_and_average_by_weight() {
        let mut a = TcpFigures::default();
        a.add(&TcpInfo {
            total_retrans: 2,
            rtt_us: 100,
            snd_cwnd: 10,
            delivery_rate: 1000,
            ..TcpInfo::default()
        });
        a.add(&TcpInfo {
            total_retrans: 1,
            rtt_us: 300,
            snd_cwnd: 20,
            delivery_rate: 3000,
            ..TcpInfo::default()
        });
        let mut b = TcpFigures::default();
        b.add(&TcpInfo {
            rtt_us: 600,
            snd_cwnd: 30,
            lost: 4,
            ..TcpInfo::default()
        });
        a.merge(&b);
        assert_eq!((a.connections, a.retransmits, a.lost), (3, 3, 4));
        assert!((a.rtt_mean_us - 1000.0 / 3.0).abs() < 1e-9, "{a:?}");
        assert_eq!(a.rtt_max_us, 600.0);
        assert_eq!(a.cwnd_mean, 20.0);
        assert_eq!(a.delivery_rate_bytes_per_s, 4000.0);
        let mut none = TcpFigures::default();
        none.merge(&TcpFigures::default());
        assert_eq!(none, TcpFigures::default());
    }

    #[test]
    fn a_loopback_connection_reads_back() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let info = crate::sys::tcp_info(&client).unwrap();
        assert!(info.snd_cwnd > 0, "{info:?}");
        assert_eq!(info.total_retrans, 0);
    }
}
