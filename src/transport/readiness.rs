//! What the poll says about a socket, and the rule every user of a socket
//! follows with it.
//!
//! mio's readiness is edge-triggered: an event says "this changed", once.
//! So each connection keeps [`Hints`], set by an event and cleared only by
//! the socket itself: by `WouldBlock`, or by a short read or write (for a
//! stream socket epoll(7) guarantees a new edge once more data or room
//! arrives). Reading stops only when the hints say the socket is dry, or
//! the caller decides to (backpressure, a budget); writing likewise.

use std::io::{self, Read, Write};

/// What one event said about a socket.
#[derive(Debug, Default, Clone, Copy)]
pub struct Readiness {
    pub readable: bool,
    pub writable: bool,
    /// The peer's FIN, a hang-up or an error: reads must go on to the EOF
    /// or the error, since no further edge will come.
    pub hang_up: bool,
    /// The socket is closed for writing too (EPOLLHUP or an error).
    pub write_closed: bool,
}

impl Readiness {
    pub fn of(event: &mio::event::Event) -> Readiness {
        Readiness {
            readable: event.is_readable(),
            writable: event.is_writable(),
            hang_up: event.is_read_closed() || event.is_write_closed() || event.is_error(),
            write_closed: event.is_write_closed() || event.is_error(),
        }
    }
}

/// What one read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Bytes(usize),
    /// The peer will send nothing more.
    Eof,
    /// Nothing now (the socket is dry, or a signal interrupted the call).
    Nothing,
}

/// What the events said about one socket, until the socket says otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Hints {
    /// An event said readable and no read has since proven the socket empty.
    readable: bool,
    /// An event said writable and no write has since found the socket full.
    writable: bool,
    /// The peer's FIN (or an error) was reported: the short-read shortcut no
    /// longer applies, because the EOF behind the last bytes brings no new edge.
    hung_up: bool,
}

impl Default for Hints {
    /// A fresh connection: readable and writable until the socket says
    /// otherwise, since a client may send at once.
    fn default() -> Hints {
        Hints {
            readable: true,
            writable: true,
            hung_up: false,
        }
    }
}

impl Hints {
    /// A socket whose connect is under way: nothing is assumed until its
    /// event says the connect ended.
    pub fn connecting() -> Hints {
        Hints {
            readable: false,
            writable: false,
            hung_up: false,
        }
    }

    /// Records what an event reported. Stale or spurious events are
    /// harmless: they only cost a read or write that finds nothing to do.
    #[inline]
    pub fn on(&mut self, readiness: Readiness) {
        self.readable |= readiness.readable || readiness.hang_up;
        self.writable |= readiness.writable || readiness.hang_up;
        self.hung_up |= readiness.hang_up;
    }

    #[inline]
    pub fn readable(&self) -> bool {
        self.readable
    }

    #[inline]
    pub fn writable(&self) -> bool {
        self.writable
    }

    #[inline]
    pub fn hung_up(&self) -> bool {
        self.hung_up
    }

    /// Reads once from the socket into `buf` (which must not be empty),
    /// clearing `readable` when the socket is proven dry.
    #[inline]
    pub fn read<R: Read>(&mut self, stream: &mut R, buf: &mut [u8]) -> io::Result<Received> {
        let asked = buf.len();
        self.got(stream.read(buf), Some(asked))
    }

    /// What one read returned, for readers that make the call themselves.
    /// `asked` is what was asked of the socket, to tell a short read; `None`
    /// when a layer in between (TLS) reads the socket, where a short read
    /// proves nothing (one record's plaintext may be short of a full socket).
    #[inline]
    pub fn got(&mut self, result: io::Result<usize>, asked: Option<usize>) -> io::Result<Received> {
        match result {
            Ok(0) => Ok(Received::Eof),
            Ok(n) => {
                if asked.is_some_and(|asked| n < asked) && !self.hung_up {
                    self.readable = false;
                }
                Ok(Received::Bytes(n))
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Ok(Received::Nothing)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(Received::Nothing),
            Err(err) => Err(err),
        }
    }

    /// A layer in between (a TLS handshake) read the socket until it
    /// would block.
    #[inline]
    pub fn found_dry(&mut self) {
        self.readable = false;
    }

    /// A layer in between (TLS records) found the socket full.
    #[inline]
    pub fn found_full(&mut self) {
        self.writable = false;
    }

    /// The one write loop: writes as much of `data` as the socket takes now
    /// and returns how much that was; clears `writable` when it takes less
    /// than offered (the send buffer is full, and a writable edge will
    /// follow once it has room).
    #[inline]
    pub fn write<W: Write>(&mut self, stream: &mut W, data: &[u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < data.len() && self.writable {
            match stream.write(&data[written..]) {
                // Neither progress nor a full socket: looping would spin.
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    written += n;
                    self.writable = written == data.len();
                }
                Err(err) => self.write_failed(err)?,
            }
        }
        Ok(written)
    }

    /// `WouldBlock` clears `writable`; `Interrupted` is nothing (the write
    /// is made again); any other error is the connection's.
    #[inline]
    fn write_failed(&mut self, err: io::Error) -> io::Result<()> {
        match err.kind() {
            io::ErrorKind::WouldBlock => self.writable = false,
            io::ErrorKind::Interrupted => {}
            _ => return Err(err),
        }
        Ok(())
    }

    /// What one write of `offered` bytes returned, for writers that make
    /// the call themselves (batched sends): the bytes taken, or `None` when
    /// a signal interrupted it and it should be made again.
    #[inline]
    pub fn wrote(&mut self, result: io::Result<usize>, offered: usize) -> io::Result<Option<usize>> {
        match result {
            Ok(n) => {
                if n < offered {
                    self.writable = false;
                }
                Ok(Some(n))
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(err) => self.write_failed(err).map(|()| Some(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that hands out what it is told to, one call at a time.
    struct Scripted {
        reads: Vec<io::Result<Vec<u8>>>,
        /// How much each write takes; an error kind to fail with instead.
        writes: Vec<Result<usize, io::ErrorKind>>,
        calls: usize,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            let bytes = self.reads.remove(0)?;
            buf[..bytes.len()].copy_from_slice(&bytes);
            Ok(bytes.len())
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            match self.writes.remove(0) {
                Ok(n) => Ok(n.min(buf.len())),
                Err(kind) => Err(kind.into()),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn socket(reads: Vec<io::Result<Vec<u8>>>, writes: Vec<Result<usize, io::ErrorKind>>) -> Scripted {
        Scripted {
            reads,
            writes,
            calls: 0,
        }
    }

    #[test]
    fn a_short_read_proves_the_socket_dry_until_a_hang_up_is_seen() {
        let mut buf = [0; 8];
        let mut hints = Hints::default();
        let mut s = socket(vec![Ok(vec![1; 8]), Ok(vec![2; 3])], vec![]);
        assert_eq!(hints.read(&mut s, &mut buf).unwrap(), Received::Bytes(8));
        assert!(hints.readable(), "a full read may have left bytes behind");
        assert_eq!(hints.read(&mut s, &mut buf).unwrap(), Received::Bytes(3));
        assert!(!hints.readable(), "a short read: the next bytes bring an edge");

        // After a hang-up no edge comes for the EOF: read on to it.
        hints.on(Readiness {
            hang_up: true,
            ..Readiness::default()
        });
        let mut s = socket(vec![Ok(vec![3; 3]), Ok(vec![])], vec![]);
        assert_eq!(hints.read(&mut s, &mut buf).unwrap(), Received::Bytes(3));
        assert!(hints.readable());
        assert_eq!(hints.read(&mut s, &mut buf).unwrap(), Received::Eof);
    }

    #[test]
    fn would_block_clears_and_an_interrupted_read_is_tried_again() {
        let mut buf = [0; 8];
        let mut hints = Hints::default();
        let mut s = socket(
            vec![
                Err(io::ErrorKind::Interrupted.into()),
                Err(io::ErrorKind::WouldBlock.into()),
            ],
            vec![],
        );
        assert_eq!(hints.read(&mut s, &mut buf).unwrap(), Received::Nothing);
        assert!(hints.readable());
        assert_eq!(hints.read(&mut s, &mut buf).unwrap(), Received::Nothing);
        assert!(!hints.readable());
        hints.on(Readiness {
            readable: true,
            ..Readiness::default()
        });
        assert!(hints.readable(), "the next edge sets it again");
    }

    #[test]
    fn the_write_loop_stops_at_the_first_short_write_and_not_before() {
        let mut hints = Hints::default();
        let mut s = socket(vec![], vec![Err(io::ErrorKind::Interrupted), Ok(4), Ok(3)]);
        assert_eq!(hints.write(&mut s, &[0; 10]).unwrap(), 4);
        assert!(!hints.writable(), "a short write: the send buffer is full");
        assert_eq!(s.calls, 2, "an interrupted write is tried again");
        assert_eq!(hints.write(&mut s, &[0; 10]).unwrap(), 0);
        assert_eq!(s.calls, 2, "no system call while the socket is known full");

        let mut hints = Hints::default();
        let mut s = socket(vec![], vec![Ok(10), Err(io::ErrorKind::WouldBlock)]);
        assert_eq!(hints.write(&mut s, &[0; 10]).unwrap(), 10);
        assert!(hints.writable(), "everything taken: room may be left");
        assert_eq!(hints.write(&mut s, &[0; 10]).unwrap(), 0);
        assert!(!hints.writable());
        let mut s = socket(vec![], vec![Ok(0)]);
        hints.on(Readiness {
            writable: true,
            ..Readiness::default()
        });
        let err = hints.write(&mut s, &[0; 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    }
}
