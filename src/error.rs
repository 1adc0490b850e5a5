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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_errno_and_lowercases() {
        let err = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(describe(&err), "address already in use");
    }
}
