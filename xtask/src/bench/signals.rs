//! SIGINT, SIGTERM and SIGHUP during the bench become an error at the next bounded wait,
//! so that the error unwinds through the lab's and the tools' guards, which remove the
//! namespaces and stop the tools, instead of killing the bench with them left behind.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Result};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the handlers (once per run of the bench).
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// Fails once a stop signal has arrived.
pub fn check() -> Result<()> {
    if STOP.load(Ordering::SeqCst) {
        bail!("interrupted: cleaning up the lab");
    }
    Ok(())
}
