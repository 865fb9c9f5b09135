//! `OnceLock`, as `std::sync::OnceLock`, built on [`Once`].

use std::cell::UnsafeCell;
use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};

use super::Once;

/// A cell written at most once, readable from any thread after that. Like its [`Once`], a
/// `static` OnceLock keeps its value in later executions: the `&T` it handed out stays valid.
pub struct OnceLock<T> {
    once: Once,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: as std's OnceLock: the value is written only inside the Once's initialiser (one
// thread, once ever: a completed Once stays completed) and only read after it completed.
unsafe impl<T: Sync + Send> Sync for OnceLock<T> {}
// SAFETY: moving the cell moves the T.
unsafe impl<T: Send> Send for OnceLock<T> {}

// As std's: a panic can leave the cell empty, never half-written.
impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for OnceLock<T> {}
impl<T: UnwindSafe> UnwindSafe for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(None),
        }
    }

    /// The value, if the cell has been initialised.
    #[track_caller]
    pub fn get(&self) -> Option<&T> {
        if self.once.is_completed() {
            // SAFETY: completed means the initialiser wrote the value and nobody writes again.
            unsafe { (*self.value.get()).as_ref() }
        } else {
            None
        }
    }

    /// Mutable access to the value, if initialised.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.value.get_mut().as_mut()
    }

    /// Blocks until the cell is initialised, as `std::sync::OnceLock::wait`, and returns
    /// the value. An initialiser that panicked does not end the wait: another may still
    /// succeed.
    #[track_caller]
    pub fn wait(&self) -> &T {
        self.once.wait_force();
        // SAFETY: the Once completed, so the value is written and no longer changes.
        unsafe { (*self.value.get()).as_ref() }.expect("an initialised OnceLock holds a value")
    }

    /// Initialises the cell with `value`; `Err(value)` if it was already initialised.
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("taken once"));
        match value {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// The value, initialising it with `f` if needed. Other callers wait for `f`.
    #[track_caller]
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        self.once.call_once_force(|_| {
            let value = f();
            // SAFETY: the Once runs this on one thread, before any reader can see the value.
            unsafe { *self.value.get() = Some(value) }
        });
        // SAFETY: the Once completed, so the value is written and no longer changes.
        unsafe { (*self.value.get()).as_ref() }.expect("an initialised OnceLock holds a value")
    }

    /// Consumes the cell, returning its value if initialised.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        let value = self.value.get_mut().take();
        self.once = Once::new();
        value
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    /// As std's: `OnceLock(value)`, or `OnceLock(<uninit>)`. Reading the cell is a
    /// scheduling point inside a runtime.
    #[track_caller]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tuple = f.debug_tuple("OnceLock");
        match self.get() {
            Some(value) => tuple.field(value),
            None => tuple.field(&format_args!("<uninit>")),
        };
        tuple.finish()
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    /// A new cell holding a clone of this one's value, or an empty cell.
    #[track_caller]
    fn clone(&self) -> OnceLock<T> {
        match self.get() {
            Some(value) => OnceLock::from(value.clone()),
            None => OnceLock::new(),
        }
    }
}

impl<T> From<T> for OnceLock<T> {
    /// A cell already holding `value` (no scheduling point: nobody else can see it yet).
    fn from(value: T) -> OnceLock<T> {
        OnceLock {
            once: Once::new_completed(),
            value: UnsafeCell::new(Some(value)),
        }
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    /// Equal when both are empty, or both hold equal values.
    #[track_caller]
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}
