//! The container image (Containerfile, scripts/build-image.sh): built
//! offline, run with podman and runc, an echo through it, and a SIGTERM
//! that drains it to exit status 0. Needs podman (and runc: crun fails on
//! this kind of machine); .ci/run installs them, elsewhere this test says
//! why it skips.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::util::{ServerProcess, TIMEOUT, echo, run_command};

/// A release build of a static binary from scratch takes minutes.
const BUILD_LIMIT: Duration = Duration::from_secs(20 * 60);

/// Runs `command` to its end within `limit`, in its own process group so
/// that a timeout stops cargo and its compilers too.
fn run_long(mut command: Command, limit: Duration) -> Output {
    use std::os::unix::process::CommandExt;
    let child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match finished.recv_timeout(limit) {
        Ok(output) => output.expect("wait"),
        Err(_) => {
            // SAFETY: kill(2) on the process group this test started.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            panic!("{command:?} did not finish within {limit:?}");
        }
    }
}

fn podman() -> bool {
    let found = Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("skipped: podman is not installed (apt-get install podman buildah runc; .ci/run does)");
    }
    found
}

#[test]
fn the_image_builds_offline_serves_and_stops_cleanly() {
    if !podman() {
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let mut build = Command::new("bash");
    // Its own target directory: this test runs while cargo holds the usual one.
    build
        .arg(format!("{root}/scripts/build-image.sh"))
        .env("CARGO_TARGET_DIR", format!("{root}/target/image"));
    let output = run_long(build, BUILD_LIMIT);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.starts_with("built localhost/mio-echo:latest: "), "{said}");

    let mut inspect = Command::new("podman");
    inspect.args(["image", "inspect", "localhost/mio-echo:latest"]);
    let output = run_command(inspect, b"");
    let image: serde_json::Value = serde_json::from_slice(&output.stdout).expect("podman image inspect");
    let config = &image[0]["Config"];
    assert_eq!(config["User"], "65534:65534", "{config}");
    assert_eq!(config["StopSignal"], "SIGTERM", "{config}");
    assert!(config["ExposedPorts"].get("10000/tcp").is_some(), "{config}");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/mio-echo"]), "{config}");
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["serve", "--addr", "0.0.0.0:10000"]),
        "{config}"
    );
    let size = image[0]["Size"].as_u64().unwrap();
    assert!(size < 16 << 20, "{size} bytes");

    // On the host's network with a port of the system's choosing; both
    // limits given (podman resets the one left out).
    let name = format!("mio-echo-test-{}", std::process::id());
    let mut run = Command::new("podman");
    run.args([
        "run",
        "--rm",
        "--name",
        &name,
        "--runtime",
        "runc",
        "--network",
        "host",
        "--ulimit",
        "nofile=4096:4096",
        "--ulimit",
        "nproc=4096:4096",
        "localhost/mio-echo:latest",
        "serve",
        "--addr",
        "127.0.0.1:0",
    ]);
    let mut server = ServerProcess::spawn(run);
    assert_eq!(
        echo(server.addr, b"through the container"),
        b"through the container"
    );
    // SIGTERM to the container itself, as `podman stop` and a kubelet send
    // it (signalling the podman client relies on its proxy, which a busy
    // machine once showed racing: podman died of the signal instead).
    let kill = Command::new("podman")
        .args(["kill", "--signal", "TERM", &name])
        .output()
        .unwrap();
    assert!(kill.status.success(), "{}", String::from_utf8_lossy(&kill.stderr));
    let status = server.wait_exit(TIMEOUT).expect("the container stops");
    // Everything it wrote, to its last line (the log's at exit).
    let log = server.stderr_at_exit();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("stopped: served 1 connection"), "{log}");
}
