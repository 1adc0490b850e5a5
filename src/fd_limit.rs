//! The open-file limit, raised as far as the process may.

use std::io;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as nginx and most
/// servers do: the soft default (often 1,024) would otherwise cap the number
/// of clients long before memory does. Returns the limit now in force.
pub fn raise_to_hard_limit() -> io::Result<u64> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)?;
    log::debug!("open-file limit: {limit}");
    Ok(limit)
}
