//! Unix domain stream sockets (`serve --unix PATH`): the socket file's
//! life. Created with `--unix-mode` permissions; removed when the server
//! stops; a file left by a server that is gone (nothing accepts on it) is
//! replaced, with a log line, while a live server's is "address in use".
//! A name starting with `@` is in Linux's abstract namespace: no file.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::os::unix::net::UnixListener;

/// Removes the socket file when the listener it belongs to goes: the file
/// this server created, told by its device and inode, and nothing else (the
/// path may since hold another server's socket, or anything).
#[derive(Debug)]
pub struct SocketFile(Option<(PathBuf, (u64, u64))>);

impl SocketFile {
    /// One more owner of the same file (a reactor's copy of the listener):
    /// only the first removes it.
    pub fn shared(&self) -> SocketFile {
        SocketFile(None)
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let Some((path, ours)) = &self.0 else { return };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() && identity(&meta) == *ours => {
                let _ = std::fs::remove_file(path);
            }
            Ok(_) => log::info!(
                "leaving {}: it is no longer the socket this server created",
                path.display()
            ),
            Err(_) => {}
        }
    }
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// `@NAME` as an address in Linux's abstract namespace; `None` for a path.
/// Every client and listener of this crate spells Unix addresses so.
pub fn abstract_address(name: &str) -> Option<io::Result<std::os::unix::net::SocketAddr>> {
    use std::os::linux::net::SocketAddrExt;
    let abstract_name = name.strip_prefix('@')?;
    Some(std::os::unix::net::SocketAddr::from_abstract_name(
        abstract_name.as_bytes(),
    ))
}

/// Binds `name` (a path, or `@name` for the abstract namespace) and
/// returns the non-blocking listener and the guard of its file.
pub fn bind(name: &str, mode: u32) -> io::Result<(UnixListener, SocketFile)> {
    if let Some(addr) = abstract_address(name) {
        let listener = UnixListener::bind_addr(&addr?)?;
        listener.set_nonblocking(true)?;
        return Ok((listener, SocketFile(None)));
    }
    let path = Path::new(name);
    clear_stale(path)?;
    let listener = UnixListener::bind(path)?;
    let file = SocketFile(Some((
        path.to_path_buf(),
        identity(&std::fs::symlink_metadata(path)?),
    )));
    listener.set_nonblocking(true)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok((listener, file))
}

/// Whether `name` could be bound now, as [`bind`] would see it, changing
/// nothing (`serve --check`).
pub fn check(name: &str) -> io::Result<()> {
    if let Some(addr) = abstract_address(name) {
        return addr.map(drop);
    }
    let path = Path::new(name);
    std::os::unix::net::SocketAddr::from_pathname(path)?;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a directory", parent.display()),
        ));
    }
    probe(path).map(drop)
}

/// What is at `path`: nothing or a stale socket file (`Ok(true)` if there
/// is a file to remove), or why it cannot be bound.
fn probe(path: &Path) -> io::Result<bool> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(false);
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket",
        ));
    }
    // Non-blocking, so a live server whose backlog is full answers at once
    // (EAGAIN) instead of holding this start up.
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&socket2::SockAddr::unix(path)?) {
        Ok(()) => Err(in_use("a server is listening on it")),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
            Err(in_use("a server is listening on it, its backlog full"))
        }
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => Ok(true),
        Err(err) => Err(err),
    }
}

fn in_use(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("address already in use ({why})"),
    )
}

/// A socket file nobody accepts on is removed (a server that died left
/// it); one a server still listens on is `AddrInUse`; anything else at the
/// path is left alone and refused.
fn clear_stale(path: &Path) -> io::Result<()> {
    if probe(path)? {
        log::info!(
            "removing {}: a socket file left by a server that is gone (nothing accepts on it)",
            path.display()
        );
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// A Unix socket address as the user wrote it.
pub fn describe(addr: &std::os::unix::net::SocketAddr) -> String {
    use std::os::linux::net::SocketAddrExt;
    if let Some(path) = addr.as_pathname() {
        return path.display().to_string();
    }
    match addr.as_abstract_name() {
        Some(name) => format!("@{}", String::from_utf8_lossy(name)),
        None => "(unnamed)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("mio-echo-unix-{name}-{}", std::process::id()))
    }

    #[test]
    fn a_stale_file_is_replaced_a_live_one_refused_and_the_file_removed_at_the_end() {
        let path = scratch("life");
        let _ = std::fs::remove_file(&path);
        // A file left behind: bound, then the listener dropped without its guard.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        let (listener, file) = bind(path.to_str().unwrap(), 0o600).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = bind(path.to_str().unwrap(), 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(listener);
        drop(file);
        assert!(!path.exists(), "the socket file outlived the server");
    }

    /// Issue 19, item 9: at stop only the socket this server created goes;
    /// one put at the path since (another server's) stays.
    #[test]
    fn only_the_socket_this_server_created_is_removed() {
        let path = scratch("replaced");
        let _ = std::fs::remove_file(&path);
        let (listener, file) = bind(path.to_str().unwrap(), 0o600).unwrap();
        // Someone removes ours and binds their own at the path.
        std::fs::remove_file(&path).unwrap();
        let theirs = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(listener);
        drop(file);
        assert!(path.exists(), "another server's socket was removed");
        drop(theirs);
        let _ = std::fs::remove_file(&path);
        // A regular file put there since is left alone too.
        let (listener, file) = bind(path.to_str().unwrap(), 0o600).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"data").unwrap();
        drop((listener, file));
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let _ = std::fs::remove_file(&path);
    }

    /// Issue 19, item 9: a live server whose backlog is full is "in use" at
    /// once (before, the liveness probe's connect blocked the start).
    #[test]
    fn a_live_server_with_a_full_backlog_is_in_use_at_once() {
        let path = scratch("full");
        let _ = std::fs::remove_file(&path);
        let (listener, _file) = bind(path.to_str().unwrap(), 0o600).unwrap();
        // Fill its backlog: non-blocking connects until the kernel says no.
        let mut waiting = Vec::new();
        loop {
            let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
            socket.set_nonblocking(true).unwrap();
            match socket.connect(&socket2::SockAddr::unix(&path).unwrap()) {
                Ok(()) => waiting.push(socket),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => panic!("{err}"),
            }
            assert!(waiting.len() < 100_000, "the backlog never filled");
        }
        let started = std::time::Instant::now();
        let err = bind(path.to_str().unwrap(), 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains("backlog full"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(check(path.to_str().unwrap()).is_err());
        drop(listener);
    }

    #[test]
    fn check_says_what_bind_would_without_touching_anything() {
        assert!(
            check("/nonexistent-dir/echo.sock")
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
        assert!(check(&"x".repeat(200)).is_err(), "longer than sun_path");
        assert!(check("@abstract-name").is_ok());
        let path = scratch("check");
        std::fs::write(&path, b"data").unwrap();
        assert!(check(path.to_str().unwrap()).is_err());
        let _ = std::fs::remove_file(&path);
        assert!(check(path.to_str().unwrap()).is_ok());
        assert!(!path.exists());
    }

    #[test]
    fn a_regular_file_is_never_replaced() {
        let path = scratch("regular");
        std::fs::write(&path, b"data").unwrap();
        let err = bind(path.to_str().unwrap(), 0o600).unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let _ = std::fs::remove_file(&path);
    }
}
