//! `send`, `chat` and `bench` with `--tls`: against our server, against
//! socat's OpenSSL echo server (`OPENSSL-LISTEN ... PIPE`, a server no one
//! here wrote), and the one-line errors of certificates that do not verify
//! and of plain/TLS mismatches, after which the server serves on.

use crate::util;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use crate::util::tls::{KeyKind, Scratch, make_chain, self_signed_server};
use crate::util::{ServerProcess, bench_json, number, pattern, run_bin};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// All errors of a bench report, of every kind.
fn errors(report: &serde_json::Value) -> f64 {
    let kinds = report["errors"].as_object().expect("errors in the report");
    kinds.values().map(|v| v.as_f64().unwrap()).sum()
}

#[test]
fn send_and_chat_over_tls_get_their_echo() {
    let dir = Scratch::new("tls-send");
    let (server, cert) = self_signed_server(&dir, &[]);
    let (port, ca) = (server.addr.port().to_string(), cert.to_str().unwrap());
    let input = pattern(3, 4 << 20);
    let output = run_bin(&["send", "--port", &port, "--tls", "--tls-ca", ca], &input);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(output.stdout == input, "{} bytes back", output.stdout.len());
    let output = run_bin(&["chat", "--port", &port, "--tls", "--tls-ca", ca], b"one\ntwo\n");
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(output.stdout, b"one\ntwo\n");
    assert!(
        stderr_of(&output).contains("(TLS: TLSv1_3, "),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn certificates_that_do_not_verify_are_one_line_errors() {
    let dir = Scratch::new("tls-verify");
    let (server, cert) = self_signed_server(&dir, &[]);
    let port = server.addr.port().to_string();
    let send = |extra: &[&str]| {
        let mut args = vec!["send", "--port", &port, "--tls"];
        args.extend_from_slice(extra);
        args.push("hello");
        run_bin(&args, b"")
    };
    // Not signed by anything the system trusts.
    let output = send(&[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not signed by a trusted authority") && err.contains("--tls-ca"),
        "{err}"
    );
    // Trusted, but not for the name asked for.
    let output = send(&[
        "--tls-ca",
        cert.to_str().unwrap(),
        "--tls-server-name",
        "example.org",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert!(err.contains("not valid for the name 'example.org'"), "{err}");
    // A CA file that holds no certificate.
    let empty = dir.path("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let output = send(&["--tls-ca", empty.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("it holds no certificate"),
        "{}",
        stderr_of(&output)
    );
    // --tls-insecure skips the check, and says so.
    let output = send(&["--tls-insecure"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(output.stdout, b"hello");
    assert!(
        stderr_of(&output).contains("not verified"),
        "{}",
        stderr_of(&output)
    );
    // Flags that only make sense with --tls are usage errors without it.
    let output = run_bin(&["send", "--port", &port, "--tls-insecure", "x"], b"");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn plain_and_tls_mismatches_say_so_and_the_servers_serve_on() {
    let dir = Scratch::new("tls-mismatch");
    let (tls_server, cert) = self_signed_server(&dir, &[]);
    let plain_server = ServerProcess::start(&[]);
    let (tls_port, plain_port) = (
        tls_server.addr.port().to_string(),
        plain_server.addr.port().to_string(),
    );
    let ca = cert.to_str().unwrap();
    // TLS client, plain server: the server echoes our hello back.
    let output = run_bin(
        &["send", "--port", &plain_port, "--tls", "--tls-ca", ca, "x"],
        b"",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("does not speak TLS"),
        "{}",
        stderr_of(&output)
    );
    // Plain client, TLS server: an alert comes back.
    let output = run_bin(&["send", "--port", &tls_port, "hello"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("it is a TLS server (add --tls)"),
        "{}",
        stderr_of(&output)
    );
    let (_, report, err) = bench_json(&format!("127.0.0.1:{tls_port}"), &["-c", "2", "-d", "0.3"]);
    assert!(
        report["warnings"].to_string().contains("add --tls"),
        "{report} {err}"
    );
    let (_, report, err) = bench_json(
        &format!("127.0.0.1:{plain_port}"),
        &["-c", "2", "-d", "0.3", "--tls", "--tls-ca", ca],
    );
    assert!(
        report["warnings"].to_string().contains("does not speak TLS"),
        "{report} {err}"
    );
    assert!(number(&report, "errors.connect_failures") >= 2.0, "{report}");
    // Both serve on.
    let output = run_bin(&["send", "--port", &plain_port, "plain"], b"");
    assert!(output.status.success() && output.stdout == b"plain");
    let output = run_bin(
        &["send", "--port", &tls_port, "--tls", "--tls-ca", ca, "tls"],
        b"",
    );
    assert!(output.status.success() && output.stdout == b"tls");
}

/// Every bench mode over TLS: every byte verified, no errors, the session
/// and the handshakes in the report.
#[test]
fn bench_over_tls_runs_every_mode_and_reports_the_session() {
    let dir = Scratch::new("tls-bench");
    let (server, cert) = self_signed_server(&dir, &[]);
    let addr = server.addr.to_string();
    let ca = cert.to_str().unwrap();
    let common = ["-c", "4", "-d", "0.5", "--tls", "--tls-ca", ca];
    for extra in [
        &["-m", "pingpong"][..],
        &["-m", "stream"],
        &["-m", "churn"],
        &["-m", "hold"],
        &["--rate", "400"],
    ] {
        let mut args = common.to_vec();
        args.extend_from_slice(extra);
        let (code, report, err) = bench_json(&addr, &args);
        assert_eq!(code, Some(0), "{extra:?}: {err}");
        assert_eq!(errors(&report), 0.0, "{extra:?}: {report}");
        assert!(number(&report, "bytes") > 0.0, "{extra:?}: {report}");
        assert_eq!(report["tls"]["version"], "TLSv1_3", "{extra:?}: {report}");
        assert!(
            report["tls"]["cipher_suite"]
                .as_str()
                .unwrap()
                .starts_with("TLS13_"),
            "{report}"
        );
        assert!(number(&report, "tls.handshake_latency.p50_us") > 0.0, "{report}");
        assert!(report["histograms"]["handshake"].is_string(), "{report}");
        if extra[1] == "churn" {
            // Full handshakes unless --tls-resume: one per cycle or so.
            assert!(
                number(&report, "tls.handshakes") >= number(&report, "cycles"),
                "{report}"
            );
            assert_eq!(number(&report, "tls.resumed"), 0.0, "{report}");
        } else {
            assert_eq!(number(&report, "tls.handshakes"), 4.0, "{extra:?}: {report}");
        }
    }
    let mut args = common.to_vec();
    args.extend_from_slice(&["-m", "churn", "--tls-resume"]);
    let (code, report, err) = bench_json(&addr, &args);
    assert_eq!(code, Some(0), "{err}");
    assert!(number(&report, "tls.resumed") > 0.0, "{report}");
}

/// socat's OpenSSL echo server on a port we picked, with our chain; killed on drop.
struct Socat(Child);

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn socat_echo(cert_and_key: &std::path::Path) -> (Socat, u16) {
    // socat takes a fixed port: borrow a free one from the system.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!(
        "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={}",
        cert_and_key.display()
    );
    let mut child = Command::new("socat")
        .args(["-d", "-d", &listen, "PIPE"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("socat is installed");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    // Its "listening on" line is the readiness signal.
    while !line.contains("listening on") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "socat exited before listening"
        );
    }
    // Keep draining its log so that it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (Socat(child), port)
}

#[test]
fn send_and_bench_over_tls_against_socats_openssl_echo_server() {
    let dir = Scratch::new("tls-socat");
    let chain = make_chain(&dir, KeyKind::Rsa);
    let cert_and_key = dir.path("socat.pem");
    let both = std::fs::read_to_string(&chain.chain).unwrap() + &std::fs::read_to_string(&chain.key).unwrap();
    std::fs::write(&cert_and_key, both).unwrap();
    let (_socat, port) = socat_echo(&cert_and_key);
    let addr = format!("localhost:{port}");
    let ca = chain.ca.to_str().unwrap();
    let input = pattern(5, 1 << 20);
    let output = run_bin(&["send", "--addr", &addr, "--tls", "--tls-ca", ca], &input);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(output.stdout == input, "{} bytes back", output.stdout.len());
    for mode in ["pingpong", "churn"] {
        let (code, report, err) = bench_json(
            &addr,
            &["-m", mode, "-c", "2", "-d", "0.5", "--tls", "--tls-ca", ca],
        );
        assert_eq!(code, Some(0), "{mode}: {err}");
        assert_eq!(errors(&report), 0.0, "{mode}: {report}");
        assert!(number(&report, "bytes") > 0.0, "{mode}: {report}");
    }
}

/// `--threads`, `--max-connections` and the stats line with TLS: 8 clients
/// over 2 reactors, at most 4 at once; every plaintext byte counted in and out.
#[test]
fn tls_with_two_reactors_a_connection_cap_and_the_stats_line() {
    let dir = Scratch::new("tls-reactors");
    let (server, cert) = self_signed_server(
        &dir,
        &[
            "--threads",
            "2",
            "--max-connections",
            "4",
            "--stats-interval",
            "0.2",
        ],
    );
    let port = server.addr.port().to_string();
    let ca = cert.to_str().unwrap();
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (port, ca) = (port.clone(), ca.to_string());
            std::thread::spawn(move || {
                run_bin(
                    &["send", "--port", &port, "--tls", "--tls-ca", &ca],
                    &pattern(i, 1000),
                )
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let output = client.join().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        assert!(output.stdout == pattern(i as u64, 1000));
    }
    let log = server.wait_for_log("0 active, 8 accepted");
    let total = log
        .lines()
        .find(|line| line.contains("0 active, 8 accepted"))
        .unwrap();
    assert!(total.contains("stats (all 2 reactors): "), "{total}");
    assert!(
        total.contains("8000 bytes in") && total.contains("8000 bytes out"),
        "{total}"
    );
}

/// Fairness through TLS: while one client streams as fast as it can,
/// another's small echoes still come back (the streaming connection yields
/// after its budget instead of holding the reactor).
#[test]
fn a_tls_client_streaming_flat_out_does_not_starve_another() {
    let dir = Scratch::new("tls-fair");
    let (server, cert) = self_signed_server(&dir, &[]);
    let addr = server.addr.to_string();
    let ca = cert.to_str().unwrap().to_string();
    let streaming = {
        let (addr, ca) = (addr.clone(), ca.clone());
        std::thread::spawn(move || {
            bench_json(
                &addr,
                &["-m", "stream", "-c", "1", "-d", "3", "--tls", "--tls-ca", &ca],
            )
        })
    };
    // Each exchange must finish well inside its own timeout while the
    // stream runs (bench's connect, then 3 s of streaming).
    let port = server.addr.port().to_string();
    for i in 0..10 {
        let output = run_bin(
            &[
                "send",
                "--port",
                &port,
                "--tls",
                "--tls-ca",
                &ca,
                "--timeout",
                "2",
            ],
            &pattern(i, 100),
        );
        assert!(output.status.success(), "exchange {i}: {}", stderr_of(&output));
    }
    let (code, report, err) = streaming.join().unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        number(&report, "bytes") > 0.0 && errors(&report) == 0.0,
        "{report}"
    );
}

/// A server that accepts and then says nothing: the handshake's silence is
/// bounded by --timeout, and the error says so.
#[test]
fn a_server_that_never_answers_the_hello_times_out_with_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let holder = std::thread::spawn(move || listener.accept().map(|(socket, _)| socket));
    let output = run_bin(
        &[
            "send",
            "--port",
            &port,
            "--tls",
            "--tls-insecure",
            "--timeout",
            "0.5",
            "x",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr_of(&output);
    assert!(
        err.contains("no TLS handshake from 127.0.0.1:") && err.contains("within 0.5 s"),
        "{err}"
    );
    drop(holder.join());
}

/// Issue 19, item 12: plain `send` and `chat` against a TLS server say so
/// in one line, and the server's alert never reaches standard output
/// (before, 7 raw bytes went into `> copy.iso`, and chat printed them on
/// the terminal, sometimes with exit 0).
#[test]
fn plain_clients_against_a_tls_server_print_no_alert_bytes() {
    let dir = util::tls::Scratch::new("tls-alert-to-plain");
    let (server, _cert) = util::tls::self_signed_server(&dir, &[]);
    let addr = server.addr.to_string();
    for (args, stdin) in [
        (vec!["send", "--addr", addr.as_str(), "plain text"], &b""[..]),
        (vec!["send", "--addr", addr.as_str()], b"plain text from stdin"),
        (vec!["chat", "--addr", addr.as_str()], b"plain line\n"),
    ] {
        let output = util::run_bin(&args, stdin);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "{args:?}: {:?} on stdout",
            output.stdout
        );
        let error = stderr
            .lines()
            .filter(|line| line.starts_with("error:"))
            .collect::<Vec<_>>();
        assert_eq!(error.len(), 1, "{args:?}: {stderr}");
        assert!(
            error[0].contains("answered with a TLS alert: it is a TLS server (add --tls)"),
            "{stderr}"
        );
    }
}
