//! Thread-local storage per green thread: `reel::thread_local!` and [`LocalKey`], as std's.
//!
//! std's `thread_local!` is per kernel thread, and every green thread of a runtime shares one
//! kernel thread, so a std thread-local would be shared by all of them. reel's keeps one value
//! per green thread, created on first use and dropped when the thread exits (a thread that is
//! abandoned at the end of an execution keeps its values, leaked, like the rest of its state).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::runtime::execution;

/// Source of key ids; 0 means "not assigned yet".
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

/// A key for a value each green thread has its own copy of. Declare with
/// [`thread_local!`](crate::thread_local).
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
    /// This key's index in every thread's table, assigned on first use.
    id: AtomicUsize,
}

/// The error of [`LocalKey::try_with`]: the key's value is being (or has been) dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessError;

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("already destroyed")
    }
}

impl std::error::Error for AccessError {}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    /// Used by `thread_local!`; `init` makes each thread's first value.
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey {
            init,
            id: AtomicUsize::new(0),
        }
    }

    fn id(&self) -> usize {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        let fresh = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(assigned) => assigned,
        }
    }

    /// Runs `f` with this thread's value, creating it first if needed. Panics if this key's
    /// value is being (or has been) dropped at the thread's exit.
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.try_with(f)
            .expect("cannot access a reel thread-local value during or after its destruction")
    }

    /// Like [`with`](LocalKey::with), but `Err` once this key's value is being (or has been)
    /// dropped at the thread's exit.
    pub fn try_with<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&T) -> R,
    {
        let id = self.id();
        let existing = execution::with(|execution| execution.local_value(id))?;
        let value: *const dyn Any = match existing {
            Some(value) => value,
            None => {
                // The initialiser runs outside any borrow of the execution: it may use reel.
                let value: Box<dyn Any> = Box::new((self.init)());
                let (stored, replaced) =
                    execution::with(|execution| execution.set_local_value(id, value))?;
                // A value the initialiser set through this same key; its destructor may use
                // reel, so it is dropped here, outside the borrow.
                drop(replaced);
                stored
            }
        };
        // SAFETY: the value is boxed in this thread's table; only this thread reaches its own
        // table. The box is dropped only at the thread's exit (after `f` returns), or when an
        // initialiser of this key, running before `f`, is overtaken by its caller's: never
        // while `f` holds the reference. An abandoned thread's values are leaked, not dropped.
        let value = unsafe { &*value };
        Ok(f(value
            .downcast_ref::<T>()
            .expect("a key's values all have its type")))
    }
}

impl<T: 'static> LocalKey<Cell<T>> {
    /// Sets this thread's value.
    pub fn set(&'static self, value: T) {
        self.with(|cell| cell.set(value));
    }

    /// This thread's value, copied.
    pub fn get(&'static self) -> T
    where
        T: Copy,
    {
        self.with(Cell::get)
    }

    /// Takes this thread's value, leaving the default.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(Cell::take)
    }

    /// Replaces this thread's value, returning the old one.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

impl<T: 'static> LocalKey<RefCell<T>> {
    /// Runs `f` with a shared borrow of this thread's value.
    pub fn with_borrow<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.with(|cell| f(&cell.borrow()))
    }

    /// Runs `f` with a mutable borrow of this thread's value.
    pub fn with_borrow_mut<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.with(|cell| f(&mut cell.borrow_mut()))
    }

    /// Sets this thread's value.
    pub fn set(&'static self, value: T) {
        self.with(|cell| *cell.borrow_mut() = value);
    }

    /// Takes this thread's value, leaving the default.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(RefCell::take)
    }

    /// Replaces this thread's value, returning the old one.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// Declares green-thread-local statics, as `std::thread_local!`: each green thread sees its
/// own value.
///
/// ```
/// use std::cell::Cell;
///
/// reel::thread_local! {
///     static COUNT: Cell<u32> = Cell::new(0);
/// }
///
/// reel::run(|| {
///     COUNT.set(5);
///     let other = reel::thread::spawn(|| COUNT.get()).join().unwrap();
///     assert_eq!((COUNT.get(), other), (5, 0));
/// });
/// ```
#[macro_export]
macro_rules! thread_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr }; $($rest:tt)*) => {
        $(#[$attr])* $vis static $name: $crate::thread::LocalKey<$t> =
            $crate::thread::LocalKey::new(|| $init);
        $crate::thread_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr }) => {
        $(#[$attr])* $vis static $name: $crate::thread::LocalKey<$t> =
            $crate::thread::LocalKey::new(|| $init);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])* $vis static $name: $crate::thread::LocalKey<$t> =
            $crate::thread::LocalKey::new(|| $init);
        $crate::thread_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $(#[$attr])* $vis static $name: $crate::thread::LocalKey<$t> =
            $crate::thread::LocalKey::new(|| $init);
    };
}
