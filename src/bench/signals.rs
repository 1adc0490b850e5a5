//! Stop signals: a run that is interrupted ends with a report, and with
//! the exit status a shell gives a process the signal ended.

use std::sync::OnceLock;

/// The first SIGINT, SIGTERM or SIGHUP the process caught, for as long as
/// it runs: each worker also hears them on its own poll, but one that
/// arrives between two runs (the probes of a rate search) or before a
/// worker listens must not be lost, nor kill the process without a report.
static CAUGHT: OnceLock<std::sync::Arc<std::sync::atomic::AtomicUsize>> = OnceLock::new();

/// Catches SIGINT, SIGTERM and SIGHUP from now on (see [`caught_signal`]).
pub fn catch_signals() -> Result<(), String> {
    let flag = CAUGHT.get_or_init(Default::default);
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        signal_hook::flag::register_usize(signal, std::sync::Arc::clone(flag), signal as usize)
            .map_err(|err| format!("cannot catch signals: {err}"))?;
    }
    Ok(())
}

/// The signal caught so far, if any.
pub fn caught_signal() -> Option<i32> {
    let caught = CAUGHT.get()?.load(std::sync::atomic::Ordering::SeqCst);
    (caught != 0).then_some(caught as i32)
}

/// A signal's name as the user knows it.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The exit status of a run a signal ended: 128 + its number, as a shell
/// reports it (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
pub fn signal_exit_status(name: &str) -> u8 {
    let number = match name {
        "SIGTERM" => libc::SIGTERM,
        "SIGHUP" => libc::SIGHUP,
        _ => libc::SIGINT,
    };
    128 + number as u8
}
