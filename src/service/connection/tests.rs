//! The connection logic driven through a fake socket that behaves like a
//! non-blocking TCP stream under edge-triggered readiness: reads return what
//! has "arrived" so far, writes take what fits in a send buffer that the
//! schedule refills at random, and an event is raised only when something
//! changes (new bytes, new room, the peer's FIN), as epoll(7) does.

use std::io::{self, Read, Write};

use proptest::prelude::*;

use super::*;

/// Deterministic xorshift so a failing proptest case replays exactly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

#[derive(Default)]
struct FakeSocket {
    /// Everything the peer will send.
    input: Vec<u8>,
    /// How much of `input` has arrived in the receive queue.
    arrived: usize,
    /// How much of `input` the connection has read.
    consumed: usize,
    /// The peer's FIN has arrived (after all of `input`).
    fin: bool,
    /// What the connection wrote back.
    output: Vec<u8>,
    /// Free space in the send buffer.
    room: usize,
    /// Make the next call fail with `Interrupted`, as a signal would.
    interrupt_next: bool,
    reads: usize,
}

impl Read for FakeSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if std::mem::take(&mut self.interrupt_next) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let available = self.arrived - self.consumed;
        if available == 0 {
            return if self.fin {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = available.min(buf.len());
        buf[..n].copy_from_slice(&self.input[self.consumed..self.consumed + n]);
        self.consumed += n;
        Ok(n)
    }
}

impl Write for FakeSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.interrupt_next) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        if self.room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.room.min(buf.len());
        self.output.extend_from_slice(&buf[..n]);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Drives a connection as the reactor does (again at once after `Yielded`)
/// and returns its progress once it waits or ends.
fn drive_as_reactor(conn: &mut Connection<FakeSocket>, scratch: &mut [u8], limits: Limits) -> Progress {
    let mut moved = Transferred::default();
    loop {
        match conn.drive(scratch, limits, &mut moved) {
            Progress::Yielded => continue,
            other => return other,
        }
    }
}

/// Runs a whole exchange under a random schedule and returns what came back.
fn run_schedule(input: Vec<u8>, seed: u64, scratch_len: usize, limits: Limits) -> (Vec<u8>, usize) {
    let mut rng = Rng(seed | 1);
    let socket = FakeSocket {
        input,
        ..FakeSocket::default()
    };
    let mut conn = Connection::new(socket);
    let mut scratch = vec![0; scratch_len];
    let mut peak_pending = 0;
    for _ in 0..1_000_000 {
        let socket = conn.stream_mut();
        let total = socket.input.len();
        let (mut readable, mut writable, mut hang_up) = (false, false, false);
        match rng.below(6) {
            0 | 1 if socket.arrived < total => {
                socket.arrived = (socket.arrived + 1 + rng.below(3000)).min(total);
                readable = true;
            }
            0 | 1 if !socket.fin => {
                socket.fin = true;
                hang_up = true;
            }
            2 | 3 => {
                socket.room += 1 + rng.below(2000);
                writable = true;
            }
            4 => socket.interrupt_next = true,
            // A spurious or stale event: nothing changed.
            _ => (readable, writable) = (true, true),
        }
        conn.on_readiness(Readiness {
            readable,
            writable,
            hang_up,
            ..Readiness::default()
        });
        let progress = drive_as_reactor(&mut conn, &mut scratch, limits);
        peak_pending = peak_pending.max(conn.pending_len());
        match progress {
            Progress::Finished => {
                return (std::mem::take(&mut conn.stream_mut().output), peak_pending);
            }
            Progress::Failed(err) => panic!("connection failed: {err}"),
            Progress::Refused(refusal) => panic!("a plain echo refuses no one: {refusal:?}"),
            Progress::Waiting | Progress::Yielded => {}
        }
    }
    panic!("the exchange did not finish");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the chunking of reads, writes and events, the output equals the input.
    #[test]
    fn echo_output_equals_input_under_any_schedule(
        input in proptest::collection::vec(any::<u8>(), 0..40_000),
        seed in any::<u64>(),
        scratch_len in 1usize..5000,
        max_pending in 1usize..6000,
        budget in 1usize..20_000,
    ) {
        let limits = Limits { max_pending, budget };
        let (output, peak_pending) = run_schedule(input.clone(), seed, scratch_len, limits);
        prop_assert_eq!(output, input);
        prop_assert!(peak_pending <= max_pending, "pending {} over limit {}", peak_pending, max_pending);
    }
}

#[test]
fn a_peer_that_never_reads_stops_the_reads_at_the_limit() {
    let input = vec![7; 1_000_000];
    let socket = FakeSocket {
        arrived: input.len(),
        input,
        room: 100,
        ..FakeSocket::default()
    };
    let mut conn = Connection::new(socket);
    let mut scratch = vec![0; 4096];
    let limits = Limits {
        max_pending: 10_000,
        budget: usize::MAX,
    };
    let progress = drive_as_reactor(&mut conn, &mut scratch, limits);
    assert!(matches!(progress, Progress::Waiting));
    assert_eq!(conn.pending_len(), 10_000);
    assert_eq!(
        conn.stream().consumed,
        10_100,
        "read only what fits under the limit"
    );

    // Room appears: the connection resumes reading without a new readable edge.
    conn.stream_mut().room = 50_000;
    conn.on_readiness(Readiness {
        readable: false,
        writable: true,
        hang_up: false,
        ..Readiness::default()
    });
    drive_as_reactor(&mut conn, &mut scratch, limits);
    assert_eq!(conn.stream().output.len(), 50_100);
    assert_eq!(conn.stream().consumed, 60_100);
}

#[test]
fn an_idle_connection_owns_no_buffer_once_its_output_drains() {
    let input = b"hello".to_vec();
    let socket = FakeSocket {
        arrived: 5,
        input,
        room: 2,
        ..FakeSocket::default()
    };
    let mut conn = Connection::new(socket);
    let limits = Limits {
        max_pending: 64,
        budget: 64,
    };
    drive_as_reactor(&mut conn, &mut [0; 16], limits);
    assert_eq!(conn.pending_len(), 3);
    conn.stream_mut().room = 100;
    conn.on_readiness(Readiness {
        readable: false,
        writable: true,
        hang_up: false,
        ..Readiness::default()
    });
    drive_as_reactor(&mut conn, &mut [0; 16], limits);
    assert!(conn.is_quiet());
    assert_eq!(conn.stream().output, b"hello");
}

#[test]
fn eof_with_output_pending_finishes_only_after_the_flush() {
    let input = b"0123456789".to_vec();
    let socket = FakeSocket {
        arrived: 10,
        fin: true,
        input,
        room: 4,
        ..FakeSocket::default()
    };
    let mut conn = Connection::new(socket);
    conn.on_readiness(Readiness {
        readable: true,
        writable: true,
        hang_up: true,
        ..Readiness::default()
    });
    let limits = Limits {
        max_pending: 64,
        budget: 64,
    };
    assert!(matches!(
        drive_as_reactor(&mut conn, &mut [0; 64], limits),
        Progress::Waiting
    ));
    conn.stream_mut().room = 6;
    conn.on_readiness(Readiness {
        readable: false,
        writable: true,
        hang_up: false,
        ..Readiness::default()
    });
    assert!(matches!(
        drive_as_reactor(&mut conn, &mut [0; 64], limits),
        Progress::Finished
    ));
    assert_eq!(conn.stream().output, b"0123456789");
}

#[test]
fn short_read_skips_the_read_that_would_only_return_would_block() {
    let input = vec![1; 100];
    let socket = FakeSocket {
        arrived: 100,
        input,
        room: 1000,
        ..FakeSocket::default()
    };
    let mut conn = Connection::new(socket);
    drive_as_reactor(
        &mut conn,
        &mut [0; 4096],
        Limits {
            max_pending: 4096,
            budget: 4096,
        },
    );
    assert_eq!(conn.stream().reads, 1, "a short read proves the socket drained");
}

#[test]
fn after_a_hang_up_short_reads_continue_to_the_eof() {
    let input = vec![1; 100];
    let socket = FakeSocket {
        arrived: 100,
        fin: true,
        input,
        room: 1000,
        ..FakeSocket::default()
    };
    let mut conn = Connection::new(socket);
    conn.on_readiness(Readiness {
        readable: true,
        writable: false,
        hang_up: true,
        ..Readiness::default()
    });
    let progress = drive_as_reactor(
        &mut conn,
        &mut [0; 4096],
        Limits {
            max_pending: 4096,
            budget: 4096,
        },
    );
    assert!(
        matches!(progress, Progress::Finished),
        "the FIN behind the data brings no new edge"
    );
}

#[test]
fn a_budget_spent_with_bytes_left_yields() {
    let input = vec![1; 10_000];
    let socket = FakeSocket {
        arrived: 10_000,
        input,
        room: 100_000,
        ..FakeSocket::default()
    };
    let mut conn = Connection::new(socket);
    let mut moved = Transferred::default();
    let progress = conn.drive(
        &mut [0; 1000],
        Limits {
            max_pending: 4096,
            budget: 3000,
        },
        &mut moved,
    );
    assert!(matches!(progress, Progress::Yielded));
    assert_eq!(moved.read, 3000);
}

/// Regression guard for the memory target: an idle connection is this struct
/// in a slab entry and nothing else, so its size is the per-connection cost.
#[test]
fn an_idle_connection_stays_within_its_memory_budget() {
    let size = std::mem::size_of::<Connection<mio::net::TcpStream>>();
    let stream = std::mem::size_of::<mio::net::TcpStream>();
    eprintln!("connection {size} bytes, of which the stream {stream}");
    // The stream (a descriptor, plus a selector id in debug builds), one
    // pointer for pending output, four flags.
    assert!(size <= stream + 8 + 8, "{size} bytes");
}
