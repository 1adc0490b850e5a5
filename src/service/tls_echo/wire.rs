//! Getting TLS records out with the unbuffered API: made into a buffer
//! that grows to the size rustls asks for, then onto the socket, or into
//! the connection's pending output for what the socket does not take.

use std::io;

use crate::transport::Stream;
use crate::transport::readiness::Hints;
use rustls::unbuffered::{EncodeError, EncryptError, InsufficientSizeError};

use crate::service::pending::PendingOutput;

/// Sends `records` behind whatever already waits; what the socket does not
/// take waits in `pending`.
pub(super) fn send(
    stream: &mut Stream,
    pending: &mut PendingOutput,
    hints: &mut Hints,
    mut records: &[u8],
) -> io::Result<()> {
    if pending.is_empty() {
        records = &records[hints.write(stream, records)?..];
    }
    if !records.is_empty() {
        pending.push(records);
    }
    Ok(())
}

/// Runs `fill` on `buffer` from `at` on, growing it to the size rustls
/// asks for; returns the bytes filled.
pub(super) fn fill_growing<E>(
    buffer: &mut Vec<u8>,
    at: usize,
    mut fill: impl FnMut(&mut [u8]) -> Result<usize, E>,
    too_small: impl Fn(&E) -> Option<usize>,
) -> Result<usize, E> {
    if buffer.len() < at {
        buffer.resize(at, 0);
    }
    loop {
        match fill(&mut buffer[at..]) {
            Err(err) => match too_small(&err) {
                Some(required) => buffer.resize(at + required, 0),
                None => return Err(err),
            },
            done => return done,
        }
    }
}

pub(super) fn encode_too_small(err: &EncodeError) -> Option<usize> {
    match err {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => Some(*required_size),
        _ => None,
    }
}

pub(super) fn encrypt_too_small(err: &EncryptError) -> Option<usize> {
    match err {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => Some(*required_size),
        _ => None,
    }
}
