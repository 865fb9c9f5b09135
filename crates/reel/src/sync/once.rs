//! `Once`, as `std::sync::Once`.
//!
//! Who runs the initialiser, who waits and whether it panicked are per execution, like every
//! lock's state. Completion is not: once an initialiser completed, the Once stays completed in
//! later executions too, as a `static` Once does for the rest of a process. Code relies on
//! that for soundness (a `static OnceLock` hands out `&'static T`), so reel must not run an
//! initialiser twice.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::runtime::execution::{self, Blocker, ObjectCell, ObjectKind, Op};
use crate::runtime::live::DataLock;

/// Runs an initialiser exactly once.
pub struct Once {
    object: ObjectCell,
    /// Lets one execution at a time, of those running at once on several kernel threads,
    /// run an initialiser.
    data_lock: DataLock,
    /// Set when an initialiser completes; never cleared.
    completed: AtomicBool,
}

/// State passed to `call_once_force`'s closure.
#[derive(Debug)]
pub struct OnceState {
    poisoned: bool,
}

impl OnceState {
    /// Whether an earlier initialiser panicked.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

enum Step {
    Done,
    Run { poisoned: bool },
    Wait,
    Poisoned,
}

impl Once {
    /// A new, not yet run, Once.
    pub const fn new() -> Once {
        Once {
            object: ObjectCell::new(),
            data_lock: DataLock::new(),
            completed: AtomicBool::new(false),
        }
    }

    /// A Once whose initialiser has already completed (for a `OnceLock` made holding its
    /// value).
    pub(crate) const fn new_completed() -> Once {
        Once {
            object: ObjectCell::new(),
            data_lock: DataLock::new(),
            completed: AtomicBool::new(true),
        }
    }

    /// Runs `f` if no initialiser has completed; other callers wait for it. Panics if an
    /// earlier initialiser panicked.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        self.call(false, std::panic::Location::caller(), |_| f());
    }

    /// Like `call_once`, but runs even after an initialiser panicked.
    #[track_caller]
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        self.call(true, std::panic::Location::caller(), f);
    }

    /// Blocks until an initialiser has completed, as `std::sync::Once::wait`. Panics if the
    /// Once is poisoned (an initialiser panicked), when called or while waiting.
    #[track_caller]
    pub fn wait(&self) {
        self.wait_for_completion(false, std::panic::Location::caller());
    }

    /// Blocks until an initialiser has completed, ignoring poison, as
    /// `std::sync::Once::wait_force`: it keeps waiting after an initialiser panicked, until a
    /// `call_once_force` completes.
    #[track_caller]
    pub fn wait_force(&self) {
        self.wait_for_completion(true, std::panic::Location::caller());
    }

    /// Whether an initialiser has completed (a scheduling point, like std's atomic load; a
    /// plain load outside a runtime).
    #[track_caller]
    pub fn is_completed(&self) -> bool {
        if !execution::in_runtime() {
            // No green thread can be racing here; another kernel thread's execution can only
            // complete it, and the value it wrote is published by this Release/Acquire pair.
            return self.completed.load(Ordering::Acquire);
        }
        let location = std::panic::Location::caller();
        if self.completed_point(location) {
            return true;
        }
        execution::object_point(&self.object, ObjectKind::Once, Op::OnceCall, location);
        self.completed.load(Ordering::Acquire)
    }

    /// If the Once is completed, takes its scheduling step without registering it and says
    /// so: a completed Once is immutable, so runtimes on several kernel threads (parallel
    /// tests reading one `static OnceLock`) may all read it.
    fn completed_point(&self, location: &'static std::panic::Location<'static>) -> bool {
        let completed = self.completed.load(Ordering::Acquire);
        if completed {
            execution::schedule_point_at(Op::OnceCall, None, false, location);
        }
        completed
    }

    /// Waits, a scheduling point and then blocked on the Once, until it is completed; while
    /// it is poisoned, panics unless `ignore_poison`. Nobody need be running an initialiser:
    /// the thread waits for one to be started, as std's does.
    fn wait_for_completion(
        &self,
        ignore_poison: bool,
        location: &'static std::panic::Location<'static>,
    ) {
        if self.completed_point(location) {
            return;
        }
        let object =
            execution::object_point(&self.object, ObjectKind::Once, Op::OnceCall, location);
        loop {
            // Some(poisoned) when the wait is over, None when the thread queued to wait.
            let over = execution::with(|execution| {
                if self.completed.load(Ordering::Acquire) {
                    Some(false)
                } else if execution.objects[object].poisoned && !ignore_poison {
                    Some(true)
                } else {
                    execution.enqueue_current(object);
                    None
                }
            });
            match over {
                Some(false) => return,
                Some(true) => panic!("Once instance has previously been poisoned"),
                None => {
                    execution::block_at(Blocker::Once(object), None, location);
                }
            }
        }
    }

    fn call<F: FnOnce(&OnceState)>(
        &self,
        force: bool,
        location: &'static std::panic::Location<'static>,
        f: F,
    ) {
        if self.completed_point(location) {
            return;
        }
        let object =
            execution::object_point(&self.object, ObjectKind::Once, Op::OnceCall, location);
        let mut f = Some(f);
        loop {
            let step = execution::with(|execution| {
                let current = execution.current;
                let state = &mut execution.objects[object];
                if self.completed.load(Ordering::Acquire) {
                    Step::Done
                } else if state.owner.is_some() {
                    execution.enqueue_current(object);
                    Step::Wait
                } else if state.poisoned && !force {
                    Step::Poisoned
                } else {
                    state.owner = Some(current);
                    state.owner_location = Some(location);
                    Step::Run {
                        poisoned: state.poisoned,
                    }
                }
            });
            match step {
                Step::Done => return,
                Step::Poisoned => panic!("Once instance has previously been poisoned"),
                Step::Wait => {
                    execution::block_at(Blocker::Once(object), None, location);
                }
                Step::Run { poisoned } => {
                    let generation = execution::with(|execution| execution.generation);
                    self.data_lock.acquire(generation);
                    // Another execution on another kernel thread may have completed it while
                    // this one waited.
                    let result = if self.completed.load(Ordering::Acquire) {
                        Ok(())
                    } else {
                        let f = f.take().expect("the initialiser runs once");
                        panic::catch_unwind(AssertUnwindSafe(|| f(&OnceState { poisoned })))
                    };
                    if result.is_ok() {
                        self.completed.store(true, Ordering::Release);
                    }
                    self.data_lock.release(generation);
                    execution::with(|execution| {
                        execution.completed_once |= result.is_ok();
                        let state = &mut execution.objects[object];
                        state.owner = None;
                        state.owner_location = None;
                        state.poisoned = result.is_err();
                        execution.wake_all_waiters(object);
                    });
                    if let Err(payload) = result {
                        panic::resume_unwind(payload);
                    }
                    return;
                }
            }
        }
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}
