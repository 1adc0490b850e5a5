//! `mio-echo send`: a blocking client on `std::net::TcpStream`.
//!
//! The input is written on a scoped thread while this thread reads the
//! reply, so an echo larger than both socket buffers cannot deadlock (a
//! client that wrote everything before reading would stall once the server
//! stopped reading from it). Sent and received bytes are compared through a
//! running digest, so inputs of any size pass through in constant memory.

use std::hash::{DefaultHasher, Hasher};
use std::io::{self, Read};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::describe;
use crate::tls::client::ClientTls;

mod alert;
pub mod chat;
pub mod datagram;
pub mod eyeballs;
pub mod hex;
pub mod link;
pub mod socket;

use socket::{Socket, Target};

/// Length and hash of a byte stream, independent of how it was chunked.
#[derive(Debug, Clone)]
pub struct StreamDigest {
    len: u64,
    // SipHash with fixed keys: `DefaultHasher::new()` is the same function in
    // every instance, and `write` buffers partial blocks, so chunking does not
    // change the result. Collisions would need an adversarial server.
    hasher: DefaultHasher,
    /// The first bytes, to tell what a reply that differs was (a TLS
    /// alert from a TLS server, say).
    head: Vec<u8>,
}

/// How many of the first bytes a digest keeps.
const HEAD_LEN: usize = 8;

impl Default for StreamDigest {
    fn default() -> Self {
        StreamDigest {
            len: 0,
            hasher: DefaultHasher::new(),
            head: Vec::new(),
        }
    }
}

impl StreamDigest {
    pub fn update(&mut self, bytes: &[u8]) {
        if self.head.len() < HEAD_LEN {
            let more = (HEAD_LEN - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..more]);
        }
        self.len += bytes.len() as u64;
        self.hasher.write(bytes);
    }

    /// The first few bytes of the stream.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn matches(&self, other: &StreamDigest) -> bool {
        self.len == other.len && self.hasher.finish() == other.hasher.finish()
    }
}

/// How long to wait for the server's EOF once everything sent has come
/// back: an echo server closes at once after our half-close, and one that
/// does not (a broadcast server keeps half-closed clients as listeners)
/// would otherwise make `send` wait its whole `--timeout` and then report a
/// silence that was never a fault.
pub const EOF_WAIT: Duration = Duration::from_secs(1);

/// The result of one exchange with a server that completed without error.
#[derive(Debug)]
pub struct Exchange {
    pub sent: StreamDigest,
    pub received: StreamDigest,
    /// The server closed its side (false: it went quiet for [`EOF_WAIT`]
    /// after sending back at least all we sent, and we left).
    pub server_closed: bool,
}

impl Exchange {
    /// True when the reply is byte for byte what was sent.
    pub fn echoed(&self) -> bool {
        self.sent.matches(&self.received)
    }
}

/// How `send` talks to the server.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub addr: Target,
    /// Bounds the connect and any silence of the socket.
    pub timeout: Duration,
    /// Bytes asked for per read of the reply (`--chunk`).
    pub read_size: usize,
    /// Print both socket addresses to stderr once connected.
    pub verbose: bool,
    /// Send a PROXY protocol header (with the real endpoints) first.
    pub proxy_header: Option<crate::proxy_protocol::Version>,
    /// Speak TLS (`--tls`).
    pub tls: Option<ClientTls>,
    /// Socket options set before connecting.
    pub knobs: crate::transport::knobs::Knobs,
    /// Bounds the connect alone (`--connect-timeout`); else `timeout`.
    pub connect_timeout: Option<Duration>,
}

/// Prints the local and the server's socket names, as seed 002's client does.
pub fn print_socket_names(socket: &Socket) {
    match socket {
        Socket::Tcp(stream) => {
            if let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) {
                eprintln!("connected from {local} to {peer}");
            }
        }
        Socket::Unix(stream) => {
            if let Ok(peer) = stream.peer_addr() {
                eprintln!("connected to {}", crate::transport::unix::describe(&peer));
            }
        }
    }
}

/// Connects, sends all of `input`, half-closes, and passes every read of the
/// reply to `on_reply` until the server closes.
pub fn exchange<R, F>(options: &SendOptions, input: R, mut on_reply: F) -> Result<Exchange, String>
where
    R: Read + Send,
    F: FnMut(&[u8]) -> io::Result<()>,
{
    let SendOptions {
        ref addr, timeout, ..
    } = *options;
    // --verbose: a handle on the TCP socket, for its TCP_INFO at the end.
    let mut path = None;
    let preamble = |socket: &Socket| {
        if options.verbose {
            print_socket_names(socket);
            path = socket.as_tcp().and_then(|tcp| tcp.try_clone().ok());
            if let (Some(tcp), false) = (socket.as_tcp(), options.knobs.is_default()) {
                // What the connected socket has, read back (not what was asked).
                eprintln!(
                    "socket: {}",
                    crate::transport::knobs::describe(&socket2::SockRef::from(tcp))
                );
            }
        }
        // Like a balancer: the header first, with the connection's own endpoints.
        let version = options.proxy_header?;
        let tcp = socket.as_tcp()?;
        Some(crate::proxy_protocol::encode(
            version,
            tcp.local_addr().ok()?,
            tcp.peer_addr().ok()?,
        ))
    };
    let connect_timeout = options.connect_timeout.unwrap_or(timeout);
    let (mut reader, writer, negotiated) = link::open(
        addr,
        connect_timeout,
        preamble,
        options.tls.as_ref(),
        &options.knobs,
    )?;
    if let (true, Some(session)) = (options.verbose, negotiated) {
        eprintln!("{}", session.describe());
    }

    let progress = SendProgress::new();
    thread::scope(|scope| {
        let sending = scope.spawn(|| send_all(input, writer, &progress));
        let waits = Waits {
            reply: timeout,
            eof: EOF_WAIT.min(timeout),
        };
        let plain = options.tls.is_none();
        let received = receive_all(
            &mut reader,
            options.read_size,
            &mut on_reply,
            &progress,
            waits,
            plain,
        );
        if received.is_err() {
            // Wake the sender if it is blocked on a socket nobody reads any more.
            reader.abort();
        }
        let sent = sending
            .join()
            .unwrap_or_else(|_| Err(SendError::Input(io::Error::other("sender thread panicked"))));
        let received = received.map_err(|err| match err {
            ReceiveError::Silent(waited) => {
                format!("no reply from {addr} for {:.1} s (--timeout)", waited.as_secs_f64())
            }
            ReceiveError::MoreThanSent(received, sent) => format!(
                "{addr} sent back more than it was sent ({received} bytes back, {sent} sent): it is not an echo server"
            ),
            ReceiveError::TlsAlert => {
                format!("{addr} answered with a TLS alert: it is a TLS server (add --tls)")
            }
            ReceiveError::Socket(err) => crate::tls::client::describe_alert_in(&err, addr)
                .unwrap_or_else(|| format!("receiving from {addr} failed: {}", describe(&err))),
            ReceiveError::Output(err) => format!("cannot write the reply: {}", describe(&err)),
        })?;
        let (received, server_closed) = received;
        if let Some(info) = path.as_ref().and_then(|tcp| crate::sys::tcp_info(tcp).ok()) {
            eprintln!(
                "tcp: retransmits {}, lost {}, reordering {}, rtt {} us (var {}), cwnd {} segments, delivery {:.2} MB/s",
                info.total_retrans,
                info.lost,
                info.reord_seen,
                info.rtt_us,
                info.rttvar_us,
                info.snd_cwnd,
                info.delivery_rate as f64 / 1e6
            );
        }
        let sent = match sent {
            Ok(sent) => sent,
            Err(SendError::Input(err)) => {
                return Err(format!("cannot read the input: {}", describe(&err)));
            }
            Err(SendError::Socket { sent, err }) => {
                return Err(format!(
                    "sending to {addr} failed after {} bytes ({} received back): {}",
                    sent.len(),
                    received.len(),
                    describe(&err)
                ));
            }
        };
        Ok(Exchange {
            sent,
            received,
            server_closed,
        })
    })
}

/// How far the sending thread got, for the receiving one to know what the
/// server owes it.
struct SendProgress {
    /// What `sent_at` counts from.
    start: Instant,
    /// Bytes handed to the socket so far.
    sent: AtomicU64,
    /// When the last of them were (microseconds after `start`): silence is
    /// counted from then or from the last byte received, the later.
    sent_at: AtomicU64,
    /// Bytes handed, or about to be handed, to the socket: stored before
    /// each send, so an echo can never be ahead of it. A reply longer than
    /// this is no echo.
    attempted: AtomicU64,
    /// The first bytes sent, to tell an echo of a TLS alert from a TLS
    /// server's alert.
    head: std::sync::Mutex<Vec<u8>>,
    /// All input sent and the connection half-closed.
    done: AtomicBool,
}

impl SendProgress {
    fn new() -> SendProgress {
        SendProgress {
            start: Instant::now(),
            sent: AtomicU64::new(0),
            sent_at: AtomicU64::new(0),
            attempted: AtomicU64::new(0),
            head: std::sync::Mutex::new(Vec::new()),
            done: AtomicBool::new(false),
        }
    }

    fn last_sent(&self) -> Instant {
        self.start + Duration::from_micros(self.sent_at.load(Ordering::Acquire))
    }
}

/// How long the receiver waits on a silent socket.
#[derive(Clone, Copy)]
struct Waits {
    /// While the server owes us bytes: then silence is a fault.
    reply: Duration,
    /// While it owes nothing: silence is fine while we are still sending,
    /// and, once we are done, the end of the exchange if no EOF comes.
    eof: Duration,
}

enum SendError {
    Input(io::Error),
    Socket { sent: StreamDigest, err: io::Error },
}

enum ReceiveError {
    Socket(io::Error),
    /// Owed bytes and silent this long.
    Silent(Duration),
    /// More came back than was sent: (received, sent).
    MoreThanSent(u64, u64),
    /// The first bytes back are a TLS alert we did not send.
    TlsAlert,
    Output(io::Error),
}

fn send_all(
    mut input: impl Read,
    mut socket: link::WriteHalf,
    progress: &SendProgress,
) -> Result<StreamDigest, SendError> {
    let mut digest = StreamDigest::default();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(SendError::Input(err)),
        };
        if digest.is_empty() {
            let mut head = progress.head.lock().unwrap_or_else(|p| p.into_inner());
            head.extend_from_slice(&buf[..n.min(HEAD_LEN)]);
        }
        progress
            .attempted
            .store(digest.len() + n as u64, Ordering::Release);
        if let Err(err) = socket.send(&buf[..n]) {
            return Err(SendError::Socket { sent: digest, err });
        }
        digest.update(&buf[..n]);
        let at = progress.start.elapsed().as_micros() as u64;
        progress.sent_at.store(at, Ordering::Release);
        progress.sent.store(digest.len(), Ordering::Release);
    }
    // Half-close: the server sees EOF, finishes echoing, then closes its side.
    match socket.finish() {
        Ok(()) => {
            progress.done.store(true, Ordering::Release);
            Ok(digest)
        }
        Err(err) => Err(SendError::Socket { sent: digest, err }),
    }
}

/// Reads the reply until the server's EOF (`true`), or until it has sent
/// back at least everything and then stays silent for `waits.eof` (`false`).
///
/// Silence is measured from the last byte received or the last sent,
/// whichever is later, so a read that timed out while nothing was owed
/// (the sender had not yet said what it sent) never shortens `--timeout`,
/// and a server that is sent nothing new has exactly `--timeout` to answer.
/// The first bytes are held back while they could be a TLS alert
/// ([`alert`]), so that a TLS server's alert never reaches the output.
fn receive_all(
    socket: &mut link::ReadHalf,
    read_size: usize,
    on_reply: &mut impl FnMut(&[u8]) -> io::Result<()>,
    progress: &SendProgress,
    waits: Waits,
    watch_for_alert: bool,
) -> Result<(StreamDigest, bool), ReceiveError> {
    let mut digest = StreamDigest::default();
    let mut buf = vec![0; read_size.max(1)];
    let mut watch = alert::AlertWatch::new(watch_for_alert);
    let owed = |digest: &StreamDigest| progress.sent.load(Ordering::Acquire) > digest.len();
    // The last byte received.
    let mut heard = Instant::now();
    let mut wait = Duration::ZERO;
    let release = |watch: &mut alert::AlertWatch, on_reply: &mut dyn FnMut(&[u8]) -> io::Result<()>| {
        let held = watch.release();
        if held.is_empty() {
            Ok(())
        } else {
            on_reply(&held).map_err(ReceiveError::Output)
        }
    };
    loop {
        let want = if owed(&digest) {
            let since = heard.max(progress.last_sent());
            let left = waits.reply.saturating_sub(since.elapsed());
            if left.is_zero() {
                return Err(ReceiveError::Silent(since.elapsed()));
            }
            left
        } else {
            waits.eof
        };
        if want != wait {
            socket.set_read_timeout(want).map_err(ReceiveError::Socket)?;
            wait = want;
        }
        match socket.read(&mut buf) {
            Ok(0) => {
                release(&mut watch, on_reply)?;
                return Ok((digest, true));
            }
            Ok(n) => {
                heard = Instant::now();
                let bytes = &buf[..n];
                digest.update(bytes);
                match watch.feed(bytes) {
                    alert::Watched::Held => continue,
                    // An echo of an alert we sent is no alert.
                    alert::Watched::Alert if !progress_head_is(progress, watch.held()) => {
                        return Err(ReceiveError::TlsAlert);
                    }
                    alert::Watched::Alert => release(&mut watch, on_reply)?,
                    alert::Watched::Pass => {
                        release(&mut watch, on_reply)?;
                        on_reply(bytes).map_err(ReceiveError::Output)?;
                    }
                }
                // What came is shown (what the server is, if not an echo),
                // then no more is read: it could send for ever (chargen).
                let attempted = progress.attempted.load(Ordering::Acquire);
                if digest.len() > attempted {
                    return Err(ReceiveError::MoreThanSent(digest.len(), attempted));
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // Silent while owing nothing: we are still sending (more input
            // to come), or done and the server will not close.
            Err(err) if is_timeout(&err) && !owed(&digest) => {
                if progress.done.load(Ordering::Acquire) {
                    release(&mut watch, on_reply)?;
                    return Ok((digest, false));
                }
            }
            // Owed and silent: the loop measures how long.
            Err(err) if is_timeout(&err) => {}
            Err(err) => return Err(ReceiveError::Socket(err)),
        }
    }
}

/// Whether what was sent starts with `bytes` (an echo of an alert we sent).
fn progress_head_is(progress: &SendProgress, bytes: &[u8]) -> bool {
    let head = progress.head.lock().unwrap_or_else(|p| p.into_inner());
    head.starts_with(bytes)
}

/// Bytes as Python's `repr` shows them: `b'Hi\n'`, `b"it's"`, `b'\x00'`.
pub fn python_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote as char);
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if byte == quote => {
                out.push('\\');
                out.push(byte as char);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push(quote as char);
    out
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches_python() {
        assert_eq!(python_repr(b"This is our mess"), "b'This is our mess'");
        assert_eq!(python_repr(b"it's"), "b\"it's\"");
        assert_eq!(python_repr(b"'\""), "b'\\'\"'");
        assert_eq!(
            python_repr(b"a\\b\t\n\r\x00\x7f\xff"),
            "b'a\\\\b\\t\\n\\r\\x00\\x7f\\xff'"
        );
    }

    #[test]
    fn digest_ignores_chunking() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut whole = StreamDigest::default();
        whole.update(&data);
        let mut pieces = StreamDigest::default();
        for chunk in data.chunks(13) {
            pieces.update(chunk);
        }
        assert!(whole.matches(&pieces));
        let mut other = StreamDigest::default();
        other.update(&data[1..]);
        other.update(b"x");
        assert!(!whole.matches(&other));
    }
}
