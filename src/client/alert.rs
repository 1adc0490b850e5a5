//! Telling a TLS server's alert from an echo. A plain client that reaches
//! a TLS server gets its bytes answered with a 7-byte alert record; the
//! first bytes of a reply are held back while they could be one, so that
//! such an alert is said as such, never printed raw (into `> copy.iso`, or
//! on a terminal).

use crate::tls::client::{ALERT_RECORD_LEN, could_be_tls_alert};

/// The start of a reply, watched for a TLS alert record.
pub struct AlertWatch {
    held: Vec<u8>,
    /// Still at the reply's start, with nothing let through yet.
    watching: bool,
}

/// What to do with bytes given to [`AlertWatch::feed`].
pub enum Watched {
    /// Keep them back: they may still be an alert.
    Held,
    /// The bytes held are a whole alert record.
    Alert,
    /// Let them through, after [`AlertWatch::release`]'s.
    Pass,
}

impl AlertWatch {
    /// Watches a plain connection's reply; `watching` false lets all pass.
    pub fn new(watching: bool) -> AlertWatch {
        AlertWatch {
            held: Vec::new(),
            watching,
        }
    }

    /// The next bytes of the reply.
    pub fn feed(&mut self, bytes: &[u8]) -> Watched {
        let fits = self.held.len() + bytes.len() <= ALERT_RECORD_LEN;
        if self.watching && fits && could_be_tls_alert(&[&self.held[..], bytes].concat()) {
            self.held.extend_from_slice(bytes);
            return if self.held.len() == ALERT_RECORD_LEN {
                Watched::Alert
            } else {
                Watched::Held
            };
        }
        self.watching = false;
        Watched::Pass
    }

    /// The bytes held back (an alert that is an echo of what was sent, say),
    /// handed over once; from then on everything passes.
    pub fn release(&mut self) -> Vec<u8> {
        self.watching = false;
        std::mem::take(&mut self.held)
    }

    pub fn held(&self) -> &[u8] {
        &self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_is_held_whole_and_anything_else_passes() {
        let alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];
        let mut watch = AlertWatch::new(true);
        assert!(matches!(watch.feed(&alert[..3]), Watched::Held));
        assert!(matches!(watch.feed(&alert[3..]), Watched::Alert));
        let mut watch = AlertWatch::new(true);
        assert!(matches!(watch.feed(&alert[..2]), Watched::Held));
        assert!(matches!(watch.feed(b"not"), Watched::Pass));
        assert_eq!(watch.release(), &alert[..2]);
        // Once something passed, nothing more is held.
        assert!(matches!(watch.feed(&alert), Watched::Pass));
        let mut plain = AlertWatch::new(false);
        assert!(matches!(plain.feed(&alert), Watched::Pass));
    }
}
