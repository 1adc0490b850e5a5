//! Shared helpers for the integration tests: start the real binary on a port
//! chosen by the OS, talk to it with blocking sockets, and always stop it.

pub mod metrics;
pub mod netns;
pub mod tls;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

pub const BIN: &str = env!("CARGO_BIN_EXE_mio-echo");

/// Bound on every single wait in the tests, so none can hang CI.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A `mio-echo serve` process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The server's log so far, and a signal for each new piece of it.
    stderr: Arc<(Mutex<String>, Condvar)>,
    stderr_reader: Option<thread::JoinHandle<()>>,
    /// The server's stdout after its first line (in a mutex so that a
    /// server can be shared by test threads).
    stdout_lines: Mutex<mpsc::Receiver<String>>,
}

impl ServerProcess {
    /// Starts `mio-echo serve --addr 127.0.0.1:0 ARGS` and waits for the line
    /// that names the port it bound.
    pub fn start(args: &[&str]) -> ServerProcess {
        Self::start_with(args, &[])
    }

    /// Starts `mio-echo ARGS` (a whole serve command line of the test's own).
    pub fn start_with_command(args: &[&str]) -> ServerProcess {
        let mut command = Command::new(BIN);
        command.args(args);
        Self::spawn(command)
    }

    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied());
        Self::spawn(command)
    }

    /// Starts the server under a shell limit on open files (soft and hard).
    pub fn start_with_fd_limit(limit: usize, args: &[&str]) -> ServerProcess {
        let script = format!("ulimit -n {limit} && exec \"$0\" serve --addr 127.0.0.1:0 \"$@\"");
        let mut command = Command::new("sh");
        command.args(["-c", &script, BIN]).args(args);
        Self::spawn(command)
    }

    /// Starts a serve command of the caller's own (`ip netns exec ...`).
    pub fn spawn(mut command: Command) -> ServerProcess {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mio-echo serve");
        let stderr = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let sink = Arc::clone(&stderr);
        let mut err_pipe = child.stderr.take().unwrap();
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut buf) {
                sink.0
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
                sink.1.notify_all();
            }
        });
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            // Every line of stdout (the address lines), in order.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("server printed no address; stderr: {}", stderr.0.lock().unwrap());
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        ServerProcess {
            child,
            addr,
            stderr,
            stderr_reader: Some(stderr_reader),
            stdout_lines: Mutex::new(rx),
        }
    }

    /// The second line the server printed (`metrics on ADDR`), waited for.
    pub fn second_line(&self) -> String {
        self.stdout_lines
            .lock()
            .unwrap()
            .recv_timeout(TIMEOUT)
            .expect("the server printed a second line")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.0.lock().unwrap().clone()
    }

    /// The server's log once it contains `wanted`, or as it is after
    /// [`TIMEOUT`]: a line is logged just after the event it reports, so a
    /// test that has seen the event may have to wait for the line.
    pub fn wait_for_log(&self, wanted: &str) -> String {
        let (log, grew) = &*self.stderr;
        let guard = log.lock().unwrap();
        let (guard, _) = grew
            .wait_timeout_while(guard, TIMEOUT, |log| !log.contains(wanted))
            .unwrap();
        guard.clone()
    }

    /// Resident memory of the server, from /proc.
    pub fn rss_bytes(&self) -> u64 {
        proc_status_field(self.pid(), "VmRSS:") * 1024
    }

    /// The most memory the server has held at once (its RSS high-water mark).
    pub fn peak_rss_bytes(&self) -> u64 {
        proc_status_field(self.pid(), "VmHWM:") * 1024
    }

    /// Open file descriptors of the server, from /proc.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// CPU time (user + system) the server has used, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        mio_echo::process_cpu_seconds(&self.pid().to_string()).expect("read /proc stat")
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the PID of a child we started and have not reaped.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// The server's log once `wanted` occurs in it `count` times (or after [`TIMEOUT`]).
    pub fn wait_for_log_count(&self, wanted: &str, count: usize) -> String {
        let (log, grew) = &*self.stderr;
        let guard = log.lock().unwrap();
        let (guard, _) = grew
            .wait_timeout_while(guard, TIMEOUT, |log| log.matches(wanted).count() < count)
            .unwrap();
        guard.clone()
    }

    /// Waits until the server logs something more, or `limit` passes.
    pub fn wait_for_more_log(&self, limit: Duration) {
        let (log, grew) = &*self.stderr;
        let guard = log.lock().unwrap();
        let length = guard.len();
        let _ = grew
            .wait_timeout_while(guard, limit, |log| log.len() == length)
            .unwrap();
    }

    /// Everything the server logged, once it has exited and its stderr closed.
    pub fn stderr_at_exit(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().unwrap();
        }
        self.stderr()
    }

    /// Waits (bounded) for the server to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.child.wait_timeout(limit).expect("wait for server")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A connected client socket with timeouts on every operation.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Sends `data` while reading concurrently, half-closes, and returns
/// everything received until the server's EOF.
pub fn echo(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    echo_on(&mut connect(addr), data)
}

/// A byte pattern that differs per `seed` and per position, so a reply
/// from the wrong connection or at the wrong offset cannot pass.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Runs the binary to completion with `stdin`, bounded by [`TIMEOUT`].
pub fn run_bin(args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args);
    run_command(command, stdin)
}

/// Runs `command` to completion with `stdin`, bounded by [`TIMEOUT`].
pub fn run_command(mut command: Command, stdin: &[u8]) -> Output {
    let args = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mio-echo");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = match child.wait_timeout(TIMEOUT).expect("wait") {
        Some(status) => status,
        None => {
            let _ = child.kill();
            panic!("{args} did not finish within {TIMEOUT:?}");
        }
    };
    feeder.join().unwrap();
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Waits (bounded) for a child to exit; kills it and fails past [`TIMEOUT`].
pub fn wait_child(child: &mut Child) -> ExitStatus {
    match child.wait_timeout(TIMEOUT).expect("wait") {
        Some(status) => status,
        None => {
            let _ = child.kill();
            panic!("child did not finish within {TIMEOUT:?}");
        }
    }
}

/// Writes `data` without reading until the server stops taking it (its
/// backpressure), and returns how much it took.
pub fn write_without_reading(client: &mut TcpStream, data: &[u8]) -> usize {
    client
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut written = 0;
    while written < data.len() {
        match client.write(&data[written..]) {
            Ok(n) => written += n,
            Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break,
            Err(err) => panic!("{err}"),
        }
    }
    client.set_write_timeout(Some(TIMEOUT)).unwrap();
    written
}

/// Sends `data` on an open connection while reading its echo concurrently,
/// then half-closes and reads to EOF; returns everything read.
pub fn echo_on(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    let mut writer = stream.try_clone().unwrap();
    thread::scope(|scope| {
        scope.spawn(move || {
            writer.write_all(data).expect("write");
            writer.shutdown(Shutdown::Write).expect("half-close");
        });
        let mut reply = Vec::with_capacity(data.len());
        stream.read_to_end(&mut reply).expect("read reply");
        reply
    })
}

/// Reads exactly `len` bytes or fails with the error that stopped it.
pub fn read_exact_vec(stream: &mut TcpStream, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

/// Runs `mio-echo bench --addr ADDR --json EXTRA...`: its exit status, the
/// parsed report and its stderr.
pub fn bench_json(addr: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut args = vec!["bench", "--addr", addr, "--json"];
    args.extend_from_slice(extra);
    let output = run_bin(&args, b"");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|err| panic!("--json output does not parse ({err}): {stdout:?} / {stderr}"));
    (output.status.code(), report, stderr)
}

/// A number in a bench report, by dotted path (`errors.resets`).
pub fn number(report: &serde_json::Value, path: &str) -> f64 {
    path.split('.')
        .fold(report, |v, key| &v[key])
        .as_f64()
        .unwrap_or_else(|| panic!("field {path} missing in {report}"))
}

/// Arrival times (sorted here) that came as bursts a pacing-grid step of
/// `step_ms` apart: most gaps short (inside a burst), many a step long.
pub fn assert_bursts_a_step_apart(mut times: Vec<std::time::Instant>, step_ms: f64) {
    times.sort();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    let within = gaps.iter().filter(|&&gap| gap < step_ms / 5.0).count();
    let between = gaps
        .iter()
        .filter(|&&gap| (step_ms * 0.8..step_ms * 1.2).contains(&gap))
        .count();
    assert!(
        within >= gaps.len() * 7 / 10 && between >= gaps.len() / 5,
        "gaps (ms) not in bursts a grid step apart: {gaps:.1?}"
    );
}

/// A bench run of 30 s against `addr` with 0.1 s intervals written to
/// `ndjson` (`--out`), plus `extra`, once `lines` intervals are in the file
/// (bounded by [`TIMEOUT`]): a run known to be under way, to cut short.
/// Returns the child and how many lines were there.
// The caller waits for the child it is handed (clippy sees only this body).
#[allow(clippy::zombie_processes)]
pub fn bench_under_way(
    addr: &str,
    ndjson: &str,
    lines: usize,
    extra: &[&str],
) -> (std::process::Child, usize) {
    let child = Command::new(BIN)
        .args([
            "bench",
            "--addr",
            addr,
            "-c",
            "2",
            "-d",
            "30",
            "--interval",
            "0.1",
        ])
        .args(["--out", &format!("ndjson={ndjson}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mio-echo bench");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let written = std::fs::read_to_string(ndjson)
            .unwrap_or_default()
            .lines()
            .count();
        if written >= lines || Instant::now() > deadline {
            return (child, written);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a probe command that needs root (making a namespace, say): true if
/// it worked. Where it did not, the test is skipped, said on stderr with
/// what `cannot` do and why, except under CI (which runs as root), where
/// the test fails.
pub fn root_probe(test: &str, cannot: &str, probe: &mut Command) -> bool {
    let why = match probe.stdin(Stdio::null()).stderr(Stdio::piped()).output() {
        Ok(out) if out.status.success() => return true,
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(err) => err.to_string(),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: cannot {cannot} on CI: {why}"
    );
    eprintln!("{test}: skipped: cannot {cannot} here ({why}); needs root");
    false
}
