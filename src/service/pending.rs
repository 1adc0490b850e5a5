//! The bytes a connection has read but the socket has not yet taken back.

/// Unsent echo output of one connection, in order.
///
/// It only exists while a write came up short: a connection whose socket
/// keeps up never allocates one (see [`crate::service::connection::Connection`]).
#[derive(Debug, Default)]
pub struct PendingOutput {
    /// Bytes read from the peer and not yet written back, from `start` on.
    bytes: Vec<u8>,
    /// How much of `bytes` has already been written; kept instead of
    /// shifting the vector on every partial write, compacted on append.
    start: usize,
}

impl PendingOutput {
    /// Bytes still to be written.
    pub fn unsent(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    pub fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `data` behind what is already waiting.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 {
            // Moving the tail down once per append is cheaper than letting the
            // front grow without bound while the peer reads slowly.
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    /// Marks the first `n` unsent bytes as written.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_partial_consumes_and_pushes() {
        let mut pending = PendingOutput::default();
        pending.push(b"hello ");
        pending.consume(2);
        pending.push(b"world");
        assert_eq!(pending.unsent(), b"llo world");
        pending.consume(9);
        assert!(pending.is_empty());
    }
}
