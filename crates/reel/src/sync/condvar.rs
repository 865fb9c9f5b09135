//! `Condvar`, as `std::sync::Condvar`. Waiters are woken in FIFO order; there are no
//! spurious wake-ups.

use std::fmt;
use std::time::Duration;

use super::{LockResult, MutexGuard};
use crate::runtime::execution::{self, Blocker, ObjectCell, ObjectKind, Op, Wake};

/// A condition variable.
pub struct Condvar {
    object: ObjectCell,
}

/// Whether a timed wait returned because its timeout elapsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True when the wait ended by timeout rather than a notification.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Condvar {
        Condvar {
            object: ObjectCell::new(),
        }
    }

    /// Releases the guard's mutex, waits for a notification, re-acquires the mutex.
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let location = std::panic::Location::caller();
        let (guard, _) = self.wait_inner(guard, None, location);
        let poisoned = guard.mutex().is_poisoned();
        super::poison_result(poisoned, guard)
    }

    /// Waits while `condition` holds, as std.
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        let location = std::panic::Location::caller();
        while condition(&mut *guard) {
            guard = self.wait_inner(guard, None, location).0;
        }
        let poisoned = guard.mutex().is_poisoned();
        super::poison_result(poisoned, guard)
    }

    /// Like `wait`, but gives up after `timeout` (virtual time under exploration).
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let location = std::panic::Location::caller();
        let deadline = execution::with(|execution| execution.clock.deadline_after(timeout));
        let (guard, wake) = self.wait_inner(guard, Some(deadline), location);
        let poisoned = guard.mutex().is_poisoned();
        super::poison_result(poisoned, (guard, WaitTimeoutResult(wake == Wake::TimedOut)))
    }

    /// Waits while `condition` holds, for at most `timeout` in all.
    #[track_caller]
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let location = std::panic::Location::caller();
        let deadline = execution::with(|execution| execution.clock.deadline_after(timeout));
        // As std: the condition is checked once after each wake-up, and a wait that timed
        // out with the condition still true returns `timed_out()`.
        let mut timed_out = false;
        loop {
            if !condition(&mut *guard) {
                timed_out = false;
                break;
            }
            if timed_out {
                break;
            }
            let (next_guard, wake) = self.wait_inner(guard, Some(deadline), location);
            guard = next_guard;
            timed_out = wake == Wake::TimedOut;
        }
        let poisoned = guard.mutex().is_poisoned();
        super::poison_result(poisoned, (guard, WaitTimeoutResult(timed_out)))
    }

    fn wait_inner<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<u64>,
        location: &'static std::panic::Location<'static>,
    ) -> (MutexGuard<'a, T>, Wake) {
        let object = execution::object_point(&self.object, ObjectKind::Condvar, Op::Wait, location);
        // Queue first, then release: no notification can fall between the two.
        execution::with(|execution| execution.enqueue_current(object));
        let mutex = guard.mutex();
        let mutex_object = mutex.release();
        let wake = execution::block_at(Blocker::Condvar(object), deadline, location);
        execution::schedule_point_at(Op::Lock, Some(mutex_object), false, guard.location());
        mutex.acquire(mutex_object, guard.location());
        (guard, wake)
    }

    /// Wakes one waiting thread, if any.
    #[track_caller]
    pub fn notify_one(&self) {
        let object = execution::object_point(
            &self.object,
            ObjectKind::Condvar,
            Op::Notify,
            std::panic::Location::caller(),
        );
        execution::with(|execution| execution.wake_one_waiter(object));
    }

    /// Wakes every waiting thread.
    #[track_caller]
    pub fn notify_all(&self) {
        let object = execution::object_point(
            &self.object,
            ObjectKind::Condvar,
            Op::Notify,
            std::panic::Location::caller(),
        );
        execution::with(|execution| execution.wake_all_waiters(object));
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
