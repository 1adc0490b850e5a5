//! `send --hex`: the reply as a hex dump in xxd's layout, written as it
//! arrives (a line per 16 bytes; the last, shorter line at the end).

use std::io::{self, Write};

const LINE: usize = 16;

/// A hex dump written piece by piece: bytes wait only until their line of
/// sixteen is full.
#[derive(Default)]
pub struct HexDump {
    /// Offset of the first byte of `pending`.
    offset: u64,
    pending: Vec<u8>,
}

impl HexDump {
    /// Writes every whole line `bytes` completes.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut impl Write) -> io::Result<()> {
        while !bytes.is_empty() {
            let take = (LINE - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == LINE {
                self.flush_line(out)?;
            }
        }
        Ok(())
    }

    /// Writes the last, shorter line, if there is one.
    pub fn finish(mut self, out: &mut impl Write) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.flush_line(out)?;
        }
        Ok(())
    }

    fn flush_line(&mut self, out: &mut impl Write) -> io::Result<()> {
        let mut hex = String::with_capacity(40);
        for (i, byte) in self.pending.iter().enumerate() {
            if i > 0 && i % 2 == 0 {
                hex.push(' ');
            }
            hex.push_str(&format!("{byte:02x}"));
        }
        let text: String = self
            .pending
            .iter()
            .map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' })
            .collect();
        writeln!(out, "{:08x}: {hex:<39}  {text}", self.offset)?;
        self.offset += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte for byte what `xxd` prints for the same input, however the
    /// bytes arrive.
    #[test]
    fn the_dump_is_xxds_whatever_the_reads() {
        let input = b"The quick brown fox jumps over the lazy dog.\x00\x01\xff";
        let expected = "\
00000000: 5468 6520 7175 6963 6b20 6272 6f77 6e20  The quick brown 
00000010: 666f 7820 6a75 6d70 7320 6f76 6572 2074  fox jumps over t
00000020: 6865 206c 617a 7920 646f 672e 0001 ff    he lazy dog....
";
        for read in [1, 3, 16, 17, 100] {
            let mut dump = HexDump::default();
            let mut out = Vec::new();
            for piece in input.chunks(read) {
                dump.push(piece, &mut out).unwrap();
            }
            dump.finish(&mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), expected, "reads of {read}");
        }
        let mut out = Vec::new();
        HexDump::default().finish(&mut out).unwrap();
        assert!(out.is_empty());
    }
}
