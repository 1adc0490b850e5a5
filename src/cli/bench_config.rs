//! From bench's command line to a [`bench::Config`]: the checks across
//! flags (what applies to which mode), the payload and message size, the
//! socket options, the open loop's profile.

use std::time::Duration;

use super::bench_args::BenchArgs;
use super::bench_values::{Payload, Rate, RateSpec, check_rate};
use super::values::{Failure, MAX_BYTES};
use crate::bench;

impl BenchArgs {
    /// The message: `--payload`, `--payload-file`, or none (the pattern).
    fn message(&self) -> Result<Option<Vec<u8>>, Failure> {
        let payload = match (&self.payload, &self.payload_file) {
            (Some(Payload(bytes)), _) => Some(bytes.clone()),
            (None, Some(path)) => {
                let bytes = std::fs::read(path).map_err(|err| {
                    Failure::Usage(format!(
                        "--payload-file {}: {}",
                        path.display(),
                        crate::error::describe(&err)
                    ))
                })?;
                if bytes.is_empty() || bytes.len() > MAX_BYTES {
                    return Err(Failure::Usage(format!(
                        "--payload-file {}: {} bytes; a message is 1 to {MAX_BYTES} bytes",
                        path.display(),
                        bytes.len()
                    )));
                }
                Some(bytes)
            }
            (None, None) => None,
        };
        if payload.is_some() && self.mode == bench::Mode::Udp {
            return Err(Failure::Usage(
                "--payload and --payload-file do not apply to --mode udp (its datagrams carry bench's own header)"
                    .into(),
            ));
        }
        Ok(payload)
    }

    /// The socket options, checked on a socket of their own before the
    /// run, so a wrong one is one error, not a connect failure per
    /// connection. `--bind` is a source address (as `--source-ips`).
    fn knobs(&self) -> Result<crate::transport::knobs::Knobs, Failure> {
        let knobs = self.socket.knobs();
        if knobs.is_default() {
            return Ok(knobs);
        }
        if self.unix.is_some() || self.mode == bench::Mode::Udp {
            return Err(Failure::Usage(
                "the socket options (--bind, --sndbuf, ...) are TCP's: not with --unix or --mode udp".into(),
            ));
        }
        if let Some(bind) = knobs.bind {
            if bind.port() != 0 {
                return Err(Failure::Usage(format!(
                    "--bind {bind}: bench opens many connections, so no port (--bind {})",
                    bind.ip()
                )));
            }
            if !self.source_ips.is_empty() {
                return Err(Failure::Usage(
                    "--bind and --source-ips both set the source: give one".into(),
                ));
            }
        }
        let probe = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .map_err(|err| Failure::Runtime(format!("cannot open a socket: {err}")))?;
        let check = crate::transport::knobs::Knobs {
            bind: None,
            ..knobs.clone()
        };
        check.apply(&probe, false).map_err(Failure::Usage)?;
        Ok(knobs)
    }

    /// `--size`, or the payload's length (a `--size` that differs is refused).
    fn message_size(&self, payload: Option<&Vec<u8>>) -> Result<usize, Failure> {
        match (payload, self.size) {
            (Some(payload), Some(size)) if size != payload.len() => Err(Failure::Usage(format!(
                "--size {size} disagrees with the payload's {} bytes: leave --size out",
                payload.len()
            ))),
            (Some(payload), _) => Ok(payload.len()),
            (None, size) => Ok(size.unwrap_or(DEFAULT_SIZE)),
        }
    }

    pub fn config(&self) -> Result<bench::Config, Failure> {
        let payload = self.message()?;
        let size = self.message_size(payload.as_ref())?;
        if self.mode == bench::Mode::Udp {
            let refused = [
                (self.tls.tls, "--tls"),
                (self.proxy_header.is_some(), "--proxy-header"),
                (self.hdr_log.is_some(), "--hdr-log"),
                (!self.out.is_empty(), "--out"),
            ];
            if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
                return Err(Failure::Usage(format!("{flag} does not apply to --mode udp")));
            }
            if let Some(problem) = bench::size_problem(size) {
                return Err(Failure::Usage(problem));
            }
        }
        if self.find_max_rate && !self.out.is_empty() {
            return Err(Failure::Usage(
                "--out does not apply to --find-max-rate (each probe is a run of its own)".into(),
            ));
        }
        if self.json && self.out.iter().any(|spec| spec.path.is_none()) {
            return Err(Failure::Usage(
                "--json and --out FORMAT=- both write to standard output: send one of them to a file".into(),
            ));
        }
        // A name with several addresses: the one that answers (not for
        // --check, which only reads the command line).
        let knobs = self.knobs()?;
        let addr = if self.check || self.mode == bench::Mode::Udp {
            self.endpoint.server_addr()?
        } else {
            self.endpoint.reachable_addr(CONNECT_TIMEOUT, &knobs)?
        };
        Ok(bench::Config {
            addr,
            connections: self.connections,
            size,
            payload,
            knobs,
            warmup: self.warmup,
            mode: self.mode,
            threads: self.threads,
            window: self.window,
            connect_rate: self.connect_rate,
            source_ips: self.source_ips.clone(),
            server_pid: self.server_pid,
            progress: true,
            io_uring: !self.no_io_uring,
            drain_timeout: self.drain_timeout,
            open_loop: self.open_loop(size)?,
            duration: self.window_length(),
            slo: self.gates()?,
            interval: self.interval_length(),
            step: (!self.rate_steps.is_empty()).then_some(self.step_duration),
            hdr_log: self.hdr_log.clone(),
            hgrm: self.hgrm.clone(),
            live: self.out.clone(),
            start_at: self.start_at,
            proxy_header: self.proxy_header,
            proxy_split: self.proxy_split,
            tls: self.tls.client_tls(&self.endpoint, self.tls_resume)?,
            unix: match (&self.unix, self.mode) {
                (Some(_), bench::Mode::Udp) => {
                    return Err(Failure::Usage(
                        "--unix is a stream socket: not with --mode udp".into(),
                    ));
                }
                (unix, _) => unix.clone(),
            },
            train: match (self.train, self.mode) {
                (1, _) => 1,
                (_, mode) if mode != bench::Mode::Udp => {
                    return Err(Failure::Usage("--train applies to --mode udp only".into()));
                }
                _ if self.rate.is_some() || !self.rate_steps.is_empty() || self.find_max_rate => {
                    return Err(Failure::Usage(
                        "--train is for the closed loop: not with --rate (yet)".into(),
                    ));
                }
                (train, _) if train * size > crate::client::datagram::MAX_DATAGRAM => {
                    return Err(Failure::Usage(format!(
                        "--train {train} x --size {} is more than a train carries ({} bytes)",
                        size,
                        crate::client::datagram::MAX_DATAGRAM
                    )));
                }
                (train, _) => train,
            },
            max_loss: match (self.max_loss, self.mode) {
                (Some(_), mode) if mode != bench::Mode::Udp => {
                    return Err(Failure::Usage("--max-loss applies to --mode udp only".into()));
                }
                (max_loss, _) => max_loss,
            },
        })
    }

    /// `--interval`, or 1 s where an interval log or live output is asked
    /// for or a terminal shows the progress line.
    fn interval_length(&self) -> Option<Duration> {
        use std::io::IsTerminal;
        let wanted = self.hdr_log.is_some() || !self.out.is_empty() || std::io::stderr().is_terminal();
        self.interval.or(wanted.then_some(Duration::from_secs(1)))
    }

    fn gates(&self) -> Result<Vec<bench::slo::Gate>, Failure> {
        let Some(text) = &self.slo else {
            return Ok(Vec::new());
        };
        let gates = bench::slo::parse(text).map_err(|err| Failure::Usage(format!("--slo: {err}")))?;
        if self.rate.is_none() && self.rate_steps.is_empty() && gates.iter().any(bench::slo::Gate::needs_rate)
        {
            return Err(Failure::Usage(
                "--slo: a rate gate compares the achieved rate with --rate's target; give --rate".into(),
            ));
        }
        Ok(gates)
    }

    fn window_length(&self) -> Duration {
        if self.rate_steps.is_empty() {
            self.duration
        } else {
            self.step_duration * self.rate_steps.len() as u32
        }
    }

    /// Where `--find-max-rate` starts, at `size` bytes a message.
    pub fn search_start(&self, size: usize) -> f64 {
        match self.rate {
            Some(RateSpec::Constant(rate)) => rate.per_second(size),
            _ => bench::search::DEFAULT_START,
        }
    }

    /// The open loop's settings at `size` bytes a message, or `None` for a
    /// closed loop.
    fn open_loop(&self, size: usize) -> Result<Option<bench::OpenLoop>, Failure> {
        let window = self.window_length();
        if self.find_max_rate && matches!(self.rate, Some(RateSpec::Ramp(..))) {
            return Err(Failure::Usage(
                "--find-max-rate starts from one rate, not a ramp".into(),
            ));
        }
        // A bit rate is messages only now that the size is known, and
        // bounded as messages.
        let messages = |rate: Rate, flag: &str| -> Result<f64, Failure> {
            match rate {
                Rate::Messages(rate) => Ok(rate),
                Rate::Bits(bits) => check_rate(
                    rate.per_second(size),
                    &format!("{flag} {bits} bit/s at --size {size}"),
                )
                .map_err(Failure::Usage),
            }
        };
        let start = self.search_start(size);
        let parts: Vec<(Duration, f64, f64)> = match (self.rate, self.rate_steps.as_slice()) {
            (None, []) if self.find_max_rate => vec![(window, start, start)],
            (None, []) => return Ok(None),
            (Some(RateSpec::Constant(rate)), _) => {
                let rate = messages(rate, "--rate")?;
                vec![(window, rate, rate)]
            }
            (Some(RateSpec::Ramp(from, to)), _) => {
                vec![(window, messages(from, "--rate")?, messages(to, "--rate")?)]
            }
            (None, steps) => steps
                .iter()
                .map(|&rate| messages(rate, "--rate-steps").map(|rate| (self.step_duration, rate, rate)))
                .collect::<Result<_, _>>()?,
        };
        if !matches!(self.mode, bench::Mode::Pingpong | bench::Mode::Udp) {
            return Err(Failure::Usage(format!(
                "--rate and --rate-steps apply to pingpong and udp only, not {} (stream keeps a window in flight, \
                 churn and hold have no message schedule)",
                self.mode.name()
            )));
        }
        let first = parts[0].1;
        let mut profile = vec![(self.warmup, first, first)];
        profile.extend(parts);
        Ok(Some(bench::OpenLoop {
            profile: bench::RateProfile::new(&profile),
            arrival: self.arrival,
            max_inflight: self.max_inflight,
            grid: self.pacing_grid,
        }))
    }
}

/// How long bench's happy-eyeballs attempt to a name's addresses may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes per message when neither --size nor a payload says.
const DEFAULT_SIZE: usize = 512;
