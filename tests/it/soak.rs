//! The soak: one server under mixed, misbehaving load for a long time.
//! Ignored by `cargo test`; `scripts/soak.sh [SECS]` runs it (release build).
//!
//! Load, all at once, in rounds until the time is up: `mio-echo bench` in
//! pingpong, stream, churn and hold modes (every byte verified), slow readers
//! (verify what they read, a little at a time), resetters (write, then close
//! with a reset while the echo is in flight) and idle clients that the
//! server's idle timeout must close. A sampler records the server's RSS and
//! open descriptors every second.

use crate::util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{ServerProcess, connect, pattern, run_bin};
use serde_json::Value;

#[derive(Default)]
struct Tally {
    bytes_echoed: AtomicU64,
    corruptions: AtomicU64,
    /// Bench-reported early EOFs, resets, connect failures and timeouts.
    bench_errors: AtomicU64,
    /// Slow readers and idle clients whose connection failed.
    client_errors: AtomicU64,
    rounds: AtomicU64,
}

fn bench_round(addr: &str, args: &[&str], tally: &Tally) {
    let mut all = vec!["bench", "--addr", addr, "--json", "--duration", "5"];
    all.extend_from_slice(args);
    let output = run_bin(&all, b"");
    let report: Value = serde_json::from_slice(&output.stdout).expect("bench JSON");
    let errors = &report["errors"];
    let count = |field: &str| errors[field].as_u64().unwrap_or(0);
    tally
        .corruptions
        .fetch_add(count("mismatches"), Ordering::Relaxed);
    let other = count("early_eofs") + count("resets") + count("connect_failures") + count("timeouts");
    if other > 0 {
        eprintln!("soak: bench {args:?} reported {errors}");
    }
    tally.bench_errors.fetch_add(other, Ordering::Relaxed);
    tally
        .bytes_echoed
        .fetch_add(report["bytes"].as_u64().unwrap_or(0), Ordering::Relaxed);
    tally.rounds.fetch_add(1, Ordering::Relaxed);
}

fn slow_reader(server: &ServerProcess, seed: u64, tally: &Tally) {
    let mut client = connect(server.addr);
    let data = pattern(seed, 1 << 20);
    let mut writer = client.try_clone().unwrap();
    let sender = thread::spawn(move || {
        writer.write_all(&data).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
        data
    });
    let mut reply = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(err) => {
                eprintln!("soak: slow reader failed: {err}");
                tally.client_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        // A slow consumer on purpose: about 400 KB/s.
        thread::sleep(Duration::from_millis(10));
    }
    let data = sender.join().unwrap();
    if reply != data {
        tally.corruptions.fetch_add(1, Ordering::Relaxed);
    }
    tally
        .bytes_echoed
        .fetch_add(reply.len() as u64, Ordering::Relaxed);
}

fn resetter(server: &ServerProcess, seed: u64) {
    let client = connect(server.addr);
    client.set_nonblocking(true).unwrap();
    let _ = (&client).write(&pattern(seed, 256 * 1024));
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

fn idle_clients(server: &ServerProcess, count: usize, tally: &Tally) {
    let mut clients: Vec<TcpStream> = (0..count).map(|_| connect(server.addr)).collect();
    for client in &mut clients {
        client.write_all(b"z").unwrap();
    }
    // The server's idle timeout (8 s) must close every one: echo, then EOF.
    for client in &mut clients {
        let mut rest = Vec::new();
        match client.read_to_end(&mut rest) {
            Ok(_) if rest == b"z" => {}
            Ok(_) => {
                tally.corruptions.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                eprintln!("soak: idle client failed: {err}");
                tally.client_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[test]
#[ignore = "long-running: scripts/soak.sh runs it"]
fn soak() {
    mio_echo::raise_fd_limit().unwrap();
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut server = ServerProcess::start(&["--idle-timeout", "8", "--stats-interval", "1"]);
    let addr = server.addr.to_string();
    let pid = server.pid();
    let rss = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (rss_start, fds_start) = (rss(pid), server.open_fds());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tally = Tally::default();
    let done = AtomicBool::new(false);
    let peak_rss = AtomicU64::new(rss_start);
    let started = Instant::now();
    let seeds = AtomicU64::new(0);

    thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                peak_rss.fetch_max(rss(pid), Ordering::Relaxed);
                // The sampling period, not a wait for an event.
                thread::sleep(Duration::from_secs(1));
            }
        });
        let load: [&[&str]; 4] = [
            &["--mode", "pingpong", "--connections", "100"],
            &["--mode", "stream", "--connections", "4"],
            &["--mode", "churn", "--connections", "20"],
            &["--mode", "hold", "--connections", "500"],
        ];
        for args in load {
            let (addr, tally) = (&addr, &tally);
            scope.spawn(move || {
                while Instant::now() < deadline {
                    bench_round(addr, args, tally);
                }
            });
        }
        for _ in 0..4 {
            scope.spawn(|| {
                while Instant::now() < deadline {
                    slow_reader(&server, seeds.fetch_add(1, Ordering::Relaxed), &tally);
                }
            });
        }
        scope.spawn(|| {
            while Instant::now() < deadline {
                for _ in 0..20 {
                    resetter(&server, seeds.fetch_add(1, Ordering::Relaxed));
                }
                idle_clients(&server, 200, &tally);
            }
        });
        // The load threads end at the deadline; the sampler when told.
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(200));
        }
        done.store(true, Ordering::Relaxed);
    });
    // Wait until the load is gone: the idle timeout closes any stragglers.
    let lines_before = server.stderr().matches("stats: 0 active").count();
    server.wait_for_log_count("stats: 0 active", lines_before + 1);
    let crashed = server.wait_exit(Duration::ZERO).is_some();
    let (rss_end, fds_end) = (rss(pid), server.open_fds());
    let corruptions = tally.corruptions.load(Ordering::Relaxed);
    println!(
        "soak: {:.0} s, {} bench rounds, {} bytes echoed and verified, corruptions {}, bench errors {}, \
         slow-reader/idle-client errors {}, crashes {}, server RSS start/peak/end {}/{}/{} KiB, fds start/end {}/{}",
        started.elapsed().as_secs_f64(),
        tally.rounds.load(Ordering::Relaxed),
        tally.bytes_echoed.load(Ordering::Relaxed),
        corruptions,
        tally.bench_errors.load(Ordering::Relaxed),
        tally.client_errors.load(Ordering::Relaxed),
        u8::from(crashed),
        rss_start,
        peak_rss.load(Ordering::Relaxed).max(rss_end),
        rss_end,
        fds_start,
        fds_end,
    );
    assert!(!crashed, "the server died");
    assert_eq!(corruptions, 0);
    assert_eq!(fds_end, fds_start, "descriptors leaked");
    let status = {
        server.signal(libc::SIGTERM);
        server.wait_exit(util::TIMEOUT).expect("server exits")
    };
    assert!(status.success());
}
