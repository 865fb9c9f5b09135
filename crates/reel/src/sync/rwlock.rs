//! `RwLock`, as `std::sync::RwLock`: many readers or one writer.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};

use super::{LockResult, TryLockError, TryLockResult};
use crate::runtime::execution::{self, Blocker, ObjectCell, ObjectId, ObjectKind, Op};
use crate::runtime::live::DataLock;

/// A reader-writer lock. A thread that asks for a write lock while it holds the lock, or a
/// read lock while it holds the write lock, is reported at once.
pub struct RwLock<T: ?Sized> {
    object: ObjectCell,
    /// Keeps executions on other kernel threads that share this lock off `data`.
    data_lock: DataLock,
    data: UnsafeCell<T>,
}

// SAFETY: as std's RwLock: the lock protocol gives either shared or exclusive access within
// an execution, and `data_lock` the data to one execution at a time.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers share &T across threads, hence T: Sync as in std.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Shared access; the read lock is released when it drops.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    location: &'static std::panic::Location<'static>,
}

/// Exclusive access; the write lock is released when it drops.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    panicking_at_acquire: bool,
    location: &'static std::panic::Location<'static>,
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
            object: ObjectCell::new(),
            data_lock: DataLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock, returning the data (`Err` if poisoned).
    pub fn into_inner(self) -> LockResult<T>
    where
        T: Sized,
    {
        let poisoned = super::is_poisoned(&self.object);
        super::poison_result(poisoned, self.data.into_inner())
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Acquires shared access, blocking while a writer holds the lock.
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let location = std::panic::Location::caller();
        self.lock(Mode::Read, location);
        super::poison_result(
            self.is_poisoned(),
            RwLockReadGuard {
                lock: self,
                location,
            },
        )
    }

    /// Acquires exclusive access, blocking while anyone holds the lock.
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let location = std::panic::Location::caller();
        self.lock(Mode::Write, location);
        super::poison_result(self.is_poisoned(), self.write_guard(location))
    }

    /// Acquires shared access if possible right now.
    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        let location = std::panic::Location::caller();
        if !self.try_lock(Mode::Read, location) {
            return Err(TryLockError::WouldBlock);
        }
        super::poison_result(
            self.is_poisoned(),
            RwLockReadGuard {
                lock: self,
                location,
            },
        )
        .map_err(TryLockError::from)
    }

    /// Acquires exclusive access if possible right now.
    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        let location = std::panic::Location::caller();
        if !self.try_lock(Mode::Write, location) {
            return Err(TryLockError::WouldBlock);
        }
        super::poison_result(self.is_poisoned(), self.write_guard(location))
            .map_err(TryLockError::from)
    }

    /// Whether a writer panicked while holding the lock.
    pub fn is_poisoned(&self) -> bool {
        super::is_poisoned(&self.object)
    }

    /// Clears the poison flag.
    pub fn clear_poison(&self) {
        super::set_poisoned(&self.object, ObjectKind::RwLock, false);
    }

    /// Mutable access without locking.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = super::is_poisoned(&self.object);
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
        }
    }

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
            return false;
        };
        if self.data_lock.try_acquire(generation).is_ok() {
            return true;
        }
        // Another execution on another kernel thread has the data now: as busy as a lock
        // held here.
        execution::with(|execution| Self::let_go(execution, object, mode));
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
        // SAFETY: a read guard means shared access is held; no writer exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock(Mode::Read, self.location);
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
            super::set_poisoned(&self.lock.object, ObjectKind::RwLock, true);
        }
        self.lock.unlock(Mode::Write, self.location);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
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
