//! Signals that set a flag, as signal-hook's `flag` module: the usual way to ask workers to
//! shut down.
//!
//! The flag is std's `AtomicBool` (signal-hook's type). It is set when the signal is
//! delivered, at a scheduling point, so whatever reads it sees it change between two steps.

use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::{c_int, check_signal};
use crate::runtime::execution;

/// The id of a registration, to undo it with [`unregister`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SigId(u64);

/// Sets `flag` to true whenever `signal` arrives. Refuses a signal that cannot be handled
/// (see [`Signals::new`](super::Signals::new)). Must be called inside a reel runtime.
pub fn register(signal: c_int, flag: Arc<AtomicBool>) -> io::Result<SigId> {
    let number = check_signal(signal)?;
    execution::with(|execution| execution.register_signal_flag(number, flag)).map(SigId)
}

/// Undoes a [`register`]; false if it was undone already.
pub fn unregister(id: SigId) -> bool {
    execution::try_with(|execution| execution.unregister_signal_flag(id.0)).unwrap_or(false)
}
