//! What went wrong around the measurement, said once as it happens and
//! kept for the report.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;

/// Warnings of a run: each printed on stderr as it happens (above the
/// progress line, if there is one) and kept for the report.
#[derive(Default)]
pub struct Warnings {
    said: Mutex<(HashSet<&'static str>, Vec<String>)>,
    /// The progress line, once shown, so a warning does not tear it.
    bar: OnceLock<ProgressBar>,
}

impl Warnings {
    /// Says `message`, unless a warning of the same `kind` was said already.
    pub fn once(&self, kind: &'static str, message: String) {
        let mut said = self.said.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !said.0.insert(kind) {
            return;
        }
        match self.bar.get() {
            Some(bar) => bar.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
        said.1.push(message);
    }

    pub fn show_above(&self, bar: &ProgressBar) {
        let _ = self.bar.set(bar.clone());
    }

    pub fn into_messages(self) -> Vec<String> {
        self.said
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .1
    }
}
