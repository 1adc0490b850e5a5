//! Names with addresses of both families (RFC 8305 happy eyeballs), end to
//! end: `dual.test` resolves to `::1` first and `127.0.0.1` second, through
//! a hosts file of the test's own bind-mounted over /etc/hosts in a mount
//! namespace of the client's own (`unshare --mount`), so the machine's
//! resolver is untouched. Needs root; elsewhere the test skips, except
//! under CI, where it fails.

use std::process::{Command, Output};

use crate::util::tls::Scratch;
use crate::util::{BIN, ServerProcess, run_command};

const NAME: &str = "dual.test";

/// Runs `mio-echo ARGS` where `dual.test` has both addresses, or `None`
/// (said why) where this machine cannot make mount namespaces.
fn with_dual_name(hosts: &Scratch, args: &[&str], stdin: &[u8]) -> Option<Output> {
    let file = hosts.path("hosts");
    std::fs::write(&file, format!("::1 {NAME}\n127.0.0.1 {NAME}\n")).unwrap();
    let mut probe = Command::new("unshare");
    probe
        .args(["--mount", "mount", "--bind"])
        .arg(&file)
        .arg("/etc/hosts");
    if !crate::util::root_probe("names", "make a mount namespace", &mut probe) {
        return None;
    }
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
        ])
        .arg(&file)
        .arg(BIN)
        .args(args);
    Some(run_command(command, stdin))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_name_with_both_families_is_reached_wherever_the_server_listens() {
    let hosts = Scratch::new("dual-name");
    for listen in ["127.0.0.1:0", "[::1]:0"] {
        let server = ServerProcess::start_with_command(&["serve", "--addr", listen]);
        let target = format!("{NAME}:{}", server.addr.port());
        // The resolver's first answer is ::1: a server on 127.0.0.1 alone
        // is reached after that attempt is refused.
        let Some(sent) = with_dual_name(&hosts, &["send", "--addr", &target, "both families"], b"") else {
            return;
        };
        assert!(
            sent.status.success(),
            "send, server on {listen}: {}",
            text(&sent.stderr)
        );
        assert_eq!(text(&sent.stdout), "both families", "send, server on {listen}");
        let chat = with_dual_name(&hosts, &["chat", "--addr", &target], b"a line\n").unwrap();
        assert!(
            chat.status.success(),
            "chat, server on {listen}: {}",
            text(&chat.stderr)
        );
        assert_eq!(text(&chat.stdout), "a line\n", "chat, server on {listen}");
        let bench = with_dual_name(
            &hosts,
            &[
                "bench",
                "--addr",
                &target,
                "--connections",
                "2",
                "--duration",
                "0.5",
                "--json",
            ],
            b"",
        )
        .unwrap();
        assert!(
            bench.status.success(),
            "bench, server on {listen}: {}",
            text(&bench.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
        assert!(crate::util::number(&report, "messages") > 0.0, "{report}");
        assert_eq!(
            report["addr"].as_str(),
            Some(server.addr.to_string().as_str()),
            "bench loads the address that answered"
        );
    }
}

#[test]
fn when_neither_address_answers_the_error_names_both() {
    let hosts = Scratch::new("dual-name-closed");
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("{NAME}:{port}");
    let Some(sent) = with_dual_name(&hosts, &["send", "--addr", &target, "x"], b"") else {
        return;
    };
    assert_eq!(sent.status.code(), Some(1));
    let stderr = text(&sent.stderr);
    assert!(
        stderr.contains(&format!("[::1]:{port} (")) && stderr.contains(&format!("127.0.0.1:{port} (")),
        "{stderr}"
    );
    assert!(
        stderr.find("[::1]").unwrap() < stderr.find("127.0.0.1").unwrap(),
        "tried in the resolver's order: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
