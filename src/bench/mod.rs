//! `mio-echo bench`: a load generator for echo servers.
//!
//! `config.rs` says what to run and `run.rs` runs it: T workers of the
//! stream engine (`engine/`, one `mio::Poll` each over its share of the
//! connections) or the datagram engine (`datagrams/`), paced in the open
//! loop by `pacing/`; the first worker also samples CPU time and keeps the
//! progress line (`probe.rs`). Their tallies add up into a report
//! (`report/`: the figures, their files, `bench merge`), which `slo.rs`
//! gates and `search.rs` uses to find the highest passing rate.

mod config;
mod datagrams;
mod engine;
mod pacing;
mod probe;
pub mod report;
mod run;
pub mod search;
mod signals;
pub mod slo;

pub use config::{Config, Mode, OpenLoop};
pub use datagrams::size_problem;
pub use pacing::schedule::{Arrival, RateProfile};
pub use report::Report;
pub use report::process::process_cpu_seconds;
pub use run::run;
pub use signals::{catch_signals, signal_exit_status};
