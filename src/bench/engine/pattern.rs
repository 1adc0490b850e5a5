//! The bytes a bench connection sends, so that every echoed byte can be
//! checked: a pseudo-random pattern by default, or `--payload` repeated.

/// Period of the pattern (2^16 + 1): a prime, so a shift by any message size never
/// lines the sequence up with itself; small enough that the whole block (128
/// KiB) stays in the L2 cache while a thousand connections check their echoes
/// at scattered offsets (a 1 MiB period made the check a visible cost).
const PERIOD: usize = 65_537;

/// A block of pseudo-random bytes long enough that any slice of up to
/// `MAX_SLICE` bytes starting inside the period is contiguous.
pub const MAX_SLICE: usize = 64 * 1024;

/// The byte at offset `o` of connection `c` is `block[(o + shift(c)) % PERIOD]`:
/// it differs per connection (each starts at its own shift) and per message
/// (offsets advance), yet writing is a slice of the block and checking a
/// `memcmp`, so the load generator spends next to nothing on it.
pub struct Pattern {
    block: Box<[u8]>,
    /// Where the block repeats: [`PERIOD`], or the payload's length.
    period: usize,
    /// Each connection starts at its own place (the pattern); a payload
    /// starts every message at its first byte.
    shifted: bool,
}

impl Default for Pattern {
    fn default() -> Self {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut block: Vec<u8> = (0..PERIOD)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        // The tail repeats the head, so a slice that runs past the period is
        // the same bytes whichever offset a write or a read was cut at.
        block.extend_from_within(..MAX_SLICE);
        Pattern {
            block: block.into_boxed_slice(),
            period: PERIOD,
            shifted: true,
        }
    }
}

impl Pattern {
    /// Every message is `payload` (`--payload`, `--payload-file`): what a
    /// proxy that inspects content needs to see; still checked byte for byte.
    pub fn repeating(payload: &[u8]) -> Pattern {
        assert!(!payload.is_empty(), "a payload has bytes");
        // Long enough that any slice of up to MAX_SLICE from inside the
        // first period is contiguous.
        let copies = (payload.len() + MAX_SLICE).div_ceil(payload.len());
        Pattern {
            block: payload.repeat(copies).into_boxed_slice(),
            period: payload.len(),
            shifted: false,
        }
    }

    fn start(&self, connection: u64, offset: u64) -> usize {
        let shift = if self.shifted {
            connection.wrapping_mul(7_919) % self.period as u64
        } else {
            0
        };
        ((offset + shift) % self.period as u64) as usize
    }

    /// The bytes connection `connection` sends from `offset` on, at most
    /// `len` of them (and at most [`MAX_SLICE`]).
    pub fn slice(&self, connection: u64, offset: u64, len: usize) -> &[u8] {
        let start = self.start(connection, offset);
        &self.block[start..start + len.min(MAX_SLICE)]
    }

    /// True when `received` is what connection `connection` sent at `offset`.
    pub fn matches(&self, connection: u64, offset: u64, received: &[u8]) -> bool {
        received.chunks(MAX_SLICE).enumerate().all(|(i, chunk)| {
            let at = offset + (i * MAX_SLICE) as u64;
            self.slice(connection, at, chunk.len()) == chunk
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differs_per_connection_and_per_message_and_is_not_constant() {
        let pattern = Pattern::default();
        let first = pattern.slice(1, 0, 512);
        assert_ne!(first, pattern.slice(2, 0, 512));
        assert_ne!(first, pattern.slice(1, 512, 512));
        assert!(first.iter().any(|&b| b != first[0]));
    }

    #[test]
    fn a_payload_repeats_message_after_message_and_is_checked_as_strictly() {
        let payload = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";
        let pattern = Pattern::repeating(payload);
        let size = payload.len() as u64;
        for message in [0, 1, 7, 100_000] {
            assert_eq!(pattern.slice(3, message * size, payload.len()), payload);
        }
        assert_eq!(
            pattern.slice(1, 0, 1000),
            pattern.slice(2, 0, 1000),
            "every connection sends it"
        );
        let stream: Vec<u8> = payload.repeat(3000);
        assert!(pattern.matches(5, 0, &stream));
        assert!(pattern.matches(5, 7, &stream[7..70_007]));
        let mut flipped = stream.clone();
        flipped[65_000] ^= 1;
        assert!(!pattern.matches(5, 0, &flipped));
        let one = Pattern::repeating(b"x");
        assert_eq!(one.slice(0, 12_345, 5), b"xxxxx");
    }

    #[test]
    fn matches_across_the_period_and_catches_one_flipped_bit() {
        let pattern = Pattern::default();
        let offset = PERIOD as u64 - 100;
        let mut data = Vec::new();
        for piece in 0..3 {
            data.extend_from_slice(pattern.slice(9, offset + piece * 1000, 1000));
        }
        assert!(pattern.matches(9, offset, &data));
        data[2500] ^= 1;
        assert!(!pattern.matches(9, offset, &data));
        assert!(
            !pattern.matches(9, offset, &data[1..1001]),
            "a shift by one byte is caught"
        );
    }
}
