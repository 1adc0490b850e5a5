//! One client connection: reads, echoes back, and remembers what the socket
//! did not take.
//!
//! The logic is generic over any `Read + Write` stream so that unit tests
//! drive it through fakes that return partial writes and `WouldBlock` at
//! random; the server uses it with [`mio::net::TcpStream`].
//!
//! Readiness from mio is edge-triggered: the connection keeps its socket's
//! [`Hints`], which an event sets and only the socket itself clears.

use std::io::{self, Read, Write};

use crate::service::pending::PendingOutput;
use crate::service::{Progress, Transferred};
use crate::transport::readiness::{Hints, Readiness, Received};

/// How far to go with one connection in one call to [`Connection::drive`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Stop reading while this many bytes wait to be written back
    /// (backpressure: a client that never reads cannot make the server grow).
    pub max_pending: usize,
    /// Bytes read per call before the connection yields to the others
    /// (fairness: one fast client cannot starve the rest).
    pub budget: usize,
}

/// The state of one echo connection.
///
/// Kept small on purpose: an idle connection is this struct in a slab entry
/// and nothing else (no buffer), so tens of thousands of idle clients cost
/// a few hundred kilobytes.
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    /// Echo bytes the socket refused, boxed so that the common case (none)
    /// costs one pointer instead of a whole `Vec` plus offset.
    pending: Option<Box<PendingOutput>>,
    hints: Hints,
    /// Read returned 0: the peer will send nothing more.
    read_closed: bool,
}

impl<S: Read + Write> Connection<S> {
    /// A freshly accepted connection: assume it is readable and writable
    /// until the socket says otherwise, since a client may send at once.
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            pending: None,
            hints: Hints::default(),
            read_closed: false,
        }
    }

    #[cfg(test)]
    pub fn stream(&self) -> &S {
        &self.stream
    }

    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Bytes waiting to be written back.
    pub fn pending_len(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.len())
    }

    /// True when nothing the peer sent is in flight through the server: no
    /// unsent echo output, and the socket was read until it was empty.
    pub fn is_quiet(&self) -> bool {
        self.pending.is_none() && !self.hints.readable()
    }

    pub fn on_readiness(&mut self, readiness: Readiness) {
        self.hints.on(readiness);
    }

    /// Flushes pending output, then reads and echoes until the socket is
    /// drained, the pending output reaches its limit, or the budget runs out.
    ///
    /// `scratch` is the reactor's shared read buffer: bytes pass through it and
    /// only the part the socket does not take is copied into the connection.
    pub fn drive(&mut self, scratch: &mut [u8], limits: Limits, moved: &mut Transferred) -> Progress {
        match self.drive_inner(scratch, limits, moved) {
            Ok(progress) => progress,
            Err(err) => Progress::Failed(err),
        }
    }

    fn drive_inner(
        &mut self,
        scratch: &mut [u8],
        limits: Limits,
        moved: &mut Transferred,
    ) -> io::Result<Progress> {
        let mut read_this_call = 0;
        loop {
            if self.pending.is_some() && self.hints.writable() {
                self.flush_pending(moved)?;
            }
            if self.read_closed {
                return Ok(if self.pending.is_none() {
                    Progress::Finished
                } else {
                    Progress::Waiting
                });
            }
            let room = limits.max_pending.saturating_sub(self.pending_len());
            if room == 0 && self.hints.readable() {
                moved.paused = true;
            }
            if room == 0 || !self.hints.readable() {
                // Backpressure or drained: the next writable or readable edge
                // brings us back; the readable hint stays set while paused,
                // so reading resumes as soon as the output drains.
                return Ok(Progress::Waiting);
            }
            if read_this_call >= limits.budget {
                return Ok(Progress::Yielded);
            }
            // Never read more than fits under the limit, so the pending output
            // is bounded by `max_pending` whatever the socket does.
            let want = room.min(scratch.len());
            match self.hints.read(&mut self.stream, &mut scratch[..want])? {
                Received::Eof => self.read_closed = true,
                Received::Bytes(n) => {
                    read_this_call += n;
                    moved.read += n as u64;
                    self.echo(&scratch[..n], moved)?;
                }
                Received::Nothing => {}
            }
        }
    }

    /// Writes freshly read bytes straight back; what does not fit is queued.
    fn echo(&mut self, mut data: &[u8], moved: &mut Transferred) -> io::Result<()> {
        if self.pending.is_none() && self.hints.writable() {
            let written = self.hints.write(&mut self.stream, data)?;
            moved.written += written as u64;
            data = &data[written..];
        }
        if !data.is_empty() {
            self.pending.get_or_insert_default().push(data);
        }
        Ok(())
    }

    fn flush_pending(&mut self, moved: &mut Transferred) -> io::Result<()> {
        let Some(pending) = self.pending.as_mut() else {
            return Ok(());
        };
        let written = self.hints.write(&mut self.stream, pending.unsent())?;
        moved.written += written as u64;
        pending.consume(written);
        if pending.is_empty() {
            // Give the memory back: an idle connection owns no buffer.
            self.pending = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
