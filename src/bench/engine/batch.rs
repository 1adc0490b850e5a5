//! Sending what a turn gathered: pingpong's next messages (and the open
//! loop's due ones) written together, in one io_uring submission where the
//! kernel allows it (see [`crate::sys::uring`]), else one by one.

use std::time::Instant;

use crate::bench::engine::Worker;
use crate::bench::engine::pattern;
use crate::sys::uring;

impl Worker<'_> {
    /// Writes the messages gathered during the turn. Each one's round trip
    /// starts at its own write, so the wait in the queue is not counted as
    /// the server's latency.
    pub(super) fn send_queued(&mut self) {
        if self.batch.is_some() {
            return self.send_queued_in_batch();
        }
        let mut queued = std::mem::take(&mut self.to_send);
        for &key in &queued {
            // A connection dropped since it was queued leaves a vacant key.
            if let Some(conn) = self.conns.get_mut(key) {
                conn.send_queued = false;
                self.send_now(key);
            }
        }
        queued.clear();
        self.to_send = queued;
    }

    /// Writes a connection's message inline, timing its round trip from
    /// here if none of it has been sent yet.
    pub(super) fn send_now(&mut self, key: usize) {
        let size = self.plan.config.size as u64;
        let conn = &mut self.conns[key];
        if conn.sent + size == conn.target {
            conn.started = Instant::now();
        }
        self.pump(key);
    }

    /// [`Worker::send_queued`] through io_uring: the same writes, one
    /// system call for all of them.
    pub(super) fn send_queued_in_batch(&mut self) {
        use std::os::fd::AsRawFd;
        let Some(mut batch) = self.batch.take() else {
            return;
        };
        let pattern = self.plan.pattern;
        let mut sends = Vec::with_capacity(self.to_send.len());
        for key in self.to_send.drain(..) {
            // A connection dropped since it was queued leaves a vacant key.
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.send_queued = false;
            let want = (conn.target - conn.sent).min(usize::MAX as u64) as usize;
            sends.push(uring::Send {
                fd: conn.stream.as_raw_fd(),
                bytes: pattern.slice(conn.id, conn.sent, want),
                tag: key,
            });
        }
        let mut failed = Vec::new();
        // Written inline after the batch: the rest of a message longer than
        // one slice of the pattern, or a send the kernel interrupted.
        let mut unfinished = Vec::new();
        // Open loop: connections that wrote, with when; their messages are
        // marked sent once the batch is back.
        let mut wrote = Vec::new();
        let size = self.plan.config.size as u64;
        let submitted = batch.send_all(&sends, |key, result, issued| {
            let conn = &mut self.conns[key];
            let asked = (conn.target - conn.sent).min(pattern::MAX_SLICE as u64) as usize;
            match conn.hints.wrote(result, asked) {
                Ok(Some(0)) => {}
                Ok(Some(n)) => {
                    if conn.sent + size == conn.target {
                        // The message's first bytes: its round trip starts here.
                        conn.started = issued;
                    }
                    conn.sent += n as u64;
                    if conn.open.is_some() {
                        wrote.push((key, issued));
                    }
                    if conn.hints.writable() && conn.sent < conn.target {
                        unfinished.push(key);
                    }
                }
                Ok(None) => unfinished.push(key),
                Err(err) => failed.push((key, err)),
            }
        });
        if let Err(err) = submitted {
            // The ring itself failed: go on with one send per message, and
            // write now whatever this batch left unsent.
            log::warn!("io_uring failed ({err}); sending one message at a time from now on");
            self.tally.batched_sends = false;
            unfinished = sends.iter().map(|send| send.tag).collect();
        } else {
            self.batch = Some(batch);
        }
        drop(sends);
        for (key, issued) in wrote {
            self.on_written_at(key, issued);
            if let Err(err) = self.half_close_when_written(key) {
                failed.push((key, err));
            }
        }
        for (key, err) in failed {
            self.fail(key, &err);
        }
        for key in unfinished {
            if self.conns.contains(key) {
                self.send_now(key);
            }
        }
    }
}
