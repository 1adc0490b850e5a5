//! Turning SIGINT and SIGTERM into an event of the reactor's own `Poll`.
//!
//! signal-hook-mio writes to a self-pipe from the signal handler; the reactor
//! sees it as one more readable source, so stopping needs no extra thread and
//! no flag checked on a timer.

use std::io;

use mio::{Interest, Registry, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// The signals that ask the server to stop, registered with the reactor.
pub struct ShutdownSignals {
    signals: Signals,
}

impl ShutdownSignals {
    pub fn register(registry: &Registry, token: Token) -> io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        registry.register(&mut signals, token, Interest::READABLE)?;
        Ok(ShutdownSignals { signals })
    }

    /// Drains the signals delivered since the last call; true if any arrived.
    pub fn received(&mut self) -> bool {
        self.signals.pending().count() > 0
    }
}
