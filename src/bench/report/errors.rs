//! What went wrong, by kind: the load generator's error counts.

use serde::{Deserialize, Serialize};

/// Failures seen by the load generator; any of them makes the exit status 1.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Errors {
    /// Echoed bytes that differ from what was sent, or more bytes than were sent.
    pub mismatches: u64,
    /// The server closed before echoing everything.
    pub early_eofs: u64,
    /// Resets, broken pipes and other socket errors on established connections.
    pub resets: u64,
    /// Connections that could not be established (refused, timed out, no ports).
    pub connect_failures: u64,
    /// Connections still waiting for their echo when the drain deadline passed.
    pub timeouts: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.mismatches + self.early_eofs + self.resets + self.connect_failures + self.timeouts
    }

    /// What was counted after `earlier`, a snapshot of the same counts.
    pub fn since(&self, earlier: &Errors) -> Errors {
        Errors {
            mismatches: self.mismatches - earlier.mismatches,
            early_eofs: self.early_eofs - earlier.early_eofs,
            resets: self.resets - earlier.resets,
            connect_failures: self.connect_failures - earlier.connect_failures,
            timeouts: self.timeouts - earlier.timeouts,
        }
    }

    pub fn add(&mut self, other: &Errors) {
        self.mismatches += other.mismatches;
        self.early_eofs += other.early_eofs;
        self.resets += other.resets;
        self.connect_failures += other.connect_failures;
        self.timeouts += other.timeouts;
    }
}
