//! Turning SIGINT, SIGTERM and SIGHUP into an event of the reactor's own `Poll`.
//!
//! SIGHUP (the terminal or ssh session closed) drains like SIGTERM: the
//! default action would kill the server with no drain and no summary, cutting
//! every client off mid-echo. A server meant to outlive its terminal is
//! better started under `nohup` or a service manager anyway.
//!
//! signal-hook-mio writes to a self-pipe from the signal handler; the reactor
//! sees it as one more readable source, so stopping needs no extra thread and
//! no flag checked on a timer.

use std::io;

use mio::{Interest, Registry, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// The signals that ask the server to stop, registered with the reactor.
pub struct ShutdownSignals {
    signals: Signals,
}

impl ShutdownSignals {
    pub fn register(registry: &Registry, token: Token) -> io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
        registry.register(&mut signals, token, Interest::READABLE)?;
        Ok(ShutdownSignals { signals })
    }

    /// Drains the signals delivered since the last call; true if any arrived.
    pub fn received(&mut self) -> bool {
        self.signals.pending().count() > 0
    }
}
