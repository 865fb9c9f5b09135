//! `LazyLock`, as `std::sync::LazyLock`: a value computed on first access, built on
//! [`OnceLock`].

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::Deref;

use std::sync::atomic::{AtomicU64, Ordering};

use super::OnceLock;
use crate::runtime::execution;

/// A value initialised on first access, from any thread; later accesses see the same value.
/// Like [`OnceLock`], a `static` one keeps its value in later executions.
pub struct LazyLock<T, F = fn() -> T> {
    once: OnceLock<T>,
    init: UnsafeCell<Option<F>>,
    /// The execution (generation) that took `init` to run it; 0 before.
    taken_in: AtomicU64,
}

// SAFETY: `init` is taken only inside the OnceLock's initialiser, which runs on one thread
// once; T is shared by reference (Sync) and may be created on any thread (Send); F moves to
// whichever thread initialises (Send).
unsafe impl<T: Sync + Send, F: Send> Sync for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A lazy value computed by `init` on first access.
    pub const fn new(init: F) -> LazyLock<T, F> {
        LazyLock {
            once: OnceLock::new(),
            init: UnsafeCell::new(Some(init)),
            taken_in: AtomicU64::new(0),
        }
    }

    /// Forces the value and returns it.
    #[track_caller]
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.once.get_or_init(|| {
            // SAFETY: see the Sync impl: only this initialiser touches `init`.
            let init = unsafe { (*this.init.get()).take() };
            let generation = execution::with(|execution| execution.generation);
            match init {
                Some(init) => {
                    this.taken_in.store(generation, Ordering::Relaxed);
                    init()
                }
                None if this.taken_in.load(Ordering::Relaxed) == generation => {
                    panic!("LazyLock instance has previously been poisoned")
                }
                None => panic!(
                    "reel: this LazyLock's initialiser was started in an earlier execution \
                     that ended before it finished (its thread was abandoned), so it can never \
                     be initialised: a static LazyLock, like a static in a process, is \
                     initialised once"
                ),
            }
        })
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;

    #[track_caller]
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyLock").finish_non_exhaustive()
    }
}
