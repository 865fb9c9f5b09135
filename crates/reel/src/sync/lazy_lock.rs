//! `LazyLock`, as `std::sync::LazyLock`: a value computed on first access, built on
//! [`OnceLock`].

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};

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

// As std's: a panicking initialiser poisons the lock, and no half-made value is ever seen.
impl<T: RefUnwindSafe + UnwindSafe, F: UnwindSafe> RefUnwindSafe for LazyLock<T, F> {}
impl<T: UnwindSafe, F: UnwindSafe> UnwindSafe for LazyLock<T, F> {}

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
            let Some(init) = init else {
                this.never_initialised()
            };
            let generation = execution::with(|execution| execution.generation);
            this.taken_in.store(generation, Ordering::Relaxed);
            init()
        })
    }

    /// Forces the value and returns it mutably, as `std::sync::LazyLock::force_mut`. The
    /// exclusive borrow rules out other threads, so this is no scheduling point and works
    /// outside a runtime too. If the initialiser panics, the lock is poisoned.
    #[track_caller]
    pub fn force_mut(this: &mut LazyLock<T, F>) -> &mut T {
        if this.once.get_mut().is_none() {
            let Some(init) = this.init.get_mut().take() else {
                this.never_initialised()
            };
            if let Some(generation) = execution::try_with(|execution| execution.generation) {
                *this.taken_in.get_mut() = generation;
            }
            this.once = OnceLock::from(init());
        }
        this.once
            .get_mut()
            .expect("a forced LazyLock holds its value")
    }
}

impl<T, F> LazyLock<T, F> {
    /// The value, if it has been computed, as `std::sync::LazyLock::get` (a scheduling point
    /// inside a runtime).
    #[track_caller]
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        this.once.get()
    }

    /// The value mutably, if it has been computed, as `std::sync::LazyLock::get_mut`.
    pub fn get_mut(this: &mut LazyLock<T, F>) -> Option<&mut T> {
        this.once.get_mut()
    }

    /// Panics because the initialiser was taken and never finished: it panicked (the lock is
    /// poisoned, as in std), or it ran in an earlier execution whose thread was abandoned.
    #[cold]
    #[track_caller]
    fn never_initialised(&self) -> ! {
        let generation = execution::try_with(|execution| execution.generation);
        let taken_in = self.taken_in.load(Ordering::Relaxed);
        if generation.is_none_or(|generation| generation == taken_in) {
            panic!("LazyLock instance has previously been poisoned")
        }
        panic!(
            "reel: this LazyLock's initialiser was started in an earlier execution that ended \
             before it finished (its thread was abandoned), so it can never be initialised: a \
             static LazyLock, like a static in a process, is initialised once"
        )
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;

    #[track_caller]
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T, F: FnOnce() -> T> DerefMut for LazyLock<T, F> {
    #[track_caller]
    fn deref_mut(&mut self) -> &mut T {
        LazyLock::force_mut(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    /// As std's: `LazyLock(value)`, or `LazyLock(<uninit>)` (without forcing it).
    #[track_caller]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tuple = f.debug_tuple("LazyLock");
        match LazyLock::get(self) {
            Some(value) => tuple.field(value),
            None => tuple.field(&format_args!("<uninit>")),
        };
        tuple.finish()
    }
}
