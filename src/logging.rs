//! The log's way to stderr, which never blocks the thread that logs.
//!
//! A reactor that logs must not wait for whoever reads its stderr: with
//! stderr on a pipe nobody drains, a plain `eprintln!` blocks once the
//! pipe's 64 KiB are full, and every client of that reactor waits with it
//! (a flood of refused UDP sources once stopped the TCP echo this way).
//! So a log line is handed to a bounded queue that a thread of its own
//! writes out; when the queue is full the line is dropped and counted, and
//! the writer says how many went missing before its next line.

use std::io::{self, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;
use std::time::Duration;

/// Lines that may wait for stderr; a burst past this is dropped.
const QUEUE: usize = 4096;

/// How long [`flush`] waits for stderr at exit: the last lines (a stop
/// summary) matter, but not more than exiting at all.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

enum Message {
    Line(Vec<u8>),
    /// Answered once every line before it is written.
    Flush(SyncSender<()>),
}

struct Queue {
    sender: SyncSender<Message>,
    dropped: AtomicU64,
}

static QUEUE_TO_STDERR: OnceLock<Queue> = OnceLock::new();

/// Sets up `env_logger` (RUST_LOG, `default_filter` otherwise) to write
/// through the queue.
pub fn init(default_filter: &str) {
    let queue = QUEUE_TO_STDERR.get_or_init(|| {
        let (sender, receiver) = mpsc::sync_channel(QUEUE);
        thread::Builder::new()
            .name("log".into())
            .spawn(move || write_out(&receiver, &mut io::stderr()))
            .expect("start the log thread");
        Queue {
            sender,
            dropped: AtomicU64::new(0),
        }
    });
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        .target(env_logger::Target::Pipe(Box::new(Enqueue(queue))))
        .init();
}

/// Waits (a while) until every line logged so far is written.
pub fn flush() {
    let Some(queue) = QUEUE_TO_STDERR.get() else {
        return;
    };
    let (done, written) = mpsc::sync_channel(1);
    if queue.sender.send(Message::Flush(done)).is_ok() {
        let _ = written.recv_timeout(FLUSH_WAIT);
    }
}

/// Lines dropped so far because stderr did not keep up.
pub fn dropped() -> u64 {
    QUEUE_TO_STDERR
        .get()
        .map_or(0, |queue| queue.dropped.load(Ordering::Relaxed))
}

/// What env_logger writes to: one `write_all` per formatted record.
struct Enqueue(&'static Queue);

impl Write for Enqueue {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.sender.try_send(Message::Line(buf.to_vec())) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.0.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn write_out(receiver: &Receiver<Message>, out: &mut impl Write) {
    let mut said_dropped = 0;
    while let Ok(message) = receiver.recv() {
        match message {
            Message::Line(line) => {
                let dropped = dropped();
                if dropped > said_dropped {
                    let _ = writeln!(
                        out,
                        "[{} log lines dropped: stderr was not read fast enough]",
                        dropped - said_dropped
                    );
                    said_dropped = dropped;
                }
                let _ = out.write_all(&line);
            }
            Message::Flush(done) => {
                let _ = out.flush();
                let _ = done.try_send(());
            }
        }
    }
}
