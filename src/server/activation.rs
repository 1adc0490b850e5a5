//! systemd socket activation: a listening TCP socket handed over in
//! `LISTEN_FDS`/`LISTEN_PID` (fd 3), used instead of binding `--addr`
//! (deploy/systemd/mio-echo.socket). Without those variables, nothing
//! changes.

use std::net::TcpListener;

/// The listening socket systemd passed, if it passed one; one line saying
/// what is wrong with it if it cannot be served (not a socket, not TCP,
/// not listening).
pub fn inherited_listener() -> Result<Option<TcpListener>, String> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    let fail = |why: String| format!("cannot serve the socket systemd passed (fd 3): {why}");
    let listener = fds
        .take_tcp_listener(0)
        .map_err(|err| fail(describe(&err)))?
        .ok_or_else(|| fail("it was already taken".into()))?;
    listener
        .set_nonblocking(true)
        .map_err(|err| fail(crate::error::describe(&err)))?;
    Ok(Some(listener))
}

/// listenfd's reasons, in words.
fn describe(err: &std::io::Error) -> String {
    let text = err.to_string();
    if text.contains("socket") || text.contains("listen") {
        format!("{text} (the unit's ListenStream= must be a TCP address)")
    } else {
        crate::error::describe(err)
    }
}
