//! The integration tests: one crate (one link of the library, one binary
//! to run), a module per area. Each drives the real `mio-echo` binary on
//! loopback, or in network namespaces it makes (`real_path`); shared
//! helpers live in `util`. A test that cannot run here (no root, no
//! podman, no kubernetes-validate) says `skipped: ...` in its output.

mod util;

mod bench;
mod bench_html;
mod bench_reports;
mod bench_stops;
mod cli;
mod container;
mod deploy;
mod docs;
mod drain;
mod example;
mod exhaustion;
mod faults;
mod limits;
mod metrics;
mod names;
mod open_loop;
mod proxy;
mod reactors;
mod real_path;
mod seeds;
mod serve;
mod soak;
mod tls;
mod tls_certs;
mod tls_clients;
mod tls_faults;
mod tls_mutual;
mod udp;
mod unix;
