//! Synchronisation primitives with the API of `std::sync`, each operation a scheduling point.
//!
//! Lock state lives in the execution (so a `static` primitive starts fresh in every
//! execution); the protected data lives in the primitive. Poisoning follows std.

mod barrier;
mod condvar;
mod lazy_lock;
pub mod mpsc;
mod mutex;
mod once;
mod once_lock;
mod rwlock;

pub mod atomic;

pub use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult, Weak};

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use lazy_lock::LazyLock;
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceState};
pub use once_lock::OnceLock;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::runtime::execution::{self, ObjectCell, ObjectId, ObjectKind};
use crate::runtime::failure::FailureKind;

/// Whether the object is poisoned in the current execution (false outside a runtime, or
/// when the object was never used in this execution).
fn is_poisoned(cell: &ObjectCell) -> bool {
    execution::try_with(|execution| {
        cell.current_id(execution)
            .is_some_and(|object| execution.objects[object].poisoned)
    })
    .unwrap_or(false)
}

/// Sets or clears the poison flag of an object in the current execution.
fn set_poisoned(cell: &ObjectCell, kind: ObjectKind, poisoned: bool) {
    execution::with(|execution| {
        let object = cell.id(execution, kind);
        execution.objects[object].poisoned = poisoned;
    });
}

/// Whether a guard dropped now should poison its lock: its thread is unwinding from its own
/// panic, and was not when it took the guard. (`std::thread::panicking()` alone would also be
/// true on any green thread that runs while another is blocked in the middle of an unwind.)
fn should_poison(panicking_at_acquire: bool) -> bool {
    !panicking_at_acquire && unwinding_now()
}

/// Whether the current green thread is unwinding from its own panic. Cheap when no panic is
/// in flight (std's global panic count is checked first).
fn unwinding_now() -> bool {
    std::thread::panicking()
        && execution::try_with(|execution| execution.current_is_unwinding()).unwrap_or(true)
}

/// Wraps a guard in `Ok`, or `Err(PoisonError)` when poisoned.
fn poison_result<G>(poisoned: bool, guard: G) -> LockResult<G> {
    if poisoned {
        Err(PoisonError::new(guard))
    } else {
        Ok(guard)
    }
}

/// Reports that the current thread tried to take a lock it holds, and ends the execution.
fn fail_reentrant(
    object: ObjectId,
    what: &str,
    location: &'static std::panic::Location<'static>,
) -> ! {
    let failure = execution::with(|execution| {
        let acquired = execution.objects[object]
            .owner_location
            .map(|at| format!(" (acquired at {at})"))
            .unwrap_or_default();
        let message = format!(
            "{} tries to {what} {} that it already holds{acquired}; this can never succeed",
            execution.thread_info(execution.current),
            execution.object_name(object),
        );
        execution.failure_here(FailureKind::ReentrantLock, message, location)
    });
    execution::fail_current(failure)
}
