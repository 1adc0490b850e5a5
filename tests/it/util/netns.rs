//! Hosts of the tests' own: network namespaces joined by veth pairs, with
//! addresses in 10.77.0.0/16 that exist only inside them. Everything made
//! here is removed when the [`Net`] is dropped (deleting a namespace
//! removes its links, nft tables and qdiscs), even when a test fails.
//!
//! Needs root (or CAP_NET_ADMIN) and the `ip` command; elsewhere
//! [`Net::new`] says why and the test skips, except under CI, where it fails.

use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static NETS: AtomicUsize = AtomicUsize::new(0);

pub struct Net {
    prefix: String,
    namespaces: Vec<String>,
    links: u8,
}

/// Runs a command, failing the test with its output if it fails.
pub fn run(command: &mut Command) -> Output {
    let output = command.stdin(Stdio::null()).output().expect("run a command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl Net {
    /// A fresh set of hosts, or `None` (with the reason printed) where this
    /// machine cannot make namespaces.
    pub fn new(test: &str) -> Option<Net> {
        let n = NETS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("me{}-{n}", std::process::id() % 100_000);
        let probe = format!("{prefix}-probe");
        let made = Command::new("ip")
            .args(["netns", "add", &probe])
            .stderr(Stdio::piped())
            .output();
        match made {
            Ok(out) if out.status.success() => {
                let _ = Command::new("ip").args(["netns", "del", &probe]).output();
            }
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    Err(err) => err.to_string(),
                };
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{test}: cannot create network namespaces on CI: {why}"
                );
                eprintln!("{test}: skipped: cannot create network namespaces here ({why}); needs root");
                return None;
            }
        }
        Some(Net {
            prefix,
            namespaces: Vec::new(),
            links: 0,
        })
    }

    /// A new host (namespace) with its loopback up; returns its name.
    pub fn host(&mut self, name: &str) -> String {
        let ns = format!("{}-{name}", self.prefix);
        run(Command::new("ip").args(["netns", "add", &ns]));
        self.namespaces.push(ns.clone());
        run(Command::new("ip").args(["-n", &ns, "link", "set", "lo", "up"]));
        ns
    }

    /// Joins two hosts with a veth pair on a /24 of their own; returns the
    /// addresses of `a` and `b` on it.
    pub fn link(&mut self, a: &str, b: &str) -> (Ipv4Addr, Ipv4Addr) {
        self.links += 1;
        let subnet = self.links;
        let (end_a, end_b) = (format!("v{subnet}a"), format!("v{subnet}b"));
        run(Command::new("ip").args([
            "link", "add", &end_a, "netns", a, "type", "veth", "peer", "name", &end_b, "netns", b,
        ]));
        let (addr_a, addr_b) = (Ipv4Addr::new(10, 77, subnet, 1), Ipv4Addr::new(10, 77, subnet, 2));
        for (ns, end, addr) in [(a, &end_a, addr_a), (b, &end_b, addr_b)] {
            run(Command::new("ip").args(["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", end]));
            run(Command::new("ip").args(["-n", ns, "link", "set", end, "up"]));
        }
        (addr_a, addr_b)
    }

    /// A command to run inside `ns`.
    pub fn exec(&self, ns: &str, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns, program]);
        command
    }

    /// The device of link number `link` on `ns`'s side (`a` or `b`).
    pub fn device(link: u8, side: char) -> String {
        format!("v{link}{side}")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.namespaces.drain(..) {
            // Processes left inside keep a namespace alive only as long as
            // they live; the tests stop theirs by PID before this.
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}
