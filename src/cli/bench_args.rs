//! The flags of `mio-echo bench` and `mio-echo bench merge`.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::address::Endpoint;
use super::bench_values::{
    Payload, Rate, RateSpec, parse_grid, parse_open_rate, parse_payload, parse_percentile, parse_rate_spec,
    parse_share, parse_start_at,
};
use super::tls_args::TlsClientArgs;
use super::values::{
    MAX_BYTES, MAX_COUNT, MAX_THREADS, parse_count, parse_rate, parse_seconds, parse_size, parse_timeout,
};
use crate::bench;

pub(super) const BENCH_HELP: &str = "\
What the latency measures: in pingpong and hold, the time from the first byte of a message
being handed to the kernel until the last byte of its echo is read back; in churn, from the
start of the connect until the server's EOF. Each connection sends its next message only
after the last one returned (a closed loop), so a server stall delays the messages that
would have been sent meanwhile and they are never measured: the percentiles understate what
an open-loop client at the same rate would see (coordinated omission). Compare servers at
the same settings, and read the rates as the throughput of this closed loop.

Every byte that comes back is checked against a pattern that differs per connection and per
message. Mismatches, early EOFs, resets, connect failures and timeouts are counted apart;
any of them makes the exit status 1.

Values take units: durations 250ms, 30s, 1m, 1h (a plain number is seconds, fractions allowed,
at most 365 days); sizes 1k, 64KiB, 1M, 1MiB (a plain number is bytes); rates 10k, 2.5M per second,
and for --rate a bit rate of payload too: 100Mbit, 1Gbit (messages/s = bits / (8 x --size)).

Examples:
  mio-echo bench --connections 1000 --size 512 --duration 10
  mio-echo bench --mode stream --connections 16 --json
  mio-echo bench --mode hold --connections 10000 --duration 30 --server-pid $(pidof mio-echo)";

/// `mio-echo bench`: a run, or `bench merge`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchCommand {
    #[command(subcommand)]
    pub merge: Option<BenchMerge>,

    #[command(flatten)]
    pub run: BenchArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchMerge {
    /// Merge the --json reports of runs made at the same time (on several hosts) into one:
    /// totals and rates summed, percentiles from the merged histograms
    #[command(
        after_help = "Each input must be a `mio-echo bench --json` report of the same mode and message size.\nRuns that did not overlap in time still merge, with a warning (their rates do not add up\nto one combined rate); start hosts together with --start-at.\n\nExample:\n  mio-echo bench merge host-a.json host-b.json --json > all.json"
    )]
    Merge(MergeArgs),
    /// Render saved --json reports as one HTML page, and compare them: overlaid charts and a
    /// table of headline figures with ratios to the first
    #[command(
        after_help = "Any `mio-echo bench --json` report renders (a run, a merge, a UDP run, a max-rate search).\n\nExamples:\n  mio-echo bench report run.json --html run.html\n  mio-echo bench report before.json after.json --label before --label after --html compare.html"
    )]
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The reports, the first the baseline
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,

    /// Write the page to OUT
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<std::path::PathBuf>,

    /// A name for each report, in order [default: the file names]
    #[arg(long, value_name = "NAME")]
    pub label: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The reports to merge
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,

    /// Print the merged report as JSON, in the shape of a run's
    #[arg(help_heading = "Output", long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,

    /// Concurrent connections (slots, in churn mode)
    ///
    /// [1-10000000]
    #[arg(help_heading = "Load shape", long, short = 'c', default_value_t = 50, value_parser = parse_count::<MAX_COUNT>)]
    pub connections: usize,

    /// Bytes per message
    ///
    /// [1-1073741824] [default: 512; with --payload or --payload-file, its length]
    #[arg(help_heading = "Load shape", long, short = 's', value_name = "BYTES", value_parser = parse_size::<MAX_BYTES>)]
    pub size: Option<usize>,

    /// Send TEXT as every message instead of the pattern (\n, \r, \t, \0, \\ and \xNN escapes)
    ///
    /// For a proxy that inspects content (an L7 balancer, a WAF). Every echo is still checked
    /// byte for byte. Not with --mode udp (its datagrams carry bench's own header).
    #[arg(help_heading = "Load shape", long, value_name = "TEXT", value_parser = parse_payload, conflicts_with = "payload_file")]
    pub payload: Option<Payload>,

    /// Send the bytes of FILE as every message instead of the pattern
    #[arg(help_heading = "Load shape", long, value_name = "FILE")]
    pub payload_file: Option<std::path::PathBuf>,

    /// Length of the measured window, in seconds
    #[arg(help_heading = "Load shape", long, short = 'd', value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    pub duration: Duration,

    /// Traffic to run before the measured window, excluded from the figures
    #[arg(help_heading = "Load shape", long, value_name = "SECS", default_value = "0", value_parser = parse_seconds)]
    pub warmup: Duration,

    /// What each connection does
    #[arg(help_heading = "Load shape", long, short = 'm', value_enum, default_value_t = bench::Mode::Pingpong)]
    pub mode: bench::Mode,

    /// Load-generator threads
    ///
    /// Each with its own poll over its share of the connections. [1-1024]
    #[arg(help_heading = "Load shape", long, short = 't', default_value_t = 1, value_parser = parse_count::<MAX_THREADS>)]
    pub threads: usize,

    /// Bytes in flight per connection in stream mode
    ///
    /// [1-1073741824]
    #[arg(help_heading = "Load shape", long, value_name = "BYTES", default_value_t = 256 * 1024, value_parser = parse_size::<MAX_BYTES>)]
    pub window: usize,

    /// New connections per second
    ///
    /// A schedule: connections due are opened as the loop wakes, and the report says the rate
    /// achieved. [default: as fast as the server accepts]
    #[arg(help_heading = "Load shape", long, value_name = "PER_SEC", value_parser = parse_rate)]
    pub connect_rate: Option<f64>,

    /// Source addresses to spread connections over
    ///
    /// Comma-separated. [default: on loopback, 127.0.0.x as needed beyond one address's port
    /// range; for UDP one per source]
    #[arg(help_heading = "Load shape", long, value_name = "IPS", value_delimiter = ',')]
    pub source_ips: Vec<std::net::IpAddr>,

    /// The server's PID, to report its CPU time beside ours
    ///
    /// Its child processes included, for forking servers; with --mode hold, its memory per
    /// connection too.
    #[arg(help_heading = "Output", long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// Print one JSON object (fields in docs/bench.md) instead of the summary
    #[arg(help_heading = "Output", long)]
    pub json: bool,

    /// Pingpong: one send(2) per message
    ///
    /// Instead of each turn's messages in one io_uring submission (used anyway where io_uring
    /// is refused).
    #[arg(help_heading = "Load shape", long)]
    pub no_io_uring: bool,

    /// After the window, how long the echo in flight may take
    ///
    /// Connections still waiting for the rest of their echo and the server's EOF then count as
    /// timeouts.
    #[arg(help_heading = "Load shape", long, value_name = "SECS", default_value = "5", value_parser = parse_timeout)]
    pub drain_timeout: Duration,

    /// Open loop: R messages per second over all connections
    ///
    /// Each message at its scheduled time whether or not earlier echoes are back (pingpong and
    /// udp); A:B ramps linearly from A to B over the duration. At least 1. Or a bit rate of
    /// payload, as iperf3's -b: 100Mbit, 1Gbit (messages per second = bits / (8 x --size)).
    #[arg(help_heading = "Rate (open loop)", long, value_name = "R|A:B", value_parser = parse_rate_spec, conflicts_with = "rate_steps")]
    pub rate: Option<RateSpec>,

    /// Open loop in steps: R1 msg/s (or bits: 100Mbit), then R2, ...
    ///
    /// Each step lasts --step-duration and is reported apart (the run lasts the steps, not
    /// --duration).
    #[arg(help_heading = "Rate (open loop)", long, value_name = "R1,R2,...", value_delimiter = ',', value_parser = parse_open_rate)]
    pub rate_steps: Vec<Rate>,

    /// Length of each of --rate-steps, in seconds
    #[arg(help_heading = "Rate (open loop)", long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    pub step_duration: Duration,

    /// How the open loop spaces its sends
    #[arg(help_heading = "Rate (open loop)", long, value_enum, default_value_t = bench::Arrival::Constant)]
    pub arrival: bench::Arrival,

    /// Figures per stretch of SECS
    ///
    /// Rate, p50, p99, max and errors, on the progress line and as `intervals` in the JSON.
    /// [default: 1 when a terminal shows progress]
    #[arg(help_heading = "Output", long, value_name = "SECS", value_parser = parse_timeout)]
    pub interval: Option<Duration>,

    /// Write a line per --interval to FILE as the run goes: ndjson=FILE or csv=FILE
    ///
    /// '-' is standard output; repeatable. Flushed each interval, so `tail -f` and a run cut
    /// short keep every interval up to the last. Columns (the CSV's header): time_unix_s, t_s,
    /// length_s, messages, messages_per_s, target_per_s, bytes, bytes_per_s, errors, mismatches,
    /// early_eofs, resets, connect_failures, timeouts, p50_us, p90_us, p99_us, max_us,
    /// send_lag_p50_us, send_lag_p99_us, connections. [--interval default: 1]
    #[arg(help_heading = "Output", long = "out", value_name = "FORMAT=FILE", value_parser = bench::report::live::Spec::parse)]
    pub out: Vec<bench::report::live::Spec>,

    /// Latency percentiles to report, comma-separated (e.g. 50,90,99,99.9,99.99,99.999)
    ///
    /// In the text summary (with the max and the mean) and in the JSON as each latency's
    /// `percentiles: [{p, us}]`. [default: 50,90,99,99.9]
    #[arg(help_heading = "Output", long, value_name = "P,P,...", value_delimiter = ',', value_parser = parse_percentile)]
    pub percentiles: Vec<f64>,

    /// Write the run as one self-contained HTML page to FILE
    ///
    /// Opens offline in any browser: figures, time series (with --interval), the latency
    /// spectrum (corrected, uncorrected, send lag), probes and steps. Written at the end, also
    /// after Ctrl-C or an early stop (marked so); opened before the run starts.
    #[arg(help_heading = "Output", long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,

    /// Write an HdrHistogram interval log to FILE
    ///
    /// V2 compressed, one histogram per --interval: the corrected latency untagged, the open
    /// loop's uncorrected one tagged 'uncorrected'; readable by HistogramLogProcessor. Opened
    /// before the run starts.
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub hdr_log: Option<std::path::PathBuf>,

    /// Write the latency's percentile distribution to FILE
    ///
    /// HdrHistogram's text form (values in milliseconds), as its plotters read it. Opened
    /// before the run starts.
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub hgrm: Option<std::path::PathBuf>,

    /// Start the traffic at this Unix time, once connected
    ///
    /// The warm-up, then the window: load hosts started apart then run together (see `bench
    /// merge`). A time already past starts at once, with a warning.
    #[arg(help_heading = "Rate (open loop)", long, value_name = "UNIX_TIME", value_parser = parse_start_at)]
    pub start_at: Option<std::time::SystemTime>,

    /// Pass/fail gates checked after the run
    ///
    /// E.g. 'p99<2ms,p99.99<10ms,errors=0,rate>=0.99': latency percentiles (any pN, max, mean)
    /// with us, ms or s; errors as a count or a percentage of messages; rate = achieved/target.
    /// A failed gate exits with status 3.
    #[arg(help_heading = "Gates", long, value_name = "GATES")]
    pub slo: Option<String>,

    /// Find the highest open-loop rate that meets --slo
    ///
    /// Double the rate (from --rate, or 1000) until a probe fails, then halve the gap to
    /// within 5%; each probe is a whole run of --duration with its own --warmup.
    #[arg(
        help_heading = "Rate (open loop)",
        long,
        requires = "slo",
        conflicts_with = "rate_steps"
    )]
    pub find_max_rate: bool,

    /// Start every connection with a PROXY protocol header
    ///
    /// With its real endpoints, as a load balancer would, to load servers that expect one.
    #[arg(help_heading = "Load shape", long, value_enum, value_name = "VERSION")]
    pub proxy_header: Option<crate::proxy_protocol::Version>,

    /// With --proxy-header: send the header in two writes
    ///
    /// The second with the first message, to catch servers that parse only the first read.
    #[arg(help_heading = "Load shape", long, requires = "proxy_header")]
    pub proxy_split: bool,

    /// Open loop: messages one connection may have queued or unanswered
    ///
    /// Past it, due messages wait (their latency still counts from their time). [1-10000000]
    #[arg(help_heading = "Rate (open loop)", long, value_name = "N", default_value_t = 1024, value_parser = parse_count::<MAX_COUNT>)]
    pub max_inflight: usize,

    /// Open loop: plan the sends on a grid of SECS
    ///
    /// A message is due at the first grid time at or after its place in the schedule, its
    /// latency counted from there, and those due together go out in one wake-up: a micro-burst
    /// of about rate x SECS messages per thread. Finer costs a wake-up per step. [0.00001-1]
    #[arg(help_heading = "Rate (open loop)", long, value_name = "SECS", default_value = "0.002", value_parser = parse_grid)]
    pub pacing_grid: Duration,

    #[command(flatten)]
    pub socket: super::socket_args::SocketArgs,

    #[command(flatten, next_help_heading = "TLS")]
    pub tls: TlsClientArgs,

    /// Check the command line and exit without running
    ///
    /// Exit 0 if valid, the output files writable included. For deployment files (systemd
    /// units, Kubernetes manifests) to be tested against this binary.
    #[arg(long)]
    pub check: bool,

    /// Load a Unix domain socket instead of TCP
    ///
    /// A path, or @NAME in the abstract namespace.
    #[arg(help_heading = "Load shape", long, value_name = "PATH", conflicts_with_all = ["addr", "port", "proxy_header", "source_ips"])]
    pub unix: Option<String>,

    /// --mode udp: the share of datagrams that may be lost
    ///
    /// More fails the run with exit status 3; a fraction (0.01) or a percentage (1%).
    #[arg(help_heading = "Gates", long, value_name = "SHARE", value_parser = parse_share)]
    pub max_loss: Option<f64>,

    /// --mode udp: send N datagrams a send, as one train
    ///
    /// Each source sends its datagrams N at a time with UDP_SEGMENT (Linux's segmentation
    /// offload: one system call, N datagrams on the wire) and reads its replies whole with
    /// UDP_GRO; every datagram is still checked on its own. At most 64, and N x --size at most
    /// 65,507 bytes. Closed loop only (not with --rate).
    #[arg(help_heading = "Load shape", long, value_name = "N", default_value = "1", value_parser = parse_count::<64>)]
    pub train: usize,

    /// With --tls: resume sessions on new connections
    ///
    /// With tickets; without it every handshake is a full one, which is what churn measures.
    #[arg(help_heading = "TLS", long, requires = "tls")]
    pub tls_resume: bool,
}
