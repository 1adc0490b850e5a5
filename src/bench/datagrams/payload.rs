//! What a `bench --mode udp` datagram carries, so that every reply can be
//! matched to its request and checked: which source sent it, its sequence
//! number on that source, when it was due, and a fill derived from those,
//! so that any changed byte shows.

/// Bytes of the header: source (4), sequence (8), due time (8).
pub const HEADER: usize = 20;

/// The header of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub source: u32,
    pub sequence: u64,
    /// When it was due, in nanoseconds since the run began.
    pub due_ns: u64,
}

/// Writes `stamp` and its fill into `datagram` (at least [`HEADER`] long).
pub fn write(datagram: &mut [u8], stamp: Stamp) {
    datagram[..4].copy_from_slice(&stamp.source.to_be_bytes());
    datagram[4..12].copy_from_slice(&stamp.sequence.to_be_bytes());
    datagram[12..20].copy_from_slice(&stamp.due_ns.to_be_bytes());
    let mut state = seed(stamp);
    for byte in &mut datagram[HEADER..] {
        state = next(state);
        *byte = (state >> 24) as u8;
    }
}

/// The stamp of a reply whose every byte is as written, or `None` for a
/// datagram that was changed on the way (or is not one of ours).
pub fn read(datagram: &[u8], expected_len: usize) -> Option<Stamp> {
    if datagram.len() != expected_len || datagram.len() < HEADER {
        return None;
    }
    let stamp = Stamp {
        source: u32::from_be_bytes(datagram[..4].try_into().ok()?),
        sequence: u64::from_be_bytes(datagram[4..12].try_into().ok()?),
        due_ns: u64::from_be_bytes(datagram[12..20].try_into().ok()?),
    };
    let mut state = seed(stamp);
    for &byte in &datagram[HEADER..] {
        state = next(state);
        if byte != (state >> 24) as u8 {
            return None;
        }
    }
    Some(stamp)
}

fn seed(stamp: Stamp) -> u32 {
    (stamp.source ^ (stamp.sequence as u32) ^ ((stamp.sequence >> 32) as u32) ^ (stamp.due_ns as u32)) | 1
}

/// A linear congruential step: cheap, and different for every stamp.
fn next(state: u32) -> u32 {
    state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_reads_back_and_any_changed_byte_shows() {
        let stamp = Stamp {
            source: 3,
            sequence: 1 << 40,
            due_ns: 123_456_789,
        };
        let mut datagram = vec![0; 64];
        write(&mut datagram, stamp);
        assert_eq!(read(&datagram, 64), Some(stamp));
        assert_eq!(read(&datagram[..63], 64), None, "truncated");
        for i in 0..64 {
            let mut changed = datagram.clone();
            changed[i] ^= 0x40;
            assert_ne!(read(&changed, 64), Some(stamp), "byte {i} changed unnoticed");
        }
    }
}
