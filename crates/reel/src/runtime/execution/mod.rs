//! One execution: the green threads, the objects they share, the timers, and the scheduling
//! protocol that every operation goes through. This file owns the `Execution` value, the
//! way to reach it (`with`), and the entry points the API calls at a scheduling point; the
//! concerns are split by file: `step` (a step and the decision after it), `threads`,
//! `objects`, `timers`, `wait_for` (the wait-for graph), `diagnosis` (failures and the
//! recent steps), `driver` (running an execution to its end and tearing it down).
//!
//! # Protocol
//! 1. Exactly one green thread runs at a time. The driver (`run_execution`, on the kernel
//!    thread's own stack) resumes the thread in `next`; the thread runs until it suspends
//!    back to the driver or returns.
//! 2. Every operation through which threads can affect each other begins with
//!    [`schedule_point`]: one step. The decider (a strategy or the replayer) picks the next
//!    thread among the runnable ones; when it picks another, the current thread suspends.
//! 3. A thread that must wait marks itself blocked on a [`Blocker`] with [`block_at`] (or
//!    [`Execution::begin_block`] and [`wait`]), which is also a step. Whoever makes the
//!    awaited thing possible wakes it; the woken thread re-checks its condition (wake-ups are
//!    hints, never hand-offs).
//! 4. No `RefCell` borrow of the execution is held across a suspend or resume.
//! 5. When the execution ends (main returned, or a failure), the threads still alive are
//!    abandoned, as std abandons threads at process exit: they are never resumed, so none of
//!    their code (destructors included) runs again, and the stacks they ran on are leaked
//!    as they are, since something outside may still borrow from them. Unwinding them
//!    instead would run destructors that may block on a lock that will never be released,
//!    which cannot be done in the middle of an unwind.
//! 6. A thread that is unwinding from a panic is not switched away from at a step: Rust
//!    counts panics in flight per kernel thread, not per green thread, so every other green
//!    thread would see `thread::panicking()` true. Only blocking can interleave an unwind;
//!    for that case the execution marks whose unwind is in flight (`unwinding`), so that
//!    only that thread's guards poison and the others are scheduled as usual.
//! 7. Observers hear of the run's story only: after a failure or a halt nothing but the end
//!    is told (a panicking main's exit is not part of the story).

mod diagnosis;
mod driver;
mod fairness;
mod inputs;
mod io;
mod objects;
mod signals;
mod step;
mod threads;
mod timers;
mod wait_for;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

pub(crate) use driver::run_execution;
pub(crate) use inputs::{read_clock, with_generator};
pub(crate) use io::{
    IoState, io_forget, io_object, io_register, io_register_accepted, io_step, io_wait,
};
pub(crate) use objects::{ObjectCell, ObjectState};
pub(crate) use signals::{Raise, SignalPlan, SignalSource};
pub(crate) use step::{
    Blocking, block_at, fail_current, object_point, schedule_point, schedule_point_at, spin_hint,
    update_then_point, wait, yield_point,
};
pub(crate) use threads::{
    ThreadSlot, ThreadState, panic_message, panic_observed, record_panic, run_program,
};

use super::clock::Clock;
use super::failure::Failure;
use super::seams::{Decider, Halt, Observer, PendingStep, RunnableSet};
pub(crate) use super::vocabulary::{Blocker, ObjectId, ObjectKind, Op, Wake};
pub(crate) use super::watchdog::WatchSettings;
use diagnosis::{RecentSteps, SpinDetector};

/// Default usable stack size of a green thread.
pub(crate) const DEFAULT_STACK_BYTES: usize = 256 * 1024;

/// Whether threads' panics are failures of the execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PanicPolicy {
    /// std semantics: a spawned thread's panic goes to its join handle; main's panic
    /// ends the run and is resumed by `reel::run`.
    ToJoin,
    /// Exploration: any thread's panic is a failure.
    AnyThreadFails,
}

/// Settings of one execution.
#[derive(Clone, Debug)]
pub(crate) struct ExecutionConfig {
    pub(crate) max_steps: Option<u64>,
    pub(crate) stack_bytes: usize,
    pub(crate) panic_policy: PanicPolicy,
    /// A plain run's spin detector: this many consecutive identical atomic loads by one
    /// thread, while others wait to run, is reported as a livelock.
    pub(crate) spin_limit: Option<u64>,
    /// Whether panics are printed as they happen (a plain run) or only reported (exploration).
    pub(crate) print_panics: bool,
    pub(crate) clock: Clock,
    /// Where signals come from.
    pub(crate) signals: SignalSource,
    /// The seed of the random generators: `None` draws one from the OS at the first draw.
    pub(crate) random_seed: Option<u64>,
    /// The time slice (plain runs) and the stall threshold the watchdog keeps.
    pub(crate) watch: WatchSettings,
    /// Whether a stall the watchdog reports is a failure of the execution.
    pub(crate) fail_on_stall: bool,
    /// How long every thread may wait for I/O before the execution is a deadlock (`None`:
    /// for ever, as a plain run's server waits for its clients); see `io/`, rule 5.
    pub(crate) io_patience: Option<std::time::Duration>,
    /// The seed of the draws that time I/O under exploration (`io/`, rule 6); `None`
    /// delivers the end of each wait at the first decision after the driver saw it.
    pub(crate) io_timing: Option<u64>,
}

/// The state of one execution. Reached through the kernel thread's `CURRENT` pointer.
pub(crate) struct Execution {
    pub(crate) threads: Vec<ThreadSlot>,
    pub(crate) current: usize,
    next: usize,
    pub(crate) step: u64,
    /// Per thread: the step it is paused at (what a decision shows of it).
    pending: Vec<PendingStep>,
    decider: Decider,
    /// The decider's `keeps_running_thread`, read once.
    keeps_running: bool,
    /// Whether the execution's clock fires timers (not a replay, whose trace does).
    fires_own_timers: bool,
    runnable: RunnableSet,
    pub(crate) objects: Vec<ObjectState>,
    /// Objects this execution uses whose cell another execution, running at the same time
    /// on another kernel thread, holds: by the primitive's serial number.
    shared_objects: Vec<(u64, ObjectId)>,
    /// See `Buffers::spare_objects`.
    spare_objects: Vec<ObjectState>,
    /// See `Buffers::spare_coroutines`.
    spare_coroutines: Vec<threads::CoroutineBox>,
    pub(crate) generation: u64,
    timers: BTreeSet<(u64, usize)>,
    pub(crate) clock: Clock,
    /// The seed of the random generators, once the first draw asked for it (`inputs`).
    random_seed: Option<u64>,
    /// Each green thread's random generator, by thread index, once it drew.
    generators: Vec<Option<rand_pcg::Pcg64>>,
    config: ExecutionConfig,
    pub(crate) failure: Option<Failure>,
    main_finished: bool,
    spin: SpinDetector,
    /// The green threads known to be unwinding (rule 6). Rust counts panics per kernel
    /// thread, so while one green thread is blocked mid-unwind the others see
    /// `thread::panicking()`; these marks say whose unwind it is.
    unwinding: Vec<usize>,
    /// Whether a green thread is running (the driver is inside `resume`).
    in_green_thread: bool,
    /// The last steps, for reports (when a step bound may need explaining).
    recent: RecentSteps,
    /// Told of every step, spawn, object, input and the end.
    observers: Vec<Box<dyn Observer>>,
    /// The earliest step at which an observer wants the whole execution; `u64::MAX` for
    /// none (the one comparison per step an observer's attention costs).
    attention: u64,
    /// The execution stopped before the program's end without a failure (a replay left its
    /// trace, or reached its end).
    halt: Option<Halt>,
    /// A failure or a halt: the story is over, observers hear of nothing but the end
    /// (rule 7). One flag for the step's hot path.
    quiet: bool,
    /// A replay diverged at a Once (whose completion may come from an earlier execution).
    diverged_at_once: bool,
    /// A Once's initialiser completed in this execution (`sync::once`).
    pub(crate) completed_once: bool,
    /// Remarks the observers leave for each other at the end (a replay's moved locations,
    /// for the debugger).
    pub(crate) end_notes: Vec<String>,
    /// Subscriptions to signals and where arrivals come from.
    signals: signals::SignalState,
    /// The I/O driver and who waits for what.
    io: io::IoState,
    /// This kernel thread's watchdog, when it watches this execution.
    watchdog: Option<std::sync::Arc<super::watchdog::Shared>>,
    /// Whether the running thread is preempted when its time slice runs out.
    slicing: bool,
    /// Watchdog ticks since the running thread was resumed.
    slice_ticks: u32,
    /// Whether threads have different priorities (strict priority, no fast path).
    priorities_differ: bool,
    /// The current thread's last operation failed without waiting (a `try_recv` on an
    /// empty channel, a `try_lock` on a held lock): its next decision counts as a yield for
    /// a strategy, as a retry loop waits for another thread (see [`spin_hint`]).
    spun: bool,
}

thread_local! {
    static CURRENT: Cell<*const RefCell<Execution>> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the execution of this kernel thread.
///
/// Panics with a clear message outside a runtime. `f` must not suspend (protocol rule 4).
#[track_caller]
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&mut Execution) -> R) -> R {
    let pointer = CURRENT.with(Cell::get);
    if pointer.is_null() {
        outside_runtime();
    }
    // SAFETY: CURRENT is set by `run_execution` to an execution that lives on its stack
    // frame for as long as the pointer is set, and cleared before that frame ends.
    let cell = unsafe { &*pointer };
    let mut execution = cell.borrow_mut();
    f(&mut execution)
}

#[cold]
#[inline(never)]
#[track_caller]
fn outside_runtime() -> ! {
    panic!(
        "reel: this operation must run inside a reel runtime (reel::run, reel::check_random, \
         reel::check_pct or reel::Checker), on the kernel thread that started it"
    )
}

/// Like [`with`], but `None` outside a runtime or while the execution is borrowed.
pub(crate) fn try_with<R>(f: impl FnOnce(&mut Execution) -> R) -> Option<R> {
    let pointer = CURRENT.with(Cell::get);
    if pointer.is_null() {
        return None;
    }
    // SAFETY: as in `with`.
    let cell = unsafe { &*pointer };
    let mut execution = cell.try_borrow_mut().ok()?;
    Some(f(&mut execution))
}

/// Whether this kernel thread is running a reel execution.
pub(crate) fn in_runtime() -> bool {
    !CURRENT.with(Cell::get).is_null()
}

impl Execution {
    /// The step number reached.
    pub(crate) fn step(&self) -> u64 {
        self.step
    }

    /// The first failure, if the execution failed.
    pub(crate) fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Why the execution stopped before the program's end, if it did without failing.
    pub(crate) fn halt(&self) -> Option<&Halt> {
        self.halt.as_ref()
    }

    /// The stack size a thread gets when its Builder sets none.
    pub(crate) fn default_stack_bytes(&self) -> usize {
        self.config.stack_bytes
    }

    /// Calls `f` with each observer and the execution itself (observers are taken out for
    /// the call, so that they may look at the whole execution). Off the hot path.
    ///
    /// An observer that panics (the debug agent, say) leaves the others in place: they are
    /// put back as the panic unwinds.
    #[cold]
    fn with_observers(&mut self, mut f: impl FnMut(&mut dyn Observer, &mut Execution)) {
        /// Puts the observers back, however the calls end.
        struct PutBack<'a> {
            execution: &'a mut Execution,
            observers: Vec<Box<dyn Observer>>,
        }
        impl Drop for PutBack<'_> {
            fn drop(&mut self) {
                debug_assert!(
                    self.execution.observers.is_empty(),
                    "observers are not added mid-run"
                );
                self.execution.observers = std::mem::take(&mut self.observers);
                self.execution.attention = self
                    .execution
                    .observers
                    .iter()
                    .map(|observer| observer.attention())
                    .min()
                    .unwrap_or(u64::MAX);
            }
        }
        let observers = std::mem::take(&mut self.observers);
        let mut guard = PutBack {
            execution: self,
            observers,
        };
        let PutBack {
            execution,
            observers,
        } = &mut guard;
        for observer in observers.iter_mut() {
            f(observer.as_mut(), execution);
        }
    }
}
