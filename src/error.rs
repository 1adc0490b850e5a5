//! One-line descriptions of I/O errors for people, not programmers.

use std::io;

/// `Connection refused (os error 111)` becomes `connection refused`, so that
/// messages read `error: cannot connect to 127.0.0.1:10000: connection refused`.
pub fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(end) => &text[..end],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

/// Bytes a peer chose (an SNI name, an ALPN protocol), fit for a log
/// line: control characters, quotes and anything not UTF-8 escaped, so a
/// peer cannot forge lines or colour a terminal.
pub fn escape_peer_bytes(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// "cannot write PATH: why", for every file the tool writes.
pub fn cannot_write(path: &std::path::Path, err: &std::io::Error) -> String {
    format!("cannot write {}: {}", path.display(), describe(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_bytes_cannot_forge_a_log_line() {
        assert_eq!(escape_peer_bytes(b"h2"), "h2");
        assert_eq!(
            escape_peer_bytes(b"x\n[INFO] forged\x1b[31m\xff"),
            "x\\n[INFO] forged\\x1b[31m\\xff"
        );
    }

    #[test]
    fn strips_the_errno_and_lowercases() {
        let err = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(describe(&err), "address already in use");
    }
}
