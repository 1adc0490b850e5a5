//! Many sends for one system call, through io_uring.
//!
//! In pingpong mode a turn of the load generator completes hundreds of
//! messages and owes each connection its next one. Written one `send(2)`
//! each, the syscall entry, the descriptor lookup and the libc and std
//! wrappers are paid per message; here they are paid once per batch, and
//! the kernel runs each send inline, in this thread, exactly as `send(2)`
//! would (so the CPU time it takes is still ours, and still measured).
//!
//! Readiness stays with `mio`: a batch only holds sockets that were
//! writable, every send carries `MSG_DONTWAIT` (a full socket answers
//! `EAGAIN` instead of parking the request in the kernel), and a batch is
//! waited for whole before [`SendBatch::send_all`] returns, so no buffer
//! is ever borrowed by the kernel past the call.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, types};

/// Requests per submission: the ring's size.
const RING_ENTRIES: u32 = 1024;

/// One send to make: the socket, the bytes, and a tag given back with the result.
pub struct Send<'b> {
    pub fd: RawFd,
    pub bytes: &'b [u8],
    pub tag: usize,
}

pub struct SendBatch {
    ring: IoUring,
}

impl SendBatch {
    /// A ring for this thread; an error where the kernel or a sandbox
    /// refuses io_uring (then the caller sends one by one).
    pub fn new() -> io::Result<SendBatch> {
        let ring = IoUring::builder().setup_single_issuer().build(RING_ENTRIES)?;
        Ok(SendBatch { ring })
    }

    /// Sends each buffer on its socket without blocking, then calls
    /// `done(tag, result, issued)` once per send: the bytes written
    /// (possibly fewer than asked) or the error (`WouldBlock` for a full
    /// socket), and about when the kernel ran that send.
    ///
    /// The kernel runs a submission's sends one after another, in order,
    /// so send i of n is placed at (i + 1/2) / n of the way through the
    /// submission: a round trip timed from there does not count the wait
    /// behind the sends before it (a few microseconds each), which a
    /// timestamp taken before the submission would add to its latency.
    pub fn send_all(
        &mut self,
        sends: &[Send<'_>],
        mut done: impl FnMut(usize, io::Result<usize>, Instant),
    ) -> io::Result<()> {
        let mut results = Vec::with_capacity(sends.len().min(RING_ENTRIES as usize));
        for chunk in sends.chunks(RING_ENTRIES as usize) {
            {
                let mut queue = self.ring.submission();
                for (index, send) in chunk.iter().enumerate() {
                    let len = u32::try_from(send.bytes.len()).unwrap_or(u32::MAX);
                    let entry = opcode::Send::new(types::Fd(send.fd), send.bytes.as_ptr(), len)
                        .flags(libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
                        .build()
                        .user_data(index as u64);
                    // SAFETY: the buffer outlives the request, which completes
                    // before this function returns (we wait for every one below).
                    unsafe { queue.push(&entry) }
                        .expect("a chunk never holds more requests than the ring has entries");
                }
            }
            let before = Instant::now();
            results.clear();
            while results.len() < chunk.len() {
                match self.ring.submit_and_wait(chunk.len() - results.len()) {
                    Ok(_) => {}
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
                results.extend(
                    self.ring
                        .completion()
                        .map(|completion| (completion.user_data() as usize, completion.result())),
                );
            }
            let span = before.elapsed().as_secs_f64() / chunk.len() as f64;
            for &(index, result) in &results {
                let outcome = if result >= 0 {
                    Ok(result as usize)
                } else {
                    Err(io::Error::from_raw_os_error(-result))
                };
                let issued = before + Duration::from_secs_f64(span * (index as f64 + 0.5));
                done(chunk[index].tag, outcome, issued);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    use super::*;

    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    /// Sandboxes that refuse io_uring cannot run these; the worker falls
    /// back to one send each there, which the integration tests cover.
    fn batch() -> Option<SendBatch> {
        SendBatch::new()
            .map_err(|err| eprintln!("io_uring unavailable here ({err}); skipped"))
            .ok()
    }

    #[test]
    fn every_buffer_reaches_its_own_socket() {
        let Some(mut batch) = batch() else { return };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let pairs: Vec<_> = (0..3).map(|_| pair(&listener)).collect();
        let messages: Vec<Vec<u8>> = (0..3u8).map(|i| vec![b'a' + i; 100 + i as usize]).collect();
        let sends: Vec<Send> = pairs
            .iter()
            .zip(&messages)
            .enumerate()
            .map(|(tag, ((client, _), bytes))| Send {
                fd: client.as_raw_fd(),
                bytes,
                tag,
            })
            .collect();
        let mut results = Vec::new();
        let mut issued = [None; 3];
        let before = Instant::now();
        batch
            .send_all(&sends, |tag, result, at| {
                results.push((tag, result.unwrap()));
                issued[tag] = Some(at);
            })
            .unwrap();
        let after = Instant::now();
        results.sort();
        assert_eq!(results, vec![(0, 100), (1, 101), (2, 102)]);
        // Each send is timed inside the submission, in submission order.
        let issued = issued.map(Option::unwrap);
        assert!(before <= issued[0] && issued[0] < issued[1] && issued[1] < issued[2] && issued[2] <= after);
        for ((client, mut server), expected) in pairs.into_iter().zip(&messages) {
            client.shutdown(Shutdown::Write).unwrap();
            let mut received = Vec::new();
            server.read_to_end(&mut received).unwrap();
            assert_eq!(&received, expected);
        }
    }

    #[test]
    fn a_full_socket_answers_would_block_at_once() {
        let Some(mut batch) = batch() else { return };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, _server) = pair(&listener);
        client.set_nonblocking(true).unwrap();
        // Fill the send and the peer's receive buffers: the peer never reads.
        let block = vec![7u8; 1 << 16];
        loop {
            match (&client).write(&block) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => panic!("filling the socket: {err}"),
            }
        }
        let sends = [Send {
            fd: client.as_raw_fd(),
            bytes: &block,
            tag: 9,
        }];
        let mut results = Vec::new();
        batch
            .send_all(&sends, |tag, result, _| results.push((tag, result)))
            .unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].0, 9);
        let err = results[0].1.as_ref().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_reset_peer_gives_an_error_not_a_signal() {
        let Some(mut batch) = batch() else { return };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, server) = pair(&listener);
        socket2::SockRef::from(&server)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(server);
        // Wait for the reset to arrive: a blocking read returns it.
        let mut byte = [0u8];
        let _ = (&client).read(&mut byte);
        let sends = [Send {
            fd: client.as_raw_fd(),
            bytes: b"after the reset",
            tag: 1,
        }];
        let mut results = Vec::new();
        batch
            .send_all(&sends, |tag, result, _| results.push((tag, result)))
            .unwrap();
        let err = results[0].1.as_ref().unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    }
}
