//! Hosts of the tests' own: network namespaces joined by veth pairs, with
//! addresses in 10.77.0.0/16 that exist only inside them. Everything made
//! here is removed when the [`Net`] is dropped (deleting a namespace
//! removes its links, nft tables and qdiscs), even when a test fails.
//!
//! Needs root (or CAP_NET_ADMIN) and the `ip` command; elsewhere
//! [`Net::new`] says why and the test skips, except under CI, where it fails.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
        if !super::root_probe(
            test,
            "create network namespaces",
            Command::new("ip").args(["netns", "add", &probe]),
        ) {
            return None;
        }
        let _ = Command::new("ip").args(["netns", "del", &probe]).output();
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

    /// Joins two hosts through a delay line: a TUN device in each, and a
    /// process of ours between them that hands each packet on `one_way`
    /// after it arrived (tc's netem, which would do this in the kernel, is
    /// not on every kernel). Returns the addresses of `a` and `b`, and the
    /// line, which stops when dropped.
    pub fn delay_line(&mut self, a: &str, b: &str, one_way: Duration) -> (Ipv4Addr, Ipv4Addr, DelayLine) {
        self.links += 1;
        let subnet = self.links;
        let (end_a, end_b) = (
            format!("{}-t{subnet}a", self.prefix),
            format!("{}-t{subnet}b", self.prefix),
        );
        // The devices are made in this namespace by the line, which keeps
        // them open, then moved into the hosts.
        let mut child = Command::new("python3")
            .args([
                "-c",
                DELAY_LINE,
                &end_a,
                &end_b,
                &one_way.as_secs_f64().to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        let line = DelayLine(child);
        assert_eq!(ready, "ready\n", "the delay line did not start");
        let (addr_a, addr_b) = (Ipv4Addr::new(10, 77, subnet, 1), Ipv4Addr::new(10, 77, subnet, 2));
        for (ns, end, addr, peer) in [(a, &end_a, addr_a, addr_b), (b, &end_b, addr_b, addr_a)] {
            run(Command::new("ip").args(["link", "set", end, "netns", ns]));
            run(Command::new("ip").args([
                "-n",
                ns,
                "addr",
                "add",
                &addr.to_string(),
                "peer",
                &peer.to_string(),
                "dev",
                end,
            ]));
            run(Command::new("ip").args(["-n", ns, "link", "set", end, "up"]));
        }
        (addr_a, addr_b, line)
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

/// The process of [`Net::delay_line`], stopped by its PID when dropped
/// (its input's end stops it too).
pub struct DelayLine(Child);

impl Drop for DelayLine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two TUN devices (names in argv), each packet from one written to the
/// other DELAY seconds after it came; a packet whose far end is down is
/// lost, as on a wire. Ends at its standard input's end.
const DELAY_LINE: &str = r#"
import fcntl, heapq, os, select, struct, sys, time
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
def tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd
a, b, delay = tun(sys.argv[1]), tun(sys.argv[2]), float(sys.argv[3])
print("ready", flush=True)
peer, queue, seq = {a: b, b: a}, [], 0
while True:
    wait = max(0.0, queue[0][0] - time.monotonic()) if queue else None
    ready, _, _ = select.select([a, b, 0], [], [], wait)
    for fd in ready:
        if fd == 0:
            if not os.read(0, 1):
                sys.exit(0)
            continue
        try:
            packet = os.read(fd, 65536)
        except OSError:
            continue
        heapq.heappush(queue, (time.monotonic() + delay, seq, peer[fd], packet))
        seq += 1
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, out, packet = heapq.heappop(queue)
        try:
            os.write(out, packet)
        except OSError:
            pass
"#;

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.namespaces.drain(..) {
            // Processes left inside keep a namespace alive only as long as
            // they live; the tests stop theirs by PID before this.
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}
