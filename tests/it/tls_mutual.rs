//! Mutual TLS: `serve --tls-client-ca` (and `--tls-client-ca-optional`)
//! against clients that show certificates OpenSSL made, a good one, one
//! from another CA and an expired one, or none; the clients being
//! OpenSSL's `s_client`, Python's ssl, socat, ncat, and our own send and
//! bench.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::metrics::{metrics_address, scrape_until, value};
use crate::util::tls::{ClientCerts, Scratch, make_client_certs, python, s_client_echo};
use crate::util::{ServerProcess, run_bin, run_command};

/// A client certificate and its key.
type Leaf = (PathBuf, PathBuf);

/// A self-signed server asking for client certificates signed by `ca`,
/// with metrics; its certificate is written to `cert.pem` in `dir`.
fn mutual_server(dir: &Scratch, ca: &Path, extra: &[&str]) -> ServerProcess {
    let cert = dir.file("cert.pem");
    let mut args = vec![
        "--tls-self-signed",
        "--tls-write-cert",
        &cert,
        "--tls-client-ca",
        ca.to_str().unwrap(),
        "--metrics-addr",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start_with(&args, &[("RUST_LOG", "debug")])
}

/// `send --tls` with `leaf` as its certificate (or none): its exit, the
/// echo, and its stderr.
fn send(server: &ServerProcess, dir: &Scratch, leaf: Option<&Leaf>) -> (bool, String, String) {
    let addr = server.addr.to_string();
    let ca = dir.file("cert.pem");
    let mut args = vec![
        "send",
        "--addr",
        &addr,
        "--tls",
        "--tls-ca",
        &ca,
        "--tls-server-name",
        "localhost",
    ];
    let files;
    if let Some((cert, key)) = leaf {
        files = [
            cert.to_string_lossy().into_owned(),
            key.to_string_lossy().into_owned(),
        ];
        args.extend_from_slice(&["--tls-cert", &files[0], "--tls-key", &files[1]]);
    }
    args.push("mutual hello");
    let output = run_bin(&args, b"");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Python's ssl, with `leaf` loaded as its certificate (or none): prints
/// the echo, or the name of the error that ended it.
fn python_client(server: &ServerProcess, dir: &Scratch, leaf: Option<&Leaf>) -> String {
    let load = match leaf {
        Some((cert, key)) => format!(
            "ctx.load_cert_chain({:?}, {:?})\n",
            cert.to_str().unwrap(),
            key.to_str().unwrap()
        ),
        None => String::new(),
    };
    let script = format!(
        r#"{load}try:
    with ctx.wrap_socket(socket.create_connection((host, port), timeout=20), server_hostname="localhost") as tls:
        tls.sendall(b"from python")
        got = b""
        while len(got) < 11:
            chunk = tls.recv(100)
            if not chunk:
                break
            got += chunk
        print(got.decode())
except ssl.SSLError as err:
    print("refused:", err.reason)
"#
    );
    let output = run_command(python(&script, server, &dir.path("cert.pem")), b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn s_client_args(leaf: &Leaf) -> [String; 4] {
    [
        "-cert".into(),
        leaf.0.to_string_lossy().into_owned(),
        "-key".into(),
        leaf.1.to_string_lossy().into_owned(),
    ]
}

/// socat or ncat to `server` over TLS, trusting `ca`, checking the name
/// `localhost`, showing `leaf` if given; each ends at its input's end.
fn tool_client(tool: &str, server: &ServerProcess, ca: &Path, leaf: Option<&Leaf>) -> Command {
    let ca = ca.to_str().unwrap();
    let port = server.addr.port().to_string();
    let mut command = Command::new(tool);
    if tool == "socat" {
        let mut address = format!("OPENSSL:127.0.0.1:{port},cafile={ca},commonname=localhost");
        if let Some((cert, key)) = leaf {
            address += &format!(",cert={},key={}", cert.display(), key.display());
        }
        command.args(["-t", "5", "-", &address]);
    } else {
        command.args(["--ssl", "--ssl-verify", "--ssl-trustfile", ca]);
        if let Some((cert, key)) = leaf {
            command.arg("--ssl-cert").arg(cert).arg("--ssl-key").arg(key);
        }
        command.args(["localhost", &port]);
    }
    command
}

#[test]
fn a_required_client_certificate_is_verified_for_openssl_python_socat_ncat_and_send() {
    let dir = Scratch::new("mtls-required");
    let certs: ClientCerts = make_client_certs(&dir);
    let server = mutual_server(&dir, &certs.ca, &[]);
    let metrics = metrics_address(&server);
    let server_cert = dir.path("cert.pem");

    // The good certificate, from three clients.
    let good = s_client_args(&certs.good);
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let (ok, echoed, err) = s_client_echo(&server, &server_cert, &good, "from openssl\n");
    assert!(ok && echoed == "from openssl\n", "{echoed:?} {err}");
    assert_eq!(python_client(&server, &dir, Some(&certs.good)), "from python");
    // From here on the one source is refused now and then.
    let first_refusal = Instant::now();
    for (tool, with_cert) in [("socat", true), ("ncat", true), ("socat", false), ("ncat", false)] {
        let output = run_command(
            tool_client(tool, &server, &server_cert, with_cert.then_some(&certs.good)),
            b"from a tool\n",
        );
        let echoed = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if with_cert {
            assert!(output.status.success(), "{tool}: {stderr}");
            assert_eq!(echoed, "from a tool\n", "{tool}: {stderr}");
        } else {
            assert_eq!(echoed, "", "{tool} without a certificate: {stderr}");
        }
    }
    let (ok, echoed, err) = send(&server, &dir, Some(&certs.good));
    assert!(ok && echoed == "mutual hello", "{echoed:?} {err}");
    let log = server.wait_for_log("client certificate CN=alice, O=mio-echo tests");
    assert!(
        log.contains("client certificate CN=alice, O=mio-echo tests"),
        "{log}"
    );

    // Refused: no certificate (OpenSSL, Python, send), another CA's, an expired one.
    let (ok, echoed, _) = s_client_echo(&server, &server_cert, &[], "no certificate\n");
    assert!(
        !ok && echoed.is_empty(),
        "s_client without a certificate: {echoed:?}"
    );
    let refused = python_client(&server, &dir, None);
    assert_eq!(refused, "refused: TLSV13_ALERT_CERTIFICATE_REQUIRED");
    let (ok, _, err) = send(&server, &dir, None);
    assert!(!ok, "send without a certificate");
    assert!(
        err.contains("requires a client certificate: give one with --tls-cert and --tls-key"),
        "{err}"
    );
    let (ok, _, err) = send(&server, &dir, Some(&certs.wrong_ca));
    assert!(!ok, "a certificate from another CA");
    assert!(
        err.contains(
            "refused our client certificate (alert 'UnknownCA'): it is not signed by a CA the server trusts"
        ),
        "{err}"
    );
    let (ok, _, err) = send(&server, &dir, Some(&certs.expired));
    assert!(!ok, "an expired certificate");
    assert!(err.contains("(alert 'CertificateExpired')"), "{err}");
    let refusing_took = first_refusal.elapsed();

    // Every refusal is counted (socat's and ncat's without one, then the
    // five above); the one source is said once per 10 s.
    let text = scrape_until(metrics, |text| {
        value(
            text,
            "mio_echo_connections_closed_total{reason=\"tls_client_cert\"}",
        ) == Some(7.0)
    });
    assert_eq!(
        value(
            &text,
            "mio_echo_connections_closed_total{reason=\"tls_client_cert\"}"
        ),
        Some(7.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "mio_echo_connections_closed_total{reason=\"reset\"}"),
        Some(0.0),
        "refusals are not resets: {text}"
    );
    let log = server.stderr();
    let said = log.matches("TLS clients from 127.0.0.1 are refused").count();
    let allowed = 1 + refusing_took.as_secs() as usize / 10;
    assert!(
        said >= 1 && said <= allowed,
        "said {said} times in {refusing_took:?}:\n{log}"
    );
}

#[test]
fn an_optional_client_certificate_may_be_left_out_but_not_be_wrong() {
    let dir = Scratch::new("mtls-optional");
    let certs = make_client_certs(&dir);
    let server = mutual_server(&dir, &certs.ca, &["--tls-client-ca-optional"]);
    let (ok, echoed, err) = send(&server, &dir, None);
    assert!(ok && echoed == "mutual hello", "without one: {echoed:?} {err}");
    assert_eq!(python_client(&server, &dir, None), "from python");
    let (ok, echoed, err) = send(&server, &dir, Some(&certs.good));
    assert!(
        ok && echoed == "mutual hello",
        "with a good one: {echoed:?} {err}"
    );
    let (ok, _, err) = send(&server, &dir, Some(&certs.expired));
    assert!(!ok && err.contains("(alert 'CertificateExpired')"), "{err}");
    let (ok, _, err) = send(&server, &dir, Some(&certs.wrong_ca));
    assert!(!ok && err.contains("(alert 'UnknownCA')"), "{err}");
}

#[test]
fn bench_shows_a_client_certificate_and_says_when_it_has_none() {
    let dir = Scratch::new("mtls-bench");
    let certs = make_client_certs(&dir);
    let server = mutual_server(&dir, &certs.ca, &[]);
    let addr = server.addr.to_string();
    let ca = dir.file("cert.pem");
    let (cert, key) = (certs.good.0.to_str().unwrap(), certs.good.1.to_str().unwrap());
    let base = [
        "bench",
        "--addr",
        &addr,
        "--tls",
        "--tls-ca",
        &ca,
        "--tls-server-name",
        "localhost",
        "--connections",
        "4",
        "--duration",
        "1",
        "--json",
    ];
    let mut with_cert = base.to_vec();
    with_cert.extend_from_slice(&["--tls-cert", cert, "--tls-key", key]);
    let output = run_bin(&with_cert, b"");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(crate::util::number(&report, "messages") > 0.0, "{report}");
    let errors = report["errors"].as_object().expect("errors by kind");
    assert!(errors.values().all(|count| count == 0), "{report}");

    let output = run_bin(&base, b"");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "bench without a certificate must fail: {stderr}"
    );
    assert!(
        stderr.contains("requires a client certificate: give one with --tls-cert and --tls-key"),
        "{stderr}"
    );
}

#[test]
fn mutual_tls_flags_that_cannot_work_are_one_line_errors() {
    let dir = Scratch::new("mtls-flags");
    let certs = make_client_certs(&dir);
    let ca = certs.ca.to_str().unwrap();
    let output = run_bin(&["serve", "--addr", "127.0.0.1:0", "--tls-client-ca", ca], b"");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "error: --tls-client-ca needs TLS: give --tls-cert and --tls-key, or --tls-self-signed (see --help)"
    );
    let missing = dir.file("missing.pem");
    let output = run_bin(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tls-self-signed",
            "--tls-client-ca",
            &missing,
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.starts_with(&format!("error: cannot use the client CA file {missing}: ")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let output = run_bin(
        &[
            "send",
            "--addr",
            "127.0.0.1:1",
            "--tls",
            "--tls-cert",
            certs.good.0.to_str().unwrap(),
            "x",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(2), "--tls-cert without --tls-key");
    let (cert, other_key) = (certs.good.0.to_str().unwrap(), certs.wrong_ca.1.to_str().unwrap());
    let output = run_bin(
        &[
            "send",
            "--addr",
            "127.0.0.1:1",
            "--tls",
            "--tls-cert",
            cert,
            "--tls-key",
            other_key,
            "x",
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("does not fit the certificate"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
