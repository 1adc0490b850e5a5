//! Unix domain stream sockets (`serve --unix PATH`): the socket file's
//! life. Created with `--unix-mode` permissions; removed when the server
//! stops; a file left by a server that is gone (nothing accepts on it) is
//! replaced, with a log line, while a live server's is "address in use".
//! A name starting with `@` is in Linux's abstract namespace: no file.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::os::unix::net::UnixListener;

/// Removes the socket file when the listener it belongs to goes.
#[derive(Debug)]
pub struct SocketFile(Option<PathBuf>);

impl SocketFile {
    /// One more owner of the same file (a reactor's copy of the listener):
    /// only the first removes it.
    pub fn shared(&self) -> SocketFile {
        SocketFile(None)
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
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
    let file = SocketFile(Some(path.to_path_buf()));
    listener.set_nonblocking(true)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok((listener, file))
}

/// A socket file nobody accepts on is removed (a server that died left
/// it); one a server still listens on is `AddrInUse`; anything else at the
/// path is left alone and refused.
fn clear_stale(path: &Path) -> io::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket",
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "address already in use (a server is listening on it)",
        )),
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            log::info!(
                "removing {}: a socket file left by a server that is gone (nothing accepts on it)",
                path.display()
            );
            std::fs::remove_file(path)
        }
        Err(err) => Err(err),
    }
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
