//! `mio-echo chat`: seed 004's interactive client.
//!
//! A sending thread reads standard input line by line and writes each line
//! as soon as it is complete; this thread prints whatever arrives as it
//! arrives (the echo, or other clients' lines from a broadcast server). EOF
//! on the input half-closes the connection; chat ends at the server's EOF.
//! Both ends of the session are said on stderr, and a server that closes
//! before our EOF is an error: the user was cut off, not done.

use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use super::alert::{AlertWatch, Watched};
use super::link::{self, ReadHalf, WriteHalf};
use super::socket::Target;
use crate::error::describe;
use crate::tls::client::ClientTls;

/// Runs a chat session until the server closes the connection; an error
/// when it closes (or fails) before our input ended.
pub fn run(
    addr: &Target,
    connect_timeout: Duration,
    tls: Option<&ClientTls>,
    input: impl BufRead + Send + 'static,
    crlf: bool,
    knobs: &crate::transport::knobs::Knobs,
    mut output: impl Write,
) -> Result<(), String> {
    let (mut reader, writer, negotiated) = link::open(addr, connect_timeout, |_| None, tls, knobs)?;
    // A chat may sit silent for hours: only the connect is bounded.
    reader
        .clear_timeouts()
        .map_err(|err| format!("cannot set up the connection to {addr}: {}", describe(&err)))?;
    let over = negotiated.map_or(String::new(), |session| format!(" ({})", session.describe()));
    eprintln!("connected to {addr}{over}; each line is sent as it is typed, Ctrl-D ends");
    let input_ended = Arc::new(AtomicBool::new(false));
    let ended = Arc::clone(&input_ended);
    // Not scoped: a user may still be typing when the server closes, and
    // chat must end then without waiting for another line.
    thread::spawn(move || send_lines(input, writer, crlf, &ended));
    match receive(&mut reader, &mut output, tls.is_none()) {
        Ok(()) => {}
        Err(Lost::TlsAlert) => {
            return Err(format!(
                "{addr} answered with a TLS alert: it is a TLS server (add --tls)"
            ));
        }
        Err(Lost::Socket(err)) => {
            return Err(crate::tls::client::describe_alert_in(&err, addr)
                .unwrap_or_else(|| format!("connection to {addr} lost: {}", describe(&err))));
        }
    }
    if input_ended.load(Ordering::Acquire) {
        eprintln!("{addr} closed the connection");
        Ok(())
    } else {
        Err(format!("{addr} closed the connection before the input ended"))
    }
}

/// Sends each line; at the input's EOF (or an input error) sets `ended`,
/// before the half-close that lets the server finish, and half-closes.
/// Sends each line as it is read; with `crlf`, its LF (or CRLF) end goes
/// as CRLF.
fn send_lines(mut input: impl BufRead, mut socket: WriteHalf, crlf: bool, ended: &AtomicBool) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                if crlf && line.ends_with(b"\n") && !line.ends_with(b"\r\n") {
                    line.insert(line.len() - 1, b'\r');
                }
                if socket.send(&line).is_err() {
                    return;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                eprintln!("error: cannot read the input: {}", describe(&err));
                break;
            }
        }
    }
    ended.store(true, Ordering::Release);
    let _ = socket.finish();
}

enum Lost {
    Socket(io::Error),
    TlsAlert,
}

/// Prints what arrives until the server's EOF. Without TLS, a TLS
/// server's alert is said as such, never printed raw on the terminal
/// ([`super::alert`]).
fn receive(socket: &mut ReadHalf, output: &mut impl Write, watch_for_alert: bool) -> Result<(), Lost> {
    let mut buf = vec![0; 64 * 1024];
    let mut watch = AlertWatch::new(watch_for_alert);
    let mut print = |bytes: &[u8]| -> Result<(), Lost> {
        output.write_all(bytes).map_err(Lost::Socket)?;
        output.flush().map_err(Lost::Socket)
    };
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return print(&watch.release()),
            Ok(n) => match watch.feed(&buf[..n]) {
                Watched::Held => {}
                Watched::Alert => return Err(Lost::TlsAlert),
                Watched::Pass => {
                    print(&watch.release())?;
                    print(&buf[..n])?;
                }
            },
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(Lost::Socket(err)),
        }
    }
}
