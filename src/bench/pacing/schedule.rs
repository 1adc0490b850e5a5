//! When an open-loop connection sends each message (`--rate`).
//!
//! A [`RateProfile`] says how many messages per second all connections
//! together send at each moment: one rate, a linear ramp (`--rate A:B`), or
//! steps (`--rate-steps`). Its integral Λ(t) counts the messages due by time
//! t. Each connection walks Λ-space on its own: with `constant` arrivals
//! connection c of C sends its n-th message at Λ = n·C + c (so all together
//! are evenly spaced), with `poisson` the gaps in Λ-space are exponential
//! with mean C (so all together are a Poisson process of the profile's
//! rate). The send time is then Λ⁻¹ of that point: a ramp or a step changes
//! the rate without any connection having to know.

use std::time::Duration;

/// How send times are spread (`--arrival`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arrival {
    /// Evenly spaced: all connections together send every 1/R seconds
    Constant,
    /// A Poisson process of rate R: independent, exponentially spaced sends
    Poisson,
}

/// A stretch of time at a rate that goes linearly from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    /// Seconds from the start of the schedule.
    start: f64,
    length: f64,
    from: f64,
    to: f64,
    /// Messages due before this segment (Λ at `start`).
    before: f64,
}

impl Segment {
    fn count_within(&self, s: f64) -> f64 {
        self.from * s + (self.to - self.from) * s * s / (2.0 * self.length)
    }

    /// The time into the segment at which `x` messages of it are due.
    fn time_of(&self, x: f64) -> f64 {
        let k = (self.to - self.from) / (2.0 * self.length);
        if k.abs() < 1e-12 {
            return x / self.from;
        }
        // k s² + from s - x = 0, the root in [0, length].
        (-self.from + (self.from * self.from + 4.0 * k * x).max(0.0).sqrt()) / (2.0 * k)
    }
}

/// Messages per second over time, for all connections together.
#[derive(Debug, Clone, PartialEq)]
pub struct RateProfile {
    segments: Vec<Segment>,
}

impl RateProfile {
    /// `parts`: (length, rate at its start, rate at its end), in order; the
    /// last rate goes on after the last part.
    pub fn new(parts: &[(Duration, f64, f64)]) -> RateProfile {
        let mut segments = Vec::with_capacity(parts.len());
        let (mut start, mut before) = (0.0, 0.0);
        for &(length, from, to) in parts {
            let length = length.as_secs_f64();
            if length <= 0.0 {
                continue;
            }
            let segment = Segment {
                start,
                length,
                from,
                to,
                before,
            };
            before += segment.count_within(length);
            start += length;
            segments.push(segment);
        }
        RateProfile { segments }
    }

    /// The rate at `t` seconds from the start.
    pub fn rate_at(&self, t: f64) -> f64 {
        let Some(segment) = self.segments.iter().rev().find(|s| s.start <= t) else {
            return self.segments.first().map_or(0.0, |s| s.from);
        };
        let into = (t - segment.start).min(segment.length);
        segment.from + (segment.to - segment.from) * into / segment.length
    }

    /// Messages due by `t` seconds from the start (Λ).
    pub fn due_by(&self, t: f64) -> f64 {
        match self.segments.iter().rev().find(|s| s.start <= t) {
            Some(s) if t <= s.start + s.length => s.before + s.count_within(t - s.start),
            Some(s) => s.before + s.count_within(s.length) + s.to * (t - s.start - s.length),
            None => 0.0,
        }
    }

    /// The time (seconds from the start) at which `count` messages are due: Λ⁻¹.
    pub fn time_of(&self, count: f64) -> f64 {
        let Some(last) = self.segments.last() else {
            return f64::INFINITY;
        };
        for segment in &self.segments {
            let after = segment.before + segment.count_within(segment.length);
            if count <= after {
                return segment.start + segment.time_of(count - segment.before);
            }
        }
        let total = last.before + last.count_within(last.length);
        if last.to <= 0.0 {
            return f64::INFINITY;
        }
        last.start + last.length + (count - total) / last.to
    }
}

/// One connection's walk through Λ-space.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Λ of the next message.
    next: f64,
    /// Mean distance between this connection's messages in Λ-space: the
    /// number of connections sharing the profile.
    spacing: f64,
    arrival: Arrival,
    /// xorshift64* state for Poisson gaps (seeded per connection).
    random: u64,
}

impl Schedule {
    /// Connection `index` of `count` sharing one profile.
    pub fn new(index: u64, count: u64, arrival: Arrival) -> Schedule {
        let spacing = count.max(1) as f64;
        let mut schedule = Schedule {
            next: 0.0,
            spacing,
            arrival,
            random: (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        };
        schedule.next = match arrival {
            Arrival::Constant => index as f64,
            Arrival::Poisson => schedule.exponential_gap(),
        };
        schedule
    }

    /// Λ of the next message; [`RateProfile::time_of`] turns it into a time.
    pub fn next_point(&self) -> f64 {
        self.next
    }

    /// Moves on to the following message.
    pub fn advance(&mut self) {
        self.next += match self.arrival {
            Arrival::Constant => self.spacing,
            Arrival::Poisson => self.exponential_gap(),
        };
    }

    fn exponential_gap(&mut self) -> f64 {
        // xorshift64*: fast, and plenty for spacing sends.
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        let bits = self.random.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        let uniform = (bits as f64 + 0.5) / (1u64 << 53) as f64;
        -uniform.ln() * self.spacing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn constant_rate_spaces_all_connections_evenly() {
        let profile = RateProfile::new(&[(secs(10.0), 1000.0, 1000.0)]);
        let mut times = Vec::new();
        for c in 0..4 {
            let mut schedule = Schedule::new(c, 4, Arrival::Constant);
            for _ in 0..250 {
                times.push(profile.time_of(schedule.next_point()));
                schedule.advance();
            }
        }
        times.sort_by(f64::total_cmp);
        for (n, t) in times.iter().enumerate() {
            assert!((t - n as f64 / 1000.0).abs() < 1e-9, "message {n} at {t}");
        }
    }

    #[test]
    fn poisson_arrivals_have_the_right_mean_and_a_coefficient_of_variation_near_one() {
        let rate = 5000.0;
        let profile = RateProfile::new(&[(secs(100.0), rate, rate)]);
        let mut times = Vec::new();
        for c in 0..10 {
            let mut schedule = Schedule::new(c, 10, Arrival::Poisson);
            while profile.time_of(schedule.next_point()) < 20.0 {
                times.push(profile.time_of(schedule.next_point()));
                schedule.advance();
            }
        }
        times.sort_by(f64::total_cmp);
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let variance = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = variance.sqrt() / mean;
        assert!(
            (mean * rate - 1.0).abs() < 0.02,
            "mean gap {mean} for rate {rate}"
        );
        assert!((cv - 1.0).abs() < 0.03, "coefficient of variation {cv}");
        let achieved = times.len() as f64 / 20.0;
        assert!((achieved / rate - 1.0).abs() < 0.02, "{achieved} messages/s");
    }

    #[test]
    fn a_ramp_integrates_to_the_area_under_it_and_inverts() {
        let profile = RateProfile::new(&[(secs(10.0), 100.0, 1100.0)]);
        assert!((profile.due_by(10.0) - 6000.0).abs() < 1e-6);
        assert!((profile.rate_at(5.0) - 600.0).abs() < 1e-9);
        for count in [0.0, 1.0, 500.0, 3000.0, 5999.0] {
            let t = profile.time_of(count);
            assert!((profile.due_by(t) - count).abs() < 1e-6, "{count} at {t}");
        }
        // After the ramp, the last rate goes on.
        assert!((profile.time_of(6000.0 + 1100.0) - 11.0).abs() < 1e-9);
    }

    #[test]
    fn steps_change_the_rate_at_their_boundaries() {
        let profile = RateProfile::new(&[(secs(2.0), 100.0, 100.0), (secs(2.0), 300.0, 300.0)]);
        assert_eq!(profile.rate_at(1.0), 100.0);
        assert_eq!(profile.rate_at(3.0), 300.0);
        assert!((profile.time_of(200.0) - 2.0).abs() < 1e-9);
        assert!((profile.time_of(500.0) - 3.0).abs() < 1e-9);
    }
}
