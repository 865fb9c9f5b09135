//! What the runtime's fault handlers do before a process dies: the one place where the
//! engine hears of a fatal signal's consequences without knowing who cares. The recording
//! registers its emergency flush here (`set_fatal_flush`); the stack-overflow handler
//! (`overflow.rs`) runs it before aborting, so what was recorded reaches the disk.
//!
//! Everything here is async-signal-safe: a function pointer in an atomic.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The registered flush, as a function pointer's address; 0 for none.
static FATAL_FLUSH: AtomicUsize = AtomicUsize::new(0);

/// Registers what to run before the process dies of a fault (the recording's emergency
/// flush). It must be async-signal-safe.
pub(crate) fn set_fatal_flush(flush: fn()) {
    FATAL_FLUSH.store(flush as usize, Ordering::Release);
}

/// Runs the registered flush, if any. Async-signal-safe.
pub(crate) fn run_fatal_flush() {
    let address = FATAL_FLUSH.load(Ordering::Acquire);
    if address != 0 {
        // SAFETY: the only non-zero value ever stored is a `fn()` cast to usize above, and
        // a function pointer stays valid for the whole program.
        let flush: fn() = unsafe { std::mem::transmute::<usize, fn()>(address) };
        flush();
    }
}
