//! `serve --tls-cert/--tls-key` with certificates OpenSSL made: RSA, ECDSA
//! and Ed25519 leaves behind an intermediate; clients limited to TLS 1.2 or
//! 1.3; ALPN and SNI. Each checked with our own client and one we did not
//! write (OpenSSL's or Python's).

use crate::util;

use crate::util::tls::{Chain, KeyKind, Scratch, make_chain, python, s_client_echo};
use crate::util::{ServerProcess, run_bin, run_command};

fn chain_server(chain: &Chain, extra: &[&str], env: &[(&str, &str)]) -> ServerProcess {
    let mut args = vec![
        "--tls-cert",
        chain.chain.to_str().unwrap(),
        "--tls-key",
        chain.key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ServerProcess::start_with(&args, env)
}

#[test]
fn rsa_ecdsa_and_ed25519_leaves_behind_an_intermediate_are_served() {
    for kind in [KeyKind::Rsa, KeyKind::Ecdsa, KeyKind::Ed25519] {
        let dir = Scratch::new(&format!("chain-{kind:?}"));
        let chain = make_chain(&dir, kind);
        let server = chain_server(&chain, &[], &[]);
        // Our client trusts only the root: the intermediate must come from the server.
        let addr = format!("localhost:{}", server.addr.port());
        let message = format!("hello over a {kind:?} chain");
        let output = run_bin(
            &[
                "send",
                "--addr",
                &addr,
                "--tls",
                "--tls-ca",
                chain.ca.to_str().unwrap(),
                &message,
            ],
            b"",
        );
        assert!(
            output.status.success(),
            "{kind:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, message.as_bytes(), "{kind:?}");
        // OpenSSL verifies the same chain (-verify_return_error).
        let (ok, echoed, err) = s_client_echo(&server, &chain.ca, &[], "from openssl\n");
        assert!(ok, "{kind:?}: {err}");
        assert_eq!(echoed, "from openssl\n", "{kind:?}: {err}");
    }
}

/// Python clients pinned to one version each: both are served, and say so.
#[test]
fn clients_limited_to_tls_1_2_or_to_tls_1_3_are_both_served() {
    let dir = Scratch::new("versions");
    let chain = make_chain(&dir, KeyKind::Ecdsa);
    let server = chain_server(&chain, &[], &[]);
    let script = r#"
for name in ("TLSv1_2", "TLSv1_3"):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, name)
    with ctx.wrap_socket(socket.create_connection((host, port), timeout=20), server_hostname="localhost") as tls:
        message = f"pinned to {name}".encode()
        tls.sendall(message)
        got = b""
        while len(got) < len(message):
            got += tls.recv(100)
        assert got == message, got
        print(tls.version(), tls.cipher()[0])
"#;
    let output = run_command(python(script, &server, &chain.ca), b"");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("TLSv1.2 ECDHE-ECDSA-"), "{stdout}");
    assert!(lines[1].starts_with("TLSv1.3 TLS_"), "{stdout}");
}

#[test]
fn alpn_picks_the_servers_protocol_and_sni_is_logged() {
    let dir = Scratch::new("alpn");
    let chain = make_chain(&dir, KeyKind::Ecdsa);
    let server = chain_server(&chain, &["--tls-alpn", "echo,h2"], &[("RUST_LOG", "debug")]);
    let ca = chain.ca.to_str().unwrap();
    let addr = format!("localhost:{}", server.addr.port());
    // Ours offers two; the server's one of them is chosen.
    let output = run_bin(
        &[
            "send",
            "--addr",
            &addr,
            "--tls",
            "--tls-ca",
            ca,
            "--tls-alpn",
            "x-unknown,echo",
            "-v",
            "alpn",
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains(", ALPN echo"), "{stderr}");
    server.wait_for_log("TLS hello: SNI localhost, ALPN offered [x-unknown, echo]");
    server.wait_for_log("ALPN echo");
    // OpenSSL offering only what the server does not speak is refused (RFC 7301).
    let (ok, echoed, err) = s_client_echo(&server, &chain.ca, &["-alpn", "x-unknown"], "never echoed\n");
    assert!(!ok && echoed.is_empty(), "{echoed}");
    assert!(err.contains("no application protocol"), "{err}");
    // A name given with --tls-server-name is the one sent and checked.
    let output = run_bin(
        &[
            "send",
            "--addr",
            &format!("127.0.0.1:{}", server.addr.port()),
            "--tls",
            "--tls-ca",
            ca,
            "--tls-server-name",
            "localhost",
            "sni",
        ],
        b"",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.wait_for_log_count("SNI localhost", 2);
    // Python offering ALPN too: it gets the same answer.
    let script = r#"
ctx.set_alpn_protocols(["h2", "echo"])
with ctx.wrap_socket(socket.create_connection((host, port), timeout=20), server_hostname="localhost") as tls:
    print(tls.selected_alpn_protocol())
"#;
    let output = run_command(python(script, &server, &chain.ca), b"");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "echo\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Issue 19, item 8: `serve --check` loads what a start loads. Before, a
/// missing certificate, a directory, or a Unix path in no directory all
/// printed "valid" and exited 0, and the start then failed.
#[test]
fn serve_check_fails_exactly_where_a_start_would() {
    let dir = util::tls::Scratch::new("check");
    let chain = util::tls::make_chain(&dir, util::tls::KeyKind::Ecdsa);
    let (cert, key) = (chain.chain.to_str().unwrap(), chain.key.to_str().unwrap());
    let dir_path = dir.0.to_str().unwrap();
    for (args, wanted) in [
        (
            vec!["--tls-cert", "missing.pem", "--tls-key", "missing.key"],
            "no such file",
        ),
        (
            vec!["--tls-cert", dir_path, "--tls-key", dir_path],
            "is a directory",
        ),
        (vec!["--tls-cert", cert, "--tls-key", cert], "key"),
        (vec!["--unix", "/nonexistent-dir/echo.sock"], "not a directory"),
    ] {
        let mut check = vec!["serve", "--check"];
        check.extend_from_slice(&args);
        let checked = util::run_bin(&check, b"");
        let said = String::from_utf8_lossy(&checked.stderr).into_owned();
        assert_eq!(checked.status.code(), Some(1), "{args:?}: {said}");
        assert!(
            said.contains(wanted) && said.lines().count() == 1,
            "{args:?}: {said}"
        );
        // A start fails the same way.
        let mut start = vec!["serve", "--addr", "127.0.0.1:0"];
        start.extend_from_slice(&args);
        let started = util::run_bin(&start, b"");
        assert_eq!(started.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&started.stderr).contains(said.trim()),
            "{args:?}"
        );
    }
    let good = util::run_bin(&["serve", "--check", "--tls-cert", cert, "--tls-key", key], b"");
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert_eq!(good.stdout, b"the serve command line is valid\n");
}
