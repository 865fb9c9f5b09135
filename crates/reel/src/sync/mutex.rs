//! `Mutex`, as `std::sync::Mutex`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use super::{LockResult, TryLockError, TryLockResult};
use crate::runtime::execution::{self, Blocker, ObjectCell, ObjectId, ObjectKind, Op};
use crate::runtime::live::DataLock;

/// A mutual exclusion lock. Locking and unlocking are scheduling points; locking a mutex the
/// thread already holds is reported as a failure at once.
pub struct Mutex<T: ?Sized> {
    object: ObjectCell,
    /// Keeps executions on other kernel threads that share this mutex off `data`.
    data_lock: DataLock,
    data: UnsafeCell<T>,
}

// SAFETY: as std's Mutex: the lock protocol gives one thread of an execution at a time access
// to `data`, and `data_lock` one execution at a time.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above; access to `data` is serialised by the lock.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// An RAII guard; the mutex unlocks when it drops. Not `Send`, as std's: the lock belongs
/// to the thread that took it.
///
/// ```compile_fail
/// fn needs_send<T: Send>() {}
/// needs_send::<reel::sync::MutexGuard<'static, i32>>();
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
    panicking_at_acquire: bool,
    location: &'static std::panic::Location<'static>,
    not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a guard shares only &T.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            object: ObjectCell::new(),
            data_lock: DataLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex, returning the data (`Err` if poisoned, as std).
    pub fn into_inner(self) -> LockResult<T>
    where
        T: Sized,
    {
        let poisoned = super::is_poisoned(&self.object);
        super::poison_result(poisoned, self.data.into_inner())
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the mutex, blocking the green thread until it is available.
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let location = std::panic::Location::caller();
        let object = execution::object_point(&self.object, ObjectKind::Mutex, Op::Lock, location);
        let poisoned = self.acquire(object, location);
        super::poison_result(poisoned, self.new_guard(location))
    }

    /// Acquires the mutex if it is free right now.
    #[track_caller]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        let location = std::panic::Location::caller();
        let object = execution::object_point(&self.object, ObjectKind::Mutex, Op::Lock, location);
        let acquired = execution::with(|execution| {
            let current = execution.current;
            let state = &mut execution.objects[object];
            if state.owner.is_none() {
                state.owner = Some(current);
                state.owner_location = Some(location);
                Some((state.poisoned, execution.generation))
            } else {
                None
            }
        });
        let Some((poisoned, generation)) = acquired else {
            execution::spin_hint();
            return Err(TryLockError::WouldBlock);
        };
        if self.data_lock.try_acquire(generation).is_err() {
            // Another execution on another kernel thread has the data now: as busy as a
            // lock held here.
            execution::with(|execution| {
                let state = &mut execution.objects[object];
                state.owner = None;
                state.owner_location = None;
            });
            execution::spin_hint();
            return Err(TryLockError::WouldBlock);
        }
        super::poison_result(poisoned, self.new_guard(location)).map_err(TryLockError::from)
    }

    /// Whether a thread panicked while holding the mutex.
    pub fn is_poisoned(&self) -> bool {
        super::is_poisoned(&self.object)
    }

    /// Clears the poison flag.
    pub fn clear_poison(&self) {
        super::set_poisoned(&self.object, ObjectKind::Mutex, false);
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = super::is_poisoned(&self.object);
        super::poison_result(poisoned, self.data.get_mut())
    }

    fn new_guard(&self, location: &'static std::panic::Location<'static>) -> MutexGuard<'_, T> {
        MutexGuard {
            lock: self,
            panicking_at_acquire: super::unwinding_now(),
            location,
            not_send: PhantomData,
        }
    }

    /// Takes the lock for the current thread, blocking while another holds it; returns
    /// whether it is poisoned. Used by `lock` and by `Condvar` to re-acquire after a wait.
    pub(crate) fn acquire(
        &self,
        object: ObjectId,
        location: &'static std::panic::Location<'static>,
    ) -> bool {
        loop {
            let outcome = execution::with(|execution| {
                let current = execution.current;
                let state = &mut execution.objects[object];
                match state.owner {
                    None => {
                        state.owner = Some(current);
                        state.owner_location = Some(location);
                        Acquire::Done {
                            poisoned: state.poisoned,
                            generation: execution.generation,
                        }
                    }
                    Some(owner) if owner == current => Acquire::Reentrant,
                    Some(_) => {
                        execution.enqueue_current(object);
                        Acquire::Wait
                    }
                }
            });
            match outcome {
                Acquire::Done {
                    poisoned,
                    generation,
                } => {
                    self.data_lock.acquire(generation);
                    return poisoned;
                }
                Acquire::Reentrant => super::fail_reentrant(object, "lock", location),
                Acquire::Wait => {
                    execution::block_at(Blocker::Lock(object), None, location);
                }
            }
        }
    }

    /// Releases the lock and wakes its waiters, without a scheduling point.
    pub(crate) fn release(&self) -> ObjectId {
        execution::with(|execution| {
            let object = self.object.id(execution, ObjectKind::Mutex);
            self.release_in(execution, object);
            object
        })
    }

    /// Releases mutex `object` in `execution`, and its data to other executions, and wakes
    /// its waiters.
    fn release_in(&self, execution: &mut execution::Execution, object: ObjectId) {
        let state = &mut execution.objects[object];
        state.owner = None;
        state.owner_location = None;
        self.data_lock.release(execution.generation);
        execution.wake_all_waiters(object);
    }
}

enum Acquire {
    Done { poisoned: bool, generation: u64 },
    Reentrant,
    Wait,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.lock
    }

    pub(crate) fn location(&self) -> &'static std::panic::Location<'static> {
        self.location
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard's existence means this thread holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard's existence means this thread holds the lock, exclusively.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if super::should_poison(self.panicking_at_acquire) {
            super::set_poisoned(&self.lock.object, ObjectKind::Mutex, true);
        }
        execution::update_then_point(
            &self.lock.object,
            ObjectKind::Mutex,
            Op::Unlock,
            self.location,
            |execution, object| self.lock.release_in(execution, object),
        );
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").finish_non_exhaustive()
    }
}
