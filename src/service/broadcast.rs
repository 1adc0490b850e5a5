//! The broadcast service (`serve --broadcast`, seed 004's `-b`): every chunk
//! received from any client is written to every connected client, the
//! sender included, in the order the server received the chunks.
//!
//! A chunk is read once into the reactor's buffer, copied once into an
//! `Rc<[u8]>`, and that one allocation is shared by every client's outgoing
//! queue; a client whose socket takes the chunk at once never holds it.
//! A client whose queue passes `--max-pending` bytes is disconnected (as
//! Redis treats pub/sub clients past their output buffer limit), so a slow
//! consumer can neither grow the server nor hold the others back. A queue is
//! measured by what it costs, not only by its payload: each chunk also takes
//! a queue slot and its shared allocation's counts ([`CHUNK_COST`]), which
//! for 1-byte chunks is 32 times the payload (200 subscribers once grew the
//! server by 191 MB under a 64 KiB limit).
//!
//! A client is also a consumer of its own chunks, so one that sends faster
//! than it reads would cut itself off; instead, reading from a client pauses
//! while its own queue is over half the limit, and resumes as it drains.

use std::collections::VecDeque;
use std::io;
use std::rc::Rc;

use crate::transport::Stream;
use log::info;
use slab::Slab;

use crate::error::describe;
use crate::service::{Progress, Service, Transferred};
use crate::transport::readiness::{Hints, Readiness, Received};

/// What one queued chunk costs beyond its payload: the queue's slot (a fat
/// pointer) and the `Rc`'s two counts, charged to every queue holding it.
pub const CHUNK_COST: usize = std::mem::size_of::<Rc<[u8]>>() + 2 * std::mem::size_of::<usize>();

pub struct BroadcastService {
    scratch: Box<[u8]>,
    max_pending: usize,
    /// Bytes read from one client per drive before it yields.
    budget: usize,
    casualties: Vec<(usize, String)>,
}

impl BroadcastService {
    pub fn new(read_buffer: usize, max_pending: usize) -> BroadcastService {
        let read_buffer = read_buffer.max(1);
        BroadcastService {
            scratch: vec![0; read_buffer].into_boxed_slice(),
            max_pending: max_pending.max(1),
            budget: 4 * read_buffer,
            casualties: Vec::new(),
        }
    }

    /// Queues `chunk` for every client and writes it where the socket takes it.
    fn fan_out(&mut self, chunk: &Rc<[u8]>, connections: &mut Slab<Subscriber>, moved: &mut Transferred) {
        for (key, subscriber) in connections.iter_mut() {
            if subscriber.doomed {
                continue;
            }
            let verdict = match subscriber.deliver(chunk, moved) {
                Ok(()) if subscriber.queue_cost() > self.max_pending => {
                    let why = format!(
                        "slow consumer: {} bytes queued in {} chunks",
                        subscriber.queued_bytes,
                        subscriber.queue.len()
                    );
                    info!("disconnecting connection {key}: {why}");
                    Some(why)
                }
                Ok(()) => None,
                Err(err) => Some(describe(&err)),
            };
            if let Some(why) = verdict {
                subscriber.doomed = true;
                subscriber.drop_queue();
                self.casualties.push((key, why));
            }
        }
    }
}

/// One client of the broadcast.
pub struct Subscriber {
    stream: Stream,
    /// Chunks still to be written to this client, oldest first.
    queue: VecDeque<Rc<[u8]>>,
    /// Bytes of the front chunk already written.
    front_written: usize,
    /// Unwritten bytes in `queue`, checked against the limit.
    queued_bytes: usize,
    hints: Hints,
    /// The client sent EOF: its sending side is over, it still receives.
    read_closed: bool,
    /// The client's socket is closed both ways: nothing can reach it.
    gone: bool,
    /// Marked for disconnection; receives nothing more.
    doomed: bool,
}

impl Subscriber {
    fn new(stream: Stream) -> Subscriber {
        Subscriber {
            stream,
            queue: VecDeque::new(),
            front_written: 0,
            queued_bytes: 0,
            hints: Hints::default(),
            read_closed: false,
            gone: false,
            doomed: false,
        }
    }

    /// The memory its queue holds: payload and per-chunk overhead.
    fn queue_cost(&self) -> usize {
        self.queued_bytes + self.queue.len() * CHUNK_COST
    }

    /// Writes `chunk` now if nothing is queued before it, queues the rest.
    fn deliver(&mut self, chunk: &Rc<[u8]>, moved: &mut Transferred) -> io::Result<()> {
        let mut written = 0;
        if self.queue.is_empty() && self.hints.writable() {
            written = self.write_some(chunk)?;
            moved.written += written as u64;
            if written == chunk.len() {
                return Ok(());
            }
        }
        if self.queue.is_empty() {
            self.front_written = written;
        }
        self.queued_bytes += chunk.len() - written;
        self.queue.push_back(Rc::clone(chunk));
        Ok(())
    }

    /// Writes queued chunks until the socket is full or the queue empty.
    fn flush(&mut self, moved: &mut Transferred) -> io::Result<()> {
        while self.hints.writable() {
            let Some(front) = self.queue.front().cloned() else {
                break;
            };
            let written = self.write_some(&front[self.front_written..])?;
            moved.written += written as u64;
            self.queued_bytes -= written;
            self.front_written += written;
            if self.front_written == front.len() {
                self.queue.pop_front();
                self.front_written = 0;
            }
        }
        Ok(())
    }

    fn write_some(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.hints.write(&mut self.stream, bytes)
    }

    fn drop_queue(&mut self) {
        self.queue = VecDeque::new();
        self.queued_bytes = 0;
        self.front_written = 0;
    }
}

impl Service for BroadcastService {
    type Connection = Subscriber;

    fn open(&mut self, stream: Stream, _client: Option<std::net::IpAddr>) -> Subscriber {
        Subscriber::new(stream)
    }

    fn stream(connection: &mut Subscriber) -> &mut Stream {
        &mut connection.stream
    }

    fn on_readiness(connection: &mut Subscriber, readiness: Readiness) {
        connection.hints.on(readiness);
        connection.gone |= readiness.write_closed;
    }

    fn owed(connection: &Subscriber) -> usize {
        connection.queued_bytes
    }

    fn is_quiet(connection: &Subscriber) -> bool {
        // A client that half-closed sends nothing more: with its queue empty
        // it is owed nothing, even if it died since (no reset comes back
        // until something is written to it).
        connection.queue.is_empty() && (!connection.hints.readable() || connection.read_closed)
    }

    fn drive(&mut self, key: usize, connections: &mut Slab<Subscriber>, moved: &mut Transferred) -> Progress {
        let Some(subscriber) = connections.get_mut(key) else {
            return Progress::Waiting;
        };
        if subscriber.doomed {
            return Progress::Waiting;
        }
        if let Err(err) = subscriber.flush(moved) {
            return Progress::Failed(err);
        }
        let mut read_this_call = 0;
        loop {
            let subscriber = &mut connections[key];
            if subscriber.doomed || subscriber.read_closed || !subscriber.hints.readable() {
                break;
            }
            if subscriber.queue_cost() > self.max_pending / 2 {
                // Paced by its own copy; the readable hint stays set, so the next
                // drive (a writable edge as the queue drains) reads on.
                moved.paused = true;
                break;
            }
            if read_this_call >= self.budget {
                return Progress::Yielded;
            }
            match subscriber.hints.read(&mut subscriber.stream, &mut self.scratch) {
                Ok(Received::Eof) => {
                    subscriber.read_closed = true;
                    log::debug!("connection {key} finished sending; it still receives");
                }
                Ok(Received::Bytes(n)) => {
                    read_this_call += n;
                    moved.read += n as u64;
                    let chunk: Rc<[u8]> = Rc::from(&self.scratch[..n]);
                    self.fan_out(&chunk, connections, moved);
                }
                Ok(Received::Nothing) => {}
                Err(err) => return Progress::Failed(err),
            }
        }
        let subscriber = &connections[key];
        if subscriber.read_closed && subscriber.gone {
            Progress::Finished
        } else {
            Progress::Waiting
        }
    }

    fn take_casualties(&mut self, into: &mut Vec<(usize, String)>) {
        into.append(&mut self.casualties);
    }
}
