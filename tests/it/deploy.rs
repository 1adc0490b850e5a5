//! Running under systemd: a socket handed over by socket activation
//! (`systemd-socket-activate`, from Debian's systemd package, stands in for
//! systemd), and the clear error for an unusable one.

use crate::util;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use crate::util::{BIN, TIMEOUT, run_bin, run_command};

/// `systemd-socket-activate`, or why this test cannot run here.
fn activator() -> Option<&'static str> {
    let found = Command::new("systemd-socket-activate")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!(
            "skipped: systemd-socket-activate is not installed (Debian's systemd package; .ci/run installs it)"
        );
    }
    found.then_some("systemd-socket-activate")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the activator with `args` and waits for its "Listening on" line:
/// the socket is open, and clients queue in it until the server, started
/// by the first of them, accepts. Returns it and the rest of its stderr.
fn activate_listening(
    activate: &str,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(activate)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Listening on") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the activator exited");
    }
    (child, stderr)
}

#[test]
fn a_socket_activated_server_echoes_and_drains_on_sigterm() {
    let Some(activate) = activator() else { return };
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (mut child, mut stderr) =
        activate_listening(activate, &["-l", &listen, BIN, "serve", "--threads", "2"]);
    let output = run_bin(&["send", "--port", &port.to_string(), "activated"], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"activated");
    // The activator execs the server: the child's PID is the server's.
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = wait_timeout::ChildExt::wait_timeout(&mut child, TIMEOUT)
        .unwrap()
        .expect("stopped");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert!(status.success(), "{status}: {log}");
    assert!(
        log.contains("serving the socket systemd passed (fd 3, 127.0.0.1:"),
        "{log}"
    );
}

#[test]
fn an_inherited_fd_that_is_no_tcp_listener_is_a_clear_error() {
    // fd 3 is /dev/null: LISTEN_PID is the shell's PID, which exec gives the server.
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        &format!("LISTEN_PID=$$ LISTEN_FDS=1 exec {BIN} serve 3</dev/null"),
    ]);
    let output = run_command(shell, b"");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("cannot serve the socket systemd passed (fd 3): fd 3 is not a socket"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // A datagram socket where a stream one belongs.
    let Some(activate) = activator() else { return };
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (mut child, mut stderr) = activate_listening(activate, &["--datagram", "-l", &listen, BIN, "serve"]);
    // A datagram starts the server, which refuses the socket.
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"x", ("127.0.0.1", port))
        .unwrap();
    let status = wait_timeout::ChildExt::wait_timeout(&mut child, TIMEOUT)
        .unwrap()
        .expect("exited");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("is not a valid tcp socket"), "{log}");
}

/// The units under deploy/systemd: systemd-analyze finds nothing to say,
/// and the service's ExecStart is a command line this binary accepts.
#[test]
fn the_systemd_units_verify_and_their_command_line_parses() {
    let root = env!("CARGO_MANIFEST_DIR");
    let units = ["mio-echo.service", "mio-echo-standalone.service"];
    for unit in units {
        let text = std::fs::read_to_string(format!("{root}/deploy/systemd/{unit}")).unwrap();
        let exec = text
            .lines()
            .find_map(|line| line.strip_prefix("ExecStart="))
            .expect("an ExecStart line");
        let mut words = exec.split_whitespace();
        assert_eq!(words.next(), Some("/usr/local/bin/mio-echo"));
        let mut args: Vec<&str> = words.collect();
        args.push("--check");
        let output = run_bin(&args, b"");
        assert!(
            output.status.success(),
            "{unit}: {exec}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("skipped systemd-analyze verify: not installed");
        return;
    }
    // Verified with ExecStart pointing at this build (verify wants the binary to exist).
    let dir = util::tls::Scratch::new("units");
    for unit in units {
        let text = std::fs::read_to_string(format!("{root}/deploy/systemd/{unit}")).unwrap();
        std::fs::write(dir.path(unit), text.replace("/usr/local/bin/mio-echo", BIN)).unwrap();
    }
    std::fs::copy(
        format!("{root}/deploy/systemd/mio-echo.socket"),
        dir.path("mio-echo.socket"),
    )
    .unwrap();
    let mut verify = Command::new("systemd-analyze");
    verify.current_dir(&dir.0).args([
        "verify",
        "--man=no",
        "./mio-echo.socket",
        "./mio-echo.service",
        "./mio-echo-standalone.service",
    ]);
    let output = run_command(verify, b"");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && said.trim().is_empty(), "{said}");
}

/// The Kubernetes manifests validate against the API schema offline
/// (`kubernetes-validate --strict`, from PyPI), and every container's
/// args, with `$(VAR)`s expanded as the kubelet would, is a command line
/// this binary accepts (`--check`): the manifests cannot drift from the CLI.
#[test]
fn the_kubernetes_manifests_validate_and_their_args_parse() {
    let root = env!("CARGO_MANIFEST_DIR");
    let manifests: Vec<String> = std::fs::read_dir(format!("{root}/deploy/kubernetes"))
        .unwrap()
        .map(|entry| entry.unwrap().path().display().to_string())
        .filter(|path| path.ends_with(".yaml"))
        .collect();
    assert!(manifests.len() >= 4, "{manifests:?}");
    if Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "skipped: kubernetes-validate is not installed (pip install kubernetes-validate; .ci/run does)"
        );
        return;
    }
    // The newest API, and the oldest the docs say they need.
    for version in [None, Some("1.30.0")] {
        let mut validate = Command::new("kubernetes-validate");
        validate
            .arg("--strict")
            .args(version.map(|v| ["-k", v]).into_iter().flatten())
            .args(&manifests);
        let output = run_command(validate, b"");
        let said =
            String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{version:?}: {said}");
        assert_eq!(
            said.matches(" passed for resource ").count(),
            manifests.len(),
            "{said}"
        );
    }
    // Each container's args, expanded: env values, and limits.cpu through
    // the downward API (rounded up to whole cores with divisor 1). The
    // Service's DNS name only resolves in the cluster: localhost stands in.
    let script = r#"
import json, math, sys, yaml
def cores(text):
    return math.ceil(float(text[:-1]) / 1000 if text.endswith("m") else float(text))
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            values = {}
            for env in container.get("env", []):
                if "value" in env:
                    values[env["name"]] = env["value"]
                elif env["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu":
                    values[env["name"]] = str(cores(container["resources"]["limits"]["cpu"]))
            args = []
            for arg in container["args"]:
                for name, value in values.items():
                    arg = arg.replace(f"$({name})", value)
                args.append(arg.replace("mio-echo:10000", "localhost:10000"))
            print(json.dumps(args))
"#;
    let mut python = Command::new("python3");
    python.args(["-c", script]).args(&manifests);
    let output = run_command(python, b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2, "a server and a bench container: {lines:?}");
    for line in lines {
        let mut args: Vec<String> = serde_json::from_str(&line).unwrap();
        args.push("--check".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run_bin(&args, b"");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Issue 19, item 17: the distributed-bench recipe, rendered exactly as
/// docs/deploy.md and the Job's comment write it, is valid YAML that sets
/// START_AT (before, sed left the comment in the value: invalid YAML).
#[test]
fn the_documented_bench_job_recipe_renders_a_valid_job() {
    let root = env!("CARGO_MANIFEST_DIR");
    let docs = std::fs::read_to_string(format!("{root}/docs/deploy.md")).unwrap();
    let job = std::fs::read_to_string(format!("{root}/deploy/kubernetes/bench-job.yaml")).unwrap();
    let documented = docs
        .lines()
        .find(|line| line.starts_with("sed ") && line.contains("START_AT"))
        .expect("the recipe's sed line in docs/deploy.md");
    let commented = job
        .lines()
        .find_map(|line| line.strip_prefix("#   sed "))
        .map(|rest| format!("sed {rest}"))
        .expect("the sed line in bench-job.yaml's comment");
    let scratch = util::tls::Scratch::new("bench-job-recipe");
    let start = "1900000000";
    for (name, recipe) in [
        ("docs/deploy.md", documented.to_string()),
        ("bench-job.yaml", commented),
    ] {
        // As a user runs it: from the repository root, `kubectl apply -f -`
        // replaced by a file, `start` (or the date arithmetic) fixed.
        let recipe = recipe
            .replace(" | kubectl apply -f -", "")
            .replace("$(( $(date +%s) + 60 ))", "$start")
            .replace(" bench-job.yaml", " deploy/kubernetes/bench-job.yaml");
        let rendered = scratch.path("job.yaml");
        let output = Command::new("sh")
            .args(["-c", &format!("start={start}; {recipe} > {}", rendered.display())])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name}: {recipe}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = std::fs::read_to_string(&rendered).unwrap();
        assert!(text.contains(&format!("value: \"{start}\"")), "{name}: {text}");
        let check = "import sys, yaml\nd = yaml.safe_load(open(sys.argv[1]))\n\
                     env = d['spec']['template']['spec']['containers'][0]['env']\n\
                     print([e['value'] for e in env if e['name'] == 'START_AT'][0])";
        let parsed = Command::new("python3")
            .args(["-c", check])
            .arg(&rendered)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&parsed.stdout).trim(),
            start,
            "{name}: {}",
            String::from_utf8_lossy(&parsed.stderr)
        );
        if Command::new("kubernetes-validate")
            .arg("--version")
            .output()
            .is_ok()
        {
            let output = Command::new("kubernetes-validate")
                .arg("--strict")
                .arg(&rendered)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&output.stdout)
            );
        } else {
            eprintln!("skipped: kubernetes-validate is not installed (.ci/run installs it)");
        }
    }
}
