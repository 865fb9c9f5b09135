//! `RwLock`, as `std::sync::RwLock`: many readers or one writer.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use super::{LockResult, TryLockError, TryLockResult};
use crate::runtime::execution::{self, Blocker, ObjectCell, ObjectId, ObjectKind, Op};
use crate::runtime::live::DataLock;

/// A reader-writer lock. A thread that asks for a write lock while it holds the lock, or a
/// read lock while it holds the write lock, is reported at once.
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

/// The lock itself, without the data: what a read guard holds on to, so that the guard does
/// not mention `UnsafeCell<T>` and stays covariant in `T`, as std's does.
struct RawRwLock {
    object: ObjectCell,
    /// Keeps executions on other kernel threads that share this lock off the data.
    data_lock: DataLock,
}

// SAFETY: as std's RwLock: the lock protocol gives either shared or exclusive access within
// an execution, and `data_lock` the data to one execution at a time.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers share &T across threads, hence T: Sync as in std.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Shared access; the read lock is released when it drops. Like std's, it is covariant in
/// `T` and not `Send` (the read lock belongs to the thread that took it):
///
/// ```compile_fail
/// fn needs_send<T: Send>() {}
/// needs_send::<reel::sync::RwLockReadGuard<'static, i32>>();
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    /// The data, by pointer rather than `&'a T`: the guard gives shared access only until it
    /// drops. `NonNull` is covariant in `T`, as `&T` is.
    data: NonNull<T>,
    raw: &'a RawRwLock,
    location: &'static std::panic::Location<'static>,
}

/// Exclusive access; the write lock is released when it drops. Not `Send`, as std's:
///
/// ```compile_fail
/// fn needs_send<T: Send>() {}
/// needs_send::<reel::sync::RwLockWriteGuard<'static, i32>>();
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    panicking_at_acquire: bool,
    location: &'static std::panic::Location<'static>,
    not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a guard shares only &T.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: sharing a guard shares only &T.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
}

enum Attempt {
    Acquired,
    Busy,
    Reentrant,
}

impl<T> RwLock<T> {
    /// A new unlocked RwLock.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock {
                object: ObjectCell::new(),
                data_lock: DataLock::new(),
            },
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock, returning the data (`Err` if poisoned).
    pub fn into_inner(self) -> LockResult<T>
    where
        T: Sized,
    {
        let poisoned = super::is_poisoned(&self.raw.object);
        super::poison_result(poisoned, self.data.into_inner())
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Acquires shared access, blocking while a writer holds the lock.
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let location = std::panic::Location::caller();
        self.raw.lock(Mode::Read, location);
        super::poison_result(self.is_poisoned(), self.read_guard(location))
    }

    /// Acquires exclusive access, blocking while anyone holds the lock.
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let location = std::panic::Location::caller();
        self.raw.lock(Mode::Write, location);
        super::poison_result(self.is_poisoned(), self.write_guard(location))
    }

    /// Acquires shared access if possible right now.
    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        let location = std::panic::Location::caller();
        if !self.raw.try_lock(Mode::Read, location) {
            return Err(TryLockError::WouldBlock);
        }
        super::poison_result(self.is_poisoned(), self.read_guard(location))
            .map_err(TryLockError::from)
    }

    /// Acquires exclusive access if possible right now.
    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        let location = std::panic::Location::caller();
        if !self.raw.try_lock(Mode::Write, location) {
            return Err(TryLockError::WouldBlock);
        }
        super::poison_result(self.is_poisoned(), self.write_guard(location))
            .map_err(TryLockError::from)
    }

    /// Whether a writer panicked while holding the lock.
    pub fn is_poisoned(&self) -> bool {
        super::is_poisoned(&self.raw.object)
    }

    /// Clears the poison flag.
    pub fn clear_poison(&self) {
        super::set_poisoned(&self.raw.object, ObjectKind::RwLock, false);
    }

    /// Mutable access without locking.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = super::is_poisoned(&self.raw.object);
        super::poison_result(poisoned, self.data.get_mut())
    }

    fn write_guard(
        &self,
        location: &'static std::panic::Location<'static>,
    ) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            panicking_at_acquire: super::unwinding_now(),
            location,
            not_send: PhantomData,
        }
    }

    /// A read guard; the caller holds a read lock.
    fn read_guard(
        &self,
        location: &'static std::panic::Location<'static>,
    ) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            // SAFETY: `UnsafeCell::get` on a reference is never null.
            data: unsafe { NonNull::new_unchecked(self.data.get()) },
            raw: &self.raw,
            location,
        }
    }
}

impl RawRwLock {
    fn op(mode: Mode) -> Op {
        match mode {
            Mode::Read => Op::ReadLock,
            Mode::Write => Op::WriteLock,
        }
    }

    /// One attempt to take the lock in `mode` for the current thread.
    fn attempt(
        &self,
        mode: Mode,
        location: &'static std::panic::Location<'static>,
    ) -> (ObjectId, Attempt, u64) {
        execution::with(|execution| {
            let object = self.object.id(execution, ObjectKind::RwLock);
            let current = execution.current;
            // Writers are preferred, as in std on Linux: a reader waits while a writer waits,
            // so a thread that read-locks twice can deadlock against a waiting writer.
            let writer_waiting = execution.has_waiter_on(object, Blocker::WriteLock(object));
            let state = &mut execution.objects[object];
            let attempt = match mode {
                Mode::Read if state.owner == Some(current) => Attempt::Reentrant,
                Mode::Read if state.owner.is_none() && !writer_waiting => {
                    state.readers.push(current);
                    Attempt::Acquired
                }
                Mode::Write if state.owner == Some(current) || state.readers.contains(&current) => {
                    Attempt::Reentrant
                }
                Mode::Write if state.owner.is_none() && state.readers.is_empty() => {
                    state.owner = Some(current);
                    state.owner_location = Some(location);
                    Attempt::Acquired
                }
                Mode::Read | Mode::Write => Attempt::Busy,
            };
            (object, attempt, execution.generation)
        })
    }

    fn lock(&self, mode: Mode, location: &'static std::panic::Location<'static>) {
        execution::object_point(&self.object, ObjectKind::RwLock, Self::op(mode), location);
        loop {
            match self.attempt(mode, location) {
                (_, Attempt::Acquired, generation) => {
                    self.data_lock.acquire(generation);
                    return;
                }
                (object, Attempt::Reentrant, _) => {
                    let what = if mode == Mode::Read {
                        "read-lock"
                    } else {
                        "write-lock"
                    };
                    super::fail_reentrant(object, what, location)
                }
                (object, Attempt::Busy, _) => {
                    execution::with(|execution| execution.enqueue_current(object));
                    let blocker = if mode == Mode::Read {
                        Blocker::ReadLock(object)
                    } else {
                        Blocker::WriteLock(object)
                    };
                    execution::block_at(blocker, None, location);
                }
            }
        }
    }

    fn try_lock(&self, mode: Mode, location: &'static std::panic::Location<'static>) -> bool {
        execution::object_point(&self.object, ObjectKind::RwLock, Self::op(mode), location);
        let (object, Attempt::Acquired, generation) = self.attempt(mode, location) else {
            execution::spin_hint();
            return false;
        };
        if self.data_lock.try_acquire(generation).is_ok() {
            return true;
        }
        // Another execution on another kernel thread has the data now: as busy as a lock
        // held here.
        execution::with(|execution| Self::let_go(execution, object, mode));
        execution::spin_hint();
        false
    }

    /// The current thread's hold of `object` in `mode` ends (no step, no wake-up).
    fn let_go(execution: &mut execution::Execution, object: ObjectId, mode: Mode) {
        let current = execution.current;
        let state = &mut execution.objects[object];
        match mode {
            Mode::Read => {
                if let Some(position) = state.readers.iter().position(|&reader| reader == current) {
                    state.readers.swap_remove(position);
                }
            }
            Mode::Write => {
                state.owner = None;
                state.owner_location = None;
            }
        }
    }

    /// Turns the current thread's write lock into a read lock in one step: no writer can get
    /// in between, and readers that wait may go ahead. The step is a write-unlock, taken
    /// after its effect, as an unlock's.
    fn downgrade(&self, location: &'static std::panic::Location<'static>) {
        execution::update_then_point(
            &self.object,
            ObjectKind::RwLock,
            Op::WriteUnlock,
            location,
            |execution, object| {
                let current = execution.current;
                let state = &mut execution.objects[object];
                assert_eq!(
                    state.owner,
                    Some(current),
                    "reel: a write guard is downgraded by the thread that holds the write lock"
                );
                state.owner = None;
                state.owner_location = None;
                state.readers.push(current);
                // Waiting writers re-check too and wait again, behind this reader.
                execution.wake_all_waiters(object);
            },
        );
    }

    fn unlock(&self, mode: Mode, location: &'static std::panic::Location<'static>) {
        let object = execution::with(|execution| {
            let object = self.object.id(execution, ObjectKind::RwLock);
            Self::let_go(execution, object, mode);
            self.data_lock.release(execution.generation);
            execution.wake_all_waiters(object);
            object
        });
        let op = if mode == Mode::Read {
            Op::ReadUnlock
        } else {
            Op::WriteUnlock
        };
        execution::schedule_point_at(op, Some(object), false, location);
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard means shared access is held; no writer exists while it lives,
        // and `data` points into the lock, which outlives 'a.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.raw.unlock(Mode::Read, self.location);
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write lock into a read lock atomically, as std's
    /// `RwLockWriteGuard::downgrade`: no writer can get in between, so what this thread wrote
    /// is what it reads; readers that were waiting may now go ahead. A scheduling point.
    #[track_caller]
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let location = std::panic::Location::caller();
        let lock = s.lock;
        // Not its destructor: that would release the write lock (as std, no poisoning here).
        std::mem::forget(s);
        lock.raw.downgrade(location);
        lock.read_guard(location)
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a write guard means exclusive access is held.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: a write guard means exclusive access is held.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        if super::should_poison(self.panicking_at_acquire) {
            super::set_poisoned(&self.lock.raw.object, ObjectKind::RwLock, true);
        }
        self.lock.raw.unlock(Mode::Write, self.location);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").finish_non_exhaustive()
    }
}
