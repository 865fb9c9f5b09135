//! One execution: the green threads, the objects they share, the clock, and the scheduling
//! protocol that every operation goes through.
//!
//! # Protocol
//! 1. Exactly one green thread runs at a time. The main loop (`run_execution`, on the kernel
//!    thread's own stack) resumes the thread in `next`; the thread runs until it suspends
//!    back to the loop or returns.
//! 2. Every operation through which threads can affect each other begins with
//!    [`schedule_point`]: one step. The scheduler picks the next thread among the runnable
//!    ones; when it picks another, the current thread suspends.
//! 3. A thread that must wait marks itself blocked on a [`Blocker`] with [`block_at`] (or
//!    [`Execution::begin_block`] and [`wait`]), which is also a step. Whoever makes the awaited thing possible wakes it; the woken
//!    thread re-checks its condition (wake-ups are hints, never hand-offs).
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

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::clock::Clock;
use super::failure::{BlockedThread, Failure, FailureKind, Location, StepRecord, ThreadInfo};
use super::live::{self, LiveExecution};
use super::overflow::{self, RunningStack};
use super::stack::{self, GreenStack};
use crate::recording::replayer::{Next, Stop};
use crate::recording::{self, TraceMode};
use crate::scheduler::{Decision, RunnableSet, Scheduler};
use crate::thread::ThreadId;

/// A green thread's coroutine. It is resumed with how it was woken (read by `block_at`).
pub(crate) type GreenCoroutine = Coroutine<Wake, (), (), GreenStack>;

/// Where a thread's coroutine lives: boxed, so that it does not move while it runs (the main
/// loop resumes it through a pointer while `threads` may grow). Empty once the thread
/// finished or was abandoned; the box itself is kept for the next thread (`Buffers`), so
/// that spawning does not allocate it every time.
type CoroutineBox = Box<Option<GreenCoroutine>>;

/// Default usable stack size of a green thread.
pub(crate) const DEFAULT_STACK_BYTES: usize = 256 * 1024;

/// One remembered step: thread, operation, location.
#[derive(Clone, Copy)]
struct RecentStep {
    step: u64,
    thread: usize,
    op: Op,
    object: Option<usize>,
    /// For `Op::Block`: what the thread blocked on.
    blocker: Option<Blocker>,
    location: &'static std::panic::Location<'static>,
}

/// How many of the recent steps a failure report lists.
const LAST_STEPS_REPORTED: usize = 12;

/// How many recent steps are kept to name the spinning thread when the step bound is hit.
const RECENT_STEPS: usize = 256;

/// The kind of operation a scheduling step performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Spawn,
    Join,
    Exit,
    Yield,
    Sleep,
    Park,
    Unpark,
    Lock,
    Unlock,
    Read,
    Write,
    ReadUnlock,
    WriteUnlock,
    Wait,
    Notify,
    BarrierWait,
    OnceCall,
    Send,
    Recv,
    AtomicLoad,
    AtomicStore,
    AtomicUpdate,
    Fence,
    Block,
}

impl Op {
    /// How a report names the operation.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Op::Spawn => "spawn",
            Op::Join => "join",
            Op::Exit => "exit",
            Op::Yield => "yield",
            Op::Sleep => "sleep",
            Op::Park => "park",
            Op::Unpark => "unpark",
            Op::Lock => "lock",
            Op::Unlock => "unlock",
            Op::Read => "read-lock",
            Op::Write => "write-lock",
            Op::ReadUnlock => "read-unlock",
            Op::WriteUnlock => "write-unlock",
            Op::Wait => "condvar wait",
            Op::Notify => "condvar notify",
            Op::BarrierWait => "barrier wait",
            Op::OnceCall => "once call",
            Op::Send => "send",
            Op::Recv => "receive",
            Op::AtomicLoad => "atomic load",
            Op::AtomicStore => "atomic store",
            Op::AtomicUpdate => "atomic read-modify-write",
            Op::Fence => "fence",
            Op::Block => "block",
        }
    }
}

/// The kind of a shared object, for naming it in reports ("Mutex#3").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjectKind {
    Mutex,
    RwLock,
    Condvar,
    Barrier,
    Once,
    Channel,
    Atomic,
}

impl ObjectKind {
    fn name(self) -> &'static str {
        // One spelling for reports and traces.
        recording::wire_object(self).name()
    }
}

/// What a blocked thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocker {
    /// Lock a mutex.
    Lock(usize),
    /// Read-lock an RwLock.
    Read(usize),
    /// Write-lock an RwLock.
    Write(usize),
    /// A condvar notification.
    Condvar(usize),
    /// The end of a thread.
    Join(usize),
    /// A message on a channel.
    Recv(usize),
    /// Room (or a receiver) on a channel.
    Send(usize),
    /// The rest of a barrier's threads.
    Barrier(usize),
    /// Another thread running a Once's initialiser.
    Once(usize),
    /// An unpark.
    Park,
    /// The end of a sleep.
    Sleep,
}

impl Blocker {
    /// Whether a thread blocked on this waits for definite other threads (a lock's holders,
    /// a joined thread), so that it can be part of a wait-for cycle.
    fn has_wait_edges(self) -> bool {
        matches!(
            self,
            Blocker::Lock(_)
                | Blocker::Read(_)
                | Blocker::Write(_)
                | Blocker::Once(_)
                | Blocker::Join(_)
        )
    }

    /// The object whose waiter queue holds a thread blocked on this, if any.
    fn object(self) -> Option<usize> {
        match self {
            Blocker::Lock(object)
            | Blocker::Read(object)
            | Blocker::Write(object)
            | Blocker::Condvar(object)
            | Blocker::Recv(object)
            | Blocker::Send(object)
            | Blocker::Barrier(object)
            | Blocker::Once(object) => Some(object),
            Blocker::Join(_) | Blocker::Park | Blocker::Sleep => None,
        }
    }
}

/// How a blocked thread was woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Someone made its condition possible (or it is worth re-checking).
    Notified,
    /// Its deadline passed first.
    TimedOut,
    /// Not a wake-up: the debug agent switched in to take the thread's backtrace on its own
    /// stack. `suspend` answers it and suspends again; no caller ever sees it.
    Introspect,
}

#[derive(Debug)]
pub(crate) enum ThreadState {
    Runnable,
    Blocked {
        on: Blocker,
        location: &'static std::panic::Location<'static>,
        deadline: Option<u64>,
    },
    Finished,
}

/// Per-thread bookkeeping of the execution.
pub(crate) struct ThreadSlot {
    pub(crate) coroutine: CoroutineBox,
    yielder: *const Yielder<Wake, ()>,
    pub(crate) state: ThreadState,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) park_token: bool,
    woken_by: Wake,
    /// What the overflow handler is told while this thread runs.
    pub(crate) running_stack: RunningStack,
    /// Threads waiting to join this one.
    joiners: Vec<usize>,
    /// Where the thread is now: the location of its latest step.
    pub(crate) location: Option<&'static std::panic::Location<'static>>,
    /// Where it was spawned (its exit is reported here if it took no step).
    pub(crate) spawned_at: &'static std::panic::Location<'static>,
    /// The panic its hook saw last, until its entry (or a report) takes it.
    last_panic: Option<PanicRecord>,
    /// Its thread-local values, by key id (`thread::LocalKey`).
    locals: Vec<LocalSlot>,
}

/// Where a thread-local value now lives, and the value it replaced (to drop after the borrow).
pub(crate) type StoredLocal = (*const dyn Any, Option<Box<dyn Any>>);

/// One thread-local key's value in one thread.
enum LocalSlot {
    Empty,
    Value(Box<dyn Any>),
    /// Dropped at the thread's exit; further access is an `AccessError`, as in std.
    Destroyed,
}

/// Per-object bookkeeping of the execution; fields are used as the kind needs.
#[derive(Debug)]
pub(crate) struct ObjectState {
    pub(crate) kind: ObjectKind,
    /// Blocked threads in arrival order.
    pub(crate) waiters: VecDeque<usize>,
    /// Mutex holder, RwLock writer, or the thread running a Once.
    pub(crate) owner: Option<usize>,
    /// Where `owner` acquired it.
    pub(crate) owner_location: Option<&'static std::panic::Location<'static>>,
    /// RwLock readers (a thread appears once per read guard it holds).
    pub(crate) readers: Vec<usize>,
    /// Mutex/RwLock poisoned by a panic; Once whose initialiser panicked.
    pub(crate) poisoned: bool,
    /// Barrier: threads arrived in this round.
    pub(crate) count: usize,
    /// Barrier: rounds completed.
    pub(crate) round: u64,
}

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
    /// A replay under the debugger: the debug agent is consulted at its steps.
    pub(crate) debugged: bool,
}

/// The panic that a thread's hook saw, kept until the thread's entry catches it.
struct PanicRecord {
    message: String,
    location: Option<Location>,
}

/// Counts consecutive steps with the same (thread, object, location).
#[derive(Default)]
struct SpinDetector {
    last: Option<(usize, Option<usize>, &'static std::panic::Location<'static>)>,
    repeats: u64,
}

impl SpinDetector {
    /// Notes one step; returns how many times in a row it has been seen.
    fn observe(
        &mut self,
        key: (usize, Option<usize>, &'static std::panic::Location<'static>),
    ) -> u64 {
        if self.last == Some(key) {
            self.repeats += 1;
        } else {
            self.last = Some(key);
            self.repeats = 1;
        }
        self.repeats
    }
}

/// The state of one execution. Reached through the kernel thread's `CURRENT` pointer.
pub(crate) struct Execution {
    pub(crate) threads: Vec<ThreadSlot>,
    pub(crate) current: usize,
    next: usize,
    pub(crate) step: u64,
    scheduler: Box<dyn Scheduler>,
    /// The scheduler's `keeps_running_thread`, read once.
    scheduler_keeps_running: bool,
    runnable: RunnableSet,
    pub(crate) objects: Vec<ObjectState>,
    /// See `Buffers::spare_objects`.
    spare_objects: Vec<ObjectState>,
    /// See `Buffers::spare_coroutines`.
    spare_coroutines: Vec<CoroutineBox>,
    pub(crate) generation: u64,
    timers: BTreeSet<(u64, usize)>,
    pub(crate) clock: Clock,
    config: ExecutionConfig,
    pub(crate) failure: Option<Failure>,
    main_finished: bool,
    spin: SpinDetector,
    /// The green threads known to be unwinding (rule 6). Rust counts panics per kernel
    /// thread, so while one green thread is blocked mid-unwind the others see
    /// `thread::panicking()`; these marks say whose unwind it is.
    unwinding: Vec<usize>,
    /// Whether a green thread is running (the main loop is inside `resume`).
    in_green_thread: bool,
    /// The last RECENT_STEPS steps, as a ring indexed by step number (exploration only).
    recent: Vec<RecentStep>,
    /// Recording or replaying the trace.
    pub(crate) trace: TraceMode,
    /// A replay left its trace (or reached its end): the execution stops, like a failure,
    /// but the program did not fail.
    stopped: bool,
    /// A replay diverged at a Once (whose completion may come from an earlier execution).
    diverged_at_once: bool,
    /// A Once's initialiser completed in this execution (`sync::once`).
    pub(crate) completed_once: bool,
    /// The next step at which a replay's debug agent wants to look (to pause, checkpoint or
    /// poll its channel); `u64::MAX` when there is no debugger.
    pub(crate) debug_attention: u64,
}

thread_local! {
    static CURRENT: Cell<*const RefCell<Execution>> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the execution of this kernel thread.
///
/// Panics with a clear message outside a runtime. `f` must not suspend (protocol rule 4).
#[track_caller]
pub(crate) fn with<R>(f: impl FnOnce(&mut Execution) -> R) -> R {
    let pointer = CURRENT.with(Cell::get);
    assert!(
        !pointer.is_null(),
        "reel: this operation must run inside a reel runtime (reel::run, reel::check_random, \
         reel::check_pct or reel::Checker), on the kernel thread that started it"
    );
    // SAFETY: CURRENT is set by `run_execution` to an execution that lives on its stack
    // frame for as long as the pointer is set, and cleared before that frame ends.
    let cell = unsafe { &*pointer };
    let mut execution = cell.borrow_mut();
    f(&mut execution)
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

/// What a step decided.
enum Action {
    Continue,
    Switch(*const Yielder<Wake, ()>),
}

/// Suspends the current green thread back to the main loop.
fn suspend(yielder: *const Yielder<Wake, ()>) -> Wake {
    loop {
        // SAFETY: `yielder` was stored by the thread's own entry closure and stays valid while
        // the coroutine lives; we are running on that coroutine (only the current thread
        // suspends).
        let wake = unsafe { (*yielder).suspend(()) };
        if wake != Wake::Introspect {
            return wake;
        }
        // The debug agent resumed this suspended thread to see its stack (it holds the
        // execution's borrow; nothing here touches the execution).
        crate::debug::capture_suspended();
    }
}

/// A scheduling point: one step of `op` on `object` at the caller's location.
#[track_caller]
pub(crate) fn schedule_point(op: Op, object: Option<usize>) {
    schedule_point_at(op, object, false, std::panic::Location::caller());
}

/// A scheduling point where the current thread offers to let others run.
#[track_caller]
pub(crate) fn yield_point(op: Op) {
    schedule_point_at(op, None, true, std::panic::Location::caller());
}

pub(crate) fn schedule_point_at(
    op: Op,
    object: Option<usize>,
    yielding: bool,
    location: &'static std::panic::Location<'static>,
) {
    let action = with(|execution| execution.step(op, object, yielding, location));
    if let Action::Switch(yielder) = action {
        suspend(yielder);
    }
}

/// A scheduling point on the object behind `cell` (registered on first use); returns the
/// object's index. One borrow of the execution for both, as this is the hottest path.
pub(crate) fn object_point(
    cell: &ObjectCell,
    kind: ObjectKind,
    op: Op,
    location: &'static std::panic::Location<'static>,
) -> usize {
    let (object, action) = with(|execution| {
        let object = cell.id(execution, kind);
        (object, execution.step(op, Some(object), false, location))
    });
    if let Action::Switch(yielder) = action {
        suspend(yielder);
    }
    object
}

/// Runs `update` on the execution and the object behind `cell`, then takes a scheduling
/// step on that object, all in one borrow: for operations whose effect comes before their
/// step (an unlock releases, then lets others run).
pub(crate) fn update_then_point<R>(
    cell: &ObjectCell,
    kind: ObjectKind,
    op: Op,
    location: &'static std::panic::Location<'static>,
    update: impl FnOnce(&mut Execution, usize) -> R,
) -> R {
    let (result, action) = with(|execution| {
        let object = cell.id(execution, kind);
        let result = update(execution, object);
        (result, execution.step(op, Some(object), false, location))
    });
    if let Action::Switch(yielder) = action {
        suspend(yielder);
    }
    result
}

/// Records `failure` and ends the current thread's part in the execution: it suspends to the
/// main loop, which ends the execution and never resumes the thread.
pub(crate) fn fail_current(failure: Failure) -> ! {
    let yielder = with(|execution| {
        execution.fail(failure);
        execution.threads[execution.current].yielder
    });
    suspend(yielder);
    // A failed execution's threads are abandoned, never resumed (rule 5).
    unreachable!("reel: a failed execution was resumed")
}

/// Blocks the current thread on `on` until woken or until `deadline` (clock nanoseconds),
/// blaming `location`. Returns how it was woken; the caller re-checks its condition.
pub(crate) fn block_at(
    on: Blocker,
    deadline: Option<u64>,
    location: &'static std::panic::Location<'static>,
) -> Wake {
    let blocking = with(|execution| execution.begin_block(on, deadline, location));
    wait(blocking)
}

/// A block begun with [`Execution::begin_block`], to be completed with [`wait`] once the
/// execution is no longer borrowed.
#[must_use = "a begun block must be waited for"]
pub(crate) struct Blocking(Action);

/// Completes a block: suspends until woken and says how.
pub(crate) fn wait(blocking: Blocking) -> Wake {
    match blocking.0 {
        Action::Switch(yielder) => suspend(yielder),
        // Only its own timer could wake the thread at once (every other thread was blocked).
        Action::Continue => with(|execution| execution.threads[execution.current].woken_by),
    }
}

impl Execution {
    pub(crate) fn thread_info(&self, index: usize) -> ThreadInfo {
        ThreadInfo {
            id: ThreadId::from_index(index),
            name: self.threads[index].name.as_deref().map(str::to_owned),
        }
    }

    pub(crate) fn object_name(&self, object: usize) -> String {
        format!("{}#{}", self.objects[object].kind.name(), object)
    }

    /// Registers a new object of this execution and returns its index.
    #[cold]
    #[inline(never)]
    pub(crate) fn register_object(&mut self, kind: ObjectKind) -> usize {
        // Reuse the queues of an earlier execution's object: no allocation per execution.
        let (waiters, readers) = match self.spare_objects.pop() {
            Some(spare) => (spare.waiters, spare.readers),
            None => (VecDeque::new(), Vec::new()),
        };
        debug_assert!(waiters.is_empty() && readers.is_empty());
        match &mut self.trace {
            TraceMode::Off => {}
            // After a failure the run's story is over (see `begin_step`).
            _ if self.failure.is_some() => {}
            TraceMode::Record(recorder) => recorder.object(recording::wire_object(kind)),
            TraceMode::Replay(replayer) => {
                if let Err(expected) = replayer.object(recording::wire_object(kind)) {
                    let mut actual = format!(
                        "{} uses a new {} (which would be {}#{})",
                        self.short_thread(self.current),
                        kind.name(),
                        kind.name(),
                        self.objects.len()
                    );
                    if kind == ObjectKind::Once {
                        actual.push_str(ONCE_HINT);
                        self.diverged_at_once = true;
                    }
                    self.diverge(expected, actual);
                }
            }
        }
        self.objects.push(ObjectState {
            kind,
            waiters,
            owner: None,
            owner_location: None,
            readers,
            poisoned: false,
            count: 0,
            round: 0,
        });
        self.objects.len() - 1
    }

    /// Records a failure; the first one wins.
    pub(crate) fn fail(&mut self, mut failure: Failure) {
        if self.failure.is_none() {
            failure.last_steps = self.last_steps();
            self.failure = Some(failure);
        }
    }

    /// The recent steps in order, oldest first, at most `LAST_STEPS_REPORTED`.
    fn last_steps(&self) -> Vec<StepRecord> {
        let mut recent: Vec<RecentStep> = self.recent.clone();
        recent.sort_by_key(|entry| entry.step);
        let skip = recent.len().saturating_sub(LAST_STEPS_REPORTED);
        recent[skip..]
            .iter()
            .map(|entry| StepRecord {
                step: entry.step,
                thread: self.thread_info(entry.thread),
                operation: match (entry.blocker, entry.object) {
                    (Some(blocker), _) => format!("blocks: {}", self.describe_blocker(blocker)),
                    (None, Some(object)) => {
                        format!("{} {}", entry.op.describe(), self.object_name(object))
                    }
                    (None, None) => entry.op.describe().to_owned(),
                },
                location: Location::from_std(entry.location),
            })
            .collect()
    }

    /// A failure attributed to the current thread at `location`.
    pub(crate) fn failure_here(
        &self,
        kind: FailureKind,
        message: String,
        location: &std::panic::Location<'_>,
    ) -> Failure {
        Failure {
            kind,
            step: self.step,
            thread: Some(self.thread_info(self.current)),
            location: Some(Location::from_std(location)),
            message,
            cycle: Vec::new(),
            blocked: Vec::new(),
            last_steps: Vec::new(),
        }
    }

    fn step(
        &mut self,
        op: Op,
        object: Option<usize>,
        yielding: bool,
        location: &'static std::panic::Location<'static>,
    ) -> Action {
        self.begin_step(op, object, None, location);
        let current = self.current;
        if self.stopped {
            return Action::Switch(self.threads[current].yielder);
        }
        if let Some(spin_limit) = self.config.spin_limit
            && op == Op::AtomicLoad
            && self.spin.observe((current, object, location)) >= spin_limit
            && self.runnable.len() > 1
        {
            self.fail_spin(spin_limit, object, location);
            return Action::Switch(self.threads[current].yielder);
        }
        if let Some(max_steps) = self.config.max_steps
            && self.step > max_steps
        {
            self.fail_step_bound(max_steps);
            return Action::Switch(self.threads[current].yielder);
        }
        if self.note_unwinding() {
            return Action::Continue; // Rule 6.
        }
        self.decide(yielding)
    }

    /// The bookkeeping every step shares: count it, let virtual time pass, remember where
    /// the thread is and (when a step bound may need explaining) what it did.
    #[inline(always)]
    fn begin_step(
        &mut self,
        op: Op,
        object: Option<usize>,
        blocker: Option<Blocker>,
        location: &'static std::panic::Location<'static>,
    ) {
        self.step += 1;
        self.clock.tick();
        let thread = self.current;
        self.threads[thread].location = Some(location);
        match &mut self.trace {
            TraceMode::Off => {}
            // Steps after a failure (a panicking main's exit) are not part of the run's story.
            _ if self.failure.is_some() => {}
            TraceMode::Record(recorder) => {
                let (op, object) = recording::wire_op(op, object, blocker);
                recorder.step(thread, op, object, location);
            }
            TraceMode::Replay(_) => {
                self.replay_step(op, object, blocker, location);
                // A step that left the trace is not paused at: the end of the replay says
                // where it diverged.
                if self.step >= self.debug_attention && !self.stopped {
                    crate::debug::at_step(self);
                }
            }
        }
        if self.config.max_steps.is_some() {
            let entry = RecentStep {
                step: self.step,
                thread,
                op,
                object,
                blocker,
                location,
            };
            if self.recent.len() < RECENT_STEPS {
                self.recent.push(entry);
            } else {
                // Steps are recorded one after another, so step n lives at (n - 1) % N.
                self.recent[((self.step - 1) % RECENT_STEPS as u64) as usize] = entry;
            }
        }
    }

    /// Blocks the current thread on `on` (a step), inside a borrow of the execution, so that
    /// a primitive can check its condition, queue itself and block in one borrow. Complete
    /// it with [`wait`] after the borrow ends.
    pub(crate) fn begin_block(
        &mut self,
        on: Blocker,
        deadline: Option<u64>,
        location: &'static std::panic::Location<'static>,
    ) -> Blocking {
        Blocking(self.block_current(on, deadline, location))
    }

    fn block_current(
        &mut self,
        on: Blocker,
        deadline: Option<u64>,
        location: &'static std::panic::Location<'static>,
    ) -> Action {
        let current = self.current;
        self.begin_step(Op::Block, on.object(), Some(on), location);
        if self.stopped {
            return Action::Switch(self.threads[current].yielder);
        }
        if self.note_unwinding() && !self.unwinding.contains(&current) {
            self.unwinding.push(current); // Its unwind goes on after others have run.
        }
        self.threads[current].state = ThreadState::Blocked {
            on,
            location,
            deadline,
        };
        self.threads[current].woken_by = Wake::Notified;
        self.runnable.remove(current);
        if let Some(deadline) = deadline {
            self.timers.insert((deadline, current));
        } else if on.has_wait_edges()
            && let Some(cycle) = self.find_cycle(current)
        {
            let kind = if self.runnable.is_empty() && self.timers.is_empty() {
                FailureKind::Deadlock
            } else {
                FailureKind::PartialDeadlock
            };
            self.fail_deadlock(kind, cycle);
            return Action::Switch(self.threads[current].yielder);
        }
        self.decide(false)
    }

    /// Picks the next thread; switches away from the current one if it is not picked.
    #[inline]
    fn decide(&mut self, yielding: bool) -> Action {
        if self.scheduler_keeps_running
            && !yielding
            && self.timers.is_empty()
            && self.runnable.contains(ThreadId::from_index(self.current))
        {
            return Action::Continue; // What the scheduler would answer; see the trait.
        }
        self.consult_scheduler(yielding)
    }

    /// The general case of [`Execution::decide`].
    #[inline(never)]
    fn consult_scheduler(&mut self, yielding: bool) -> Action {
        let current = self.current;
        if let TraceMode::Replay(_) = self.trace {
            if self.failure.is_some() {
                // The recorded run ended here too: nothing more is read from the trace.
                return Action::Switch(self.threads[current].yielder);
            }
            return self.replay_decide();
        }
        if (!self.timers.is_empty() || self.runnable.is_empty()) && !self.settle_timers() {
            self.fail_deadlock(FailureKind::Deadlock, Vec::new());
            return Action::Switch(self.threads[current].yielder);
        }
        let current_id = ThreadId::from_index(current);
        let decision = Decision {
            stepping: current_id,
            runnable: &self.runnable,
            current: self.runnable.contains(current_id).then_some(current_id),
            yielding,
            step: self.step,
        };
        let next = self.scheduler.next_thread(&decision).index();
        assert!(
            self.runnable.contains(ThreadId::from_index(next)),
            "the scheduler picked a thread that cannot run"
        );
        if next == current {
            Action::Continue
        } else {
            self.next = next;
            Action::Switch(self.threads[current].yielder)
        }
    }

    /// Fires the timer of `thread`, advancing a virtual clock to its deadline.
    fn fire_timer_of(&mut self, thread: usize) {
        if let ThreadState::Blocked {
            deadline: Some(deadline),
            ..
        } = self.threads[thread].state
        {
            self.clock.advance_to(deadline);
            self.timers.remove(&(deadline, thread));
            // While the state still says what it waited on: leave that object's queue, or a
            // later notify_one would be spent on a thread that no longer waits.
            self.remove_waiter_everywhere(thread);
            self.threads[thread].state = ThreadState::Runnable;
            self.threads[thread].woken_by = Wake::TimedOut;
            self.runnable.insert(thread);
            if let TraceMode::Record(recorder) = &mut self.trace
                && self.failure.is_none()
            {
                recorder.timeout(thread);
            }
        }
    }

    /// Fires the timers that are due, and lets time pass when nothing can run; false when
    /// nothing can run and no timer is pending (a deadlock).
    #[cold]
    #[inline(never)]
    fn settle_timers(&mut self) -> bool {
        self.fire_expired_timers();
        !self.runnable.is_empty() || self.wait_for_timer()
    }

    /// Fires every timer whose deadline has passed.
    fn fire_expired_timers(&mut self) {
        if self.timers.is_empty() {
            return;
        }
        let now = self.clock.now_nanos();
        while let Some(&(deadline, thread)) = self.timers.first() {
            if deadline > now {
                break;
            }
            self.fire_timer_of(thread);
        }
    }

    /// Nothing can run: lets time pass to the earliest deadline, if there is one.
    fn wait_for_timer(&mut self) -> bool {
        let Some(&(deadline, thread)) = self.timers.first() else {
            return false;
        };
        self.clock.sleep_until(deadline);
        self.fire_timer_of(thread);
        self.fire_expired_timers();
        true
    }

    /// Takes a timed-out thread out of the waiter queue of the object it waited on.
    fn remove_waiter_everywhere(&mut self, thread: usize) {
        let ThreadState::Blocked { on, .. } = self.threads[thread].state else {
            return;
        };
        if let Some(object) = on.object() {
            let waiters = &mut self.objects[object].waiters;
            if let Some(position) = waiters.iter().position(|&waiter| waiter == thread) {
                waiters.remove(position);
            }
        }
    }

    /// Makes a blocked thread runnable again.
    pub(crate) fn wake(&mut self, thread: usize) {
        if let ThreadState::Blocked { deadline, .. } = self.threads[thread].state {
            if let Some(deadline) = deadline {
                self.timers.remove(&(deadline, thread));
            }
            self.threads[thread].state = ThreadState::Runnable;
            self.threads[thread].woken_by = Wake::Notified;
            self.runnable.insert(thread);
        }
    }

    /// Wakes every thread queued on `object`.
    pub(crate) fn wake_all_waiters(&mut self, object: usize) {
        while let Some(waiter) = self.objects[object].waiters.pop_front() {
            self.wake(waiter);
        }
    }

    /// Wakes the first thread queued on `object`; returns whether there was one.
    pub(crate) fn wake_one_waiter(&mut self, object: usize) -> bool {
        match self.objects[object].waiters.pop_front() {
            Some(waiter) => {
                self.wake(waiter);
                true
            }
            None => false,
        }
    }

    /// Whether a thread queued on `object` is blocked on `blocker`.
    pub(crate) fn has_waiter_on(&self, object: usize, blocker: Blocker) -> bool {
        self.objects[object].waiters.iter().any(|&waiter| {
            matches!(self.threads[waiter].state, ThreadState::Blocked { on, .. } if on == blocker)
        })
    }

    /// Queues the current thread on `object` (call before `block`).
    pub(crate) fn enqueue_current(&mut self, object: usize) {
        let current = self.current;
        self.objects[object].waiters.push_back(current);
    }

    /// The `k`th thread a blocked thread definitely waits for (its wait-for edges). Threads
    /// in a timed wait, on a condvar, a channel or a park have no definite edge: someone
    /// else may still wake them.
    fn wait_edge(&self, thread: usize, k: usize) -> Option<usize> {
        let ThreadState::Blocked {
            on, deadline: None, ..
        } = self.threads[thread].state
        else {
            return None;
        };
        match on {
            Blocker::Lock(object) | Blocker::Once(object) => {
                if k == 0 {
                    self.objects[object].owner
                } else {
                    None
                }
            }
            Blocker::Read(object) => {
                // A reader waits for the writer holding the lock and for waiting writers,
                // which go first.
                let state = &self.objects[object];
                let waiting_writers = state.waiters.iter().copied().filter(|&waiter| {
                    matches!(
                        self.threads[waiter].state,
                        ThreadState::Blocked { on: Blocker::Write(on), .. } if on == object
                    )
                });
                state.owner.into_iter().chain(waiting_writers).nth(k)
            }
            Blocker::Write(object) => {
                let state = &self.objects[object];
                match (state.owner, k) {
                    (Some(owner), 0) => Some(owner),
                    (Some(_), k) => state.readers.get(k - 1).copied(),
                    (None, k) => state.readers.get(k).copied(),
                }
            }
            Blocker::Join(target) => (k == 0).then_some(target),
            Blocker::Condvar(_)
            | Blocker::Recv(_)
            | Blocker::Send(_)
            | Blocker::Barrier(_)
            | Blocker::Park
            | Blocker::Sleep => None,
        }
    }

    /// Whether `thread` waits without a timeout on something only another thread can give.
    fn stuck(&self, thread: usize) -> bool {
        self.wait_edge(thread, 0).is_some()
    }

    /// A wait-for cycle through `start`, as the list of threads in order, if there is one.
    /// Runs at every block, so the common case (the thread waited for can run) allocates
    /// nothing.
    pub(crate) fn find_cycle(&self, start: usize) -> Option<Vec<usize>> {
        let leads_on = |target: usize| target == start || self.stuck(target);
        if !(0..).map_while(|k| self.wait_edge(start, k)).any(leads_on) {
            return None;
        }
        // Depth-first search: `path` holds (thread, index of its next edge to try).
        let mut path = vec![(start, 0usize)];
        let mut visited = vec![false; self.threads.len()];
        visited[start] = true;
        while let Some(&mut (thread, ref mut next_edge)) = path.last_mut() {
            match self.wait_edge(thread, *next_edge) {
                Some(target) => {
                    *next_edge += 1;
                    if target == start {
                        return Some(path.iter().map(|&(thread, _)| thread).collect());
                    }
                    if !visited[target] {
                        visited[target] = true;
                        path.push((target, 0));
                    }
                }
                None => {
                    path.pop();
                }
            }
        }
        None
    }

    /// A short description of a blocker, e.g. "lock Mutex#1" or "join T2".
    fn describe_blocker(&self, blocker: Blocker) -> String {
        match blocker {
            Blocker::Lock(object) => format!("lock {}", self.object_name(object)),
            Blocker::Read(object) => format!("read-lock {}", self.object_name(object)),
            Blocker::Write(object) => format!("write-lock {}", self.object_name(object)),
            Blocker::Condvar(object) => format!("wait on {}", self.object_name(object)),
            Blocker::Join(target) => format!("join {}", ThreadId::from_index(target)),
            Blocker::Recv(object) => format!("receive on {}", self.object_name(object)),
            Blocker::Send(object) => format!("send on {}", self.object_name(object)),
            Blocker::Barrier(object) => format!("wait at {}", self.object_name(object)),
            Blocker::Once(object) => format!("wait for {}", self.object_name(object)),
            Blocker::Park => "park".to_owned(),
            Blocker::Sleep => "sleep".to_owned(),
        }
    }

    pub(crate) fn describe_wait(&self, thread: usize) -> BlockedThread {
        let (waiting_for, location) = match self.threads[thread].state {
            ThreadState::Blocked {
                on,
                location,
                deadline,
            } => {
                let holder = |object: usize| match self.objects[object].owner {
                    Some(owner) => {
                        let mut text = format!(" held by {}", self.thread_info(owner));
                        if let Some(acquired) = self.objects[object].owner_location {
                            text.push_str(&format!(" (acquired at {acquired})"));
                        }
                        text
                    }
                    None => String::new(),
                };
                let readers = |object: usize| {
                    let readers = &self.objects[object].readers;
                    if readers.is_empty() {
                        String::new()
                    } else {
                        let names: Vec<String> = readers
                            .iter()
                            .map(|&reader| self.thread_info(reader).to_string())
                            .collect();
                        format!(" read-held by {}", names.join(", "))
                    }
                };
                let mut text = match on {
                    Blocker::Lock(object) => {
                        format!("lock {}{}", self.object_name(object), holder(object))
                    }
                    Blocker::Read(object) => {
                        let writers: Vec<String> = (0..)
                            .map_while(|k| self.wait_edge(thread, k))
                            .filter(|&waiter| Some(waiter) != self.objects[object].owner)
                            .map(|writer| self.thread_info(writer).to_string())
                            .collect();
                        let behind = if writers.is_empty() {
                            String::new()
                        } else {
                            format!(" behind waiting writer {}", writers.join(", "))
                        };
                        format!(
                            "read-lock {}{}{behind}",
                            self.object_name(object),
                            holder(object)
                        )
                    }
                    Blocker::Write(object) => format!(
                        "write-lock {}{}{}",
                        self.object_name(object),
                        holder(object),
                        readers(object)
                    ),
                    Blocker::Condvar(object) => {
                        format!("be notified on {}", self.object_name(object))
                    }
                    Blocker::Join(target) => format!("join {}", self.thread_info(target)),
                    Blocker::Recv(object) => format!("receive on {}", self.object_name(object)),
                    Blocker::Send(object) => format!("send on {}", self.object_name(object)),
                    Blocker::Barrier(object) => format!("pass {}", self.object_name(object)),
                    Blocker::Once(object) => {
                        format!(
                            "see {} complete{}",
                            self.object_name(object),
                            holder(object)
                        )
                    }
                    Blocker::Park => "be unparked".to_owned(),
                    Blocker::Sleep => "wake from sleep".to_owned(),
                };
                if deadline.is_some() && on != Blocker::Sleep {
                    text.push_str(" (with a timeout)");
                }
                (text, Some(Location::from_std(location)))
            }
            _ => ("run".to_owned(), None),
        };
        BlockedThread {
            thread: self.thread_info(thread),
            waiting_for,
            location,
        }
    }

    #[cold]
    #[inline(never)]
    fn fail_deadlock(&mut self, kind: FailureKind, mut cycle: Vec<usize>) {
        if cycle.is_empty() {
            // Global deadlock: look for a cycle anywhere to explain it.
            cycle = (0..self.threads.len())
                .filter(|&thread| matches!(self.threads[thread].state, ThreadState::Blocked { .. }))
                .find_map(|thread| self.find_cycle(thread))
                .unwrap_or_default();
        }
        let blocked: Vec<BlockedThread> = (0..self.threads.len())
            .filter(|thread| !cycle.contains(thread))
            .filter(|&thread| matches!(self.threads[thread].state, ThreadState::Blocked { .. }))
            .map(|thread| self.describe_wait(thread))
            .collect();
        let current = self.current;
        let message = match (kind, cycle.len()) {
            (FailureKind::PartialDeadlock, count) => format!(
                "{count} threads wait for each other in a cycle while other threads can still run"
            ),
            (_, 0) => "every thread is blocked and nothing can wake them".to_owned(),
            (_, count) => {
                format!("every thread is blocked; {count} of them wait for each other in a cycle")
            }
        };
        // The thread whose block completed the deadlock; none when the last runnable thread
        // just finished (the blocked threads listed explain it).
        let (thread, location) = match self.threads[current].state {
            ThreadState::Blocked { location, .. } => (
                Some(self.thread_info(current)),
                Some(Location::from_std(location)),
            ),
            _ => (None, None),
        };
        let failure = Failure {
            kind,
            step: self.step,
            thread,
            location,
            message,
            cycle: cycle
                .iter()
                .map(|&thread| self.describe_wait(thread))
                .collect(),
            blocked,
            last_steps: Vec::new(),
        };
        self.fail(failure);
    }

    #[cold]
    #[inline(never)]
    fn fail_spin(
        &mut self,
        spin_limit: u64,
        object: Option<usize>,
        location: &'static std::panic::Location<'static>,
    ) {
        let current = self.current;
        let others: Vec<String> = self
            .runnable
            .iter()
            .filter(|thread| thread.index() != current)
            .map(|thread| self.thread_info(thread.index()).to_string())
            .collect();
        let object = object
            .map(|object| self.object_name(object))
            .unwrap_or_default();
        let message = format!(
            "{} loaded {object} {spin_limit} times in a row without letting another thread \
             run, while {} could: it looks like a spin on a value only they can change. In a \
             many-to-one runtime a spinning thread is never preempted, so such a loop never \
             ends. Call reel::hint::spin_loop() or reel::thread::yield_now() in the loop, or \
             wait on a Mutex, Condvar or channel; if the loop is bounded and meant to poll \
             this often, raise or disable the limit with Runtime::spin_limit",
            self.thread_info(current),
            others.join(", ")
        );
        let failure = self.failure_here(FailureKind::StepBoundExceeded, message, location);
        self.fail(failure);
    }

    #[cold]
    #[inline(never)]
    fn fail_step_bound(&mut self, max_steps: u64) {
        // Name the (thread, operation, location) seen most often among the recent steps: the
        // spinner.
        type Key = (usize, Op, &'static std::panic::Location<'static>);
        let mut counts: Vec<(Key, usize)> = Vec::new();
        for key in self
            .recent
            .iter()
            .map(|recent| (recent.thread, recent.op, recent.location))
        {
            match counts.iter_mut().find(|(seen, _)| *seen == key) {
                Some((_, count)) => *count += 1,
                None => counts.push((key, 1)),
            }
        }
        let spinner = counts.iter().max_by_key(|(_, count)| *count).copied();
        let (thread, location, message) = match spinner {
            Some(((thread, op, location), count)) => (
                Some(thread),
                Some(location),
                format!(
                    "the execution exceeded its bound of {max_steps} steps, a likely livelock: \
                     {} spun on {} ({count} of the last {} steps); raise the bound with \
                     max_steps if the program is just long",
                    self.thread_info(thread),
                    op.describe(),
                    self.recent.len()
                ),
            ),
            None => (
                None,
                None,
                format!("the execution exceeded its bound of {max_steps} steps"),
            ),
        };
        self.fail(Failure {
            kind: FailureKind::StepBoundExceeded,
            step: self.step,
            thread: thread.map(|thread| self.thread_info(thread)),
            location: location.map(Location::from_std),
            message,
            cycle: Vec::new(),
            blocked: Vec::new(),
            last_steps: Vec::new(),
        });
    }

    /// Creates a green thread running `body`. It becomes runnable at once.
    ///
    /// # Safety
    /// `body` must stay valid until the thread finishes or is abandoned: the main closure
    /// outlives `run_execution`, scoped threads are joined or abandoned before their scope
    /// ends, and everything else is 'static.
    ///
    /// The stack is mapped by the caller, outside any borrow of the execution: if that fails,
    /// the caller drops `body`, and the body's captures may run destructors that use reel.
    pub(crate) unsafe fn spawn_thread<'a>(
        &mut self,
        name: Option<Arc<str>>,
        stack: GreenStack,
        body: impl FnOnce() + 'a,
        spawned_at: &'static std::panic::Location<'static>,
    ) -> usize {
        let index = self.threads.len();
        let parent = (index > 0).then_some(self.current);
        match &mut self.trace {
            TraceMode::Off => {}
            _ if self.failure.is_some() => {}
            TraceMode::Record(recorder) => recorder.spawn(parent, name.as_deref()),
            TraceMode::Replay(replayer) => {
                if let Err(expected) = replayer.spawn(parent) {
                    let actual = match parent {
                        Some(parent) => {
                            format!("{} spawns a new thread", self.short_thread(parent))
                        }
                        None => "the runtime starts main".to_owned(),
                    };
                    self.diverge(expected, actual);
                }
            }
        }
        let (guard_start, guard_end) = stack.guard_range();
        let usable = stack.usable_bytes();
        // The name's bytes live in the Arc, which the slot keeps until the execution ends.
        let name_bytes = name.as_deref().unwrap_or("");
        let running_stack = RunningStack {
            guard_start,
            guard_end,
            thread_index: index,
            stack_bytes: usable,
            name_ptr: name_bytes.as_ptr(),
            name_len: name_bytes.len(),
        };
        // The body moves onto the thread's own stack: no allocation per spawn.
        // SAFETY: `with_stack_unchecked` drops the 'static bound of `with_stack`: what `body`
        // borrows must stay valid until the coroutine completes or is dropped, or forever if
        // it is leaked. The caller promises that it outlives the thread (this function's
        // contract), and every thread finishes or is abandoned (rule 5) before
        // `run_execution` returns; an abandoned coroutine is reset and never resumed, so its
        // frames (this closure's captures included) are never touched again.
        let coroutine = unsafe {
            Coroutine::with_stack_unchecked(
                stack,
                move |yielder: &Yielder<Wake, ()>, _first: Wake| {
                    thread_entry(yielder, body);
                },
            )
        };
        let mut boxed = self.spare_coroutines.pop().unwrap_or_default();
        debug_assert!(boxed.is_none());
        *boxed = Some(coroutine);
        self.threads.push(ThreadSlot {
            coroutine: boxed,
            yielder: std::ptr::null(),
            state: ThreadState::Runnable,
            name,
            park_token: false,
            woken_by: Wake::Notified,
            running_stack,
            joiners: Vec::new(),
            location: None,
            spawned_at,
            last_panic: None,
            locals: Vec::new(),
        });
        self.runnable.reserve(index);
        self.runnable.insert(index);
        index
    }

    /// The stack size a thread gets when its Builder sets none.
    pub(crate) fn default_stack_bytes(&self) -> usize {
        self.config.stack_bytes
    }

    /// The current thread's value for thread-local key `id`, if it has one; `Err` once that
    /// key's value has been dropped at the thread's exit.
    pub(crate) fn local_value(
        &self,
        id: usize,
    ) -> Result<Option<*const dyn Any>, crate::thread::AccessError> {
        match self.threads[self.current].locals.get(id) {
            Some(LocalSlot::Destroyed) => Err(crate::thread::AccessError),
            Some(LocalSlot::Value(value)) => Ok(Some(&**value as *const dyn Any)),
            Some(LocalSlot::Empty) | None => Ok(None),
        }
    }

    /// Stores the current thread's value for key `id` and returns where it lives, with the
    /// value it replaced (an initialiser that reached its own key set one meanwhile; as in
    /// std, the outer value wins). The caller drops the replaced value after the borrow.
    pub(crate) fn set_local_value(
        &mut self,
        id: usize,
        value: Box<dyn Any>,
    ) -> Result<StoredLocal, crate::thread::AccessError> {
        let locals = &mut self.threads[self.current].locals;
        if locals.len() <= id {
            locals.resize_with(id + 1, || LocalSlot::Empty);
        }
        let replaced = match std::mem::replace(&mut locals[id], LocalSlot::Value(value)) {
            LocalSlot::Value(old) => Some(old),
            LocalSlot::Empty => None,
            LocalSlot::Destroyed => {
                locals[id] = LocalSlot::Destroyed;
                return Err(crate::thread::AccessError);
            }
        };
        let LocalSlot::Value(stored) = &locals[id] else {
            unreachable!("just stored")
        };
        Ok((&**stored as *const dyn Any, replaced))
    }

    /// Takes the current thread's next live thread-local value for destruction, marking its
    /// key destroyed; None when none is left.
    fn take_next_local(&mut self) -> Option<Box<dyn Any>> {
        let locals = &mut self.threads[self.current].locals;
        let slot = locals
            .iter_mut()
            .find(|slot| matches!(slot, LocalSlot::Value(_)))?;
        match std::mem::replace(slot, LocalSlot::Destroyed) {
            LocalSlot::Value(value) => Some(value),
            LocalSlot::Empty | LocalSlot::Destroyed => None,
        }
    }

    /// At a step: whether the current thread is unwinding (rule 6); with no panic in flight,
    /// forgets the marks of unwinds that have ended.
    #[inline(always)]
    fn note_unwinding(&mut self) -> bool {
        if std::thread::panicking() {
            self.current_is_unwinding()
        } else {
            if !self.unwinding.is_empty() {
                self.unwinding.clear();
            }
            false
        }
    }

    /// Whether the current thread is unwinding from its own panic (not merely running while
    /// another green thread is blocked mid-unwind). A thread is marked by the panic hook, or
    /// when it blocks while a panic is in flight and no other thread is marked (an unwind
    /// begun by `resume_unwind`, which calls no hook); with no marks at all, a panic in flight
    /// can only be the current thread's.
    pub(crate) fn current_is_unwinding(&self) -> bool {
        std::thread::panicking()
            && (self.unwinding.is_empty() || self.unwinding.contains(&self.current))
    }

    /// Whether `thread` has finished.
    pub(crate) fn is_finished(&self, thread: usize) -> bool {
        matches!(self.threads[thread].state, ThreadState::Finished)
    }

    pub(crate) fn add_joiner(&mut self, target: usize) {
        let current = self.current;
        self.threads[target].joiners.push(current);
    }

    fn finish_current(&mut self) {
        let current = self.current;
        self.threads[current].state = ThreadState::Finished;
        self.runnable.remove(current);
        for joiner in std::mem::take(&mut self.threads[current].joiners) {
            self.wake(joiner);
        }
    }

    /// Unparks `thread`: sets its token and wakes it if it is parked.
    pub(crate) fn unpark(&mut self, thread: usize) {
        if thread >= self.threads.len() {
            return;
        }
        self.threads[thread].park_token = true;
        if let ThreadState::Blocked {
            on: Blocker::Park, ..
        } = self.threads[thread].state
        {
            self.wake(thread);
        }
    }
}

/// The outermost frame of every green thread. `body` catches the program's panics itself
/// (with `run_program`); a panic that gets through is reel's own bug and reaches
/// `internal_error` in the main loop.
/// Added to a divergence at a Once: the likely cause.
const ONCE_HINT: &str = ". If this is a `static` Once, OnceLock or LazyLock: one completed by an \
     earlier execution of the recording's exploration is not completed in a new process. \
     REEL_REPLAY in the check that recorded the trace runs those executions first";

/// Replay (see `crate::recording`): the trace decides, and every step is checked against it.
impl Execution {
    /// Checks the step just begun against the trace.
    #[inline]
    fn replay_step(
        &mut self,
        op: Op,
        object: Option<usize>,
        blocker: Option<Blocker>,
        location: &'static std::panic::Location<'static>,
    ) {
        let TraceMode::Replay(replayer) = &mut self.trace else {
            return;
        };
        if replayer.stop.is_some() {
            return;
        }
        let (wire, wire_object) = recording::wire_op(op, object, blocker);
        if let Err(expected) = replayer.step(self.step, self.current, wire, wire_object, location) {
            let what = match (blocker, object) {
                (Some(blocker), _) => format!("blocks: {}", self.describe_blocker(blocker)),
                (None, Some(object)) => format!("{} {}", op.describe(), self.object_name(object)),
                (None, None) => op.describe().to_owned(),
            };
            let mut actual = format!("{} {what} at {location}", self.short_thread(self.current));
            if op == Op::OnceCall {
                actual.push_str(ONCE_HINT);
                self.diverged_at_once = true;
            }
            self.diverge(expected, actual);
        }
    }

    /// A thread as a trace names it: `T1 'worker'`, so both sides of a divergence read alike.
    fn short_thread(&self, thread: usize) -> String {
        match &self.threads[thread].name {
            Some(name) => format!("T{thread} '{name}'"),
            None => format!("T{thread}"),
        }
    }

    /// Stops a replay that left its trace.
    #[cold]
    #[inline(never)]
    fn diverge(&mut self, expected: String, actual: String) {
        let step = self.step;
        if let TraceMode::Replay(replayer) = &mut self.trace
            && replayer.stop.is_none()
        {
            // Past the end of a trace that was cut short, anything the program does is
            // beyond what was recorded: the replay followed all of it.
            replayer.stop = Some(if replayer.at_cut_end() {
                Stop::EndOfTrace
            } else {
                Stop::Diverged(recording::replayer::Divergence {
                    step,
                    expected,
                    actual,
                })
            });
        }
        self.stopped = true;
    }

    /// The decision at a scheduling point, read from the trace: the timeouts recorded here
    /// fire, then the recorded thread runs.
    #[cold]
    #[inline(never)]
    fn replay_decide(&mut self) -> Action {
        let current = self.current;
        let stop = Action::Switch(self.threads[current].yielder);
        loop {
            let TraceMode::Replay(replayer) = &mut self.trace else {
                unreachable!("replay_decide runs in replay mode");
            };
            let next = match replayer.next() {
                Next::Timeout(thread) => Err(Some(thread)),
                Next::Run(thread) => Ok(thread),
                Next::Outcome(outcome) => match (outcome.kind, outcome.thread) {
                    // The recorded run failed in this thread after it was chosen and before
                    // its next step: it panicked, or found the lock it wants held by itself.
                    (
                        reel_trace::OutcomeKind::Panic | reel_trace::OutcomeKind::ReentrantLock,
                        Some(thread),
                    ) if !self.runnable.is_empty() => Ok(thread as usize),
                    _ => Err(None),
                },
                Next::Other => Err(None),
                Next::End => {
                    replayer.stop = Some(Stop::EndOfTrace);
                    self.stopped = true;
                    return stop;
                }
            };
            match next {
                Err(Some(thread)) => {
                    let timed = matches!(
                        self.threads.get(thread).map(|slot| &slot.state),
                        Some(ThreadState::Blocked {
                            deadline: Some(_),
                            ..
                        })
                    );
                    if !timed {
                        let expected = replayer.describe_next();
                        let actual = match self.threads.get(thread) {
                            Some(_) => {
                                format!("{} is not in a timed wait", self.short_thread(thread))
                            }
                            None => format!("there is no thread T{thread}"),
                        };
                        self.diverge(expected, actual);
                        return stop;
                    }
                    replayer.consume_timeout();
                    self.fire_timer_of(thread);
                }
                Err(None) => {
                    if self.runnable.is_empty() && self.timers.is_empty() {
                        // As the recording did: nothing can run, a deadlock (checked
                        // against the recorded outcome at the end).
                        self.fail_deadlock(FailureKind::Deadlock, Vec::new());
                        return stop;
                    }
                    if self.runnable.is_empty() {
                        // The recording would have waited for the first timeout and fired it.
                        let expected = replayer.describe_next();
                        let actual = "every thread waits, some with a timeout that the \
                                      recording would have fired"
                            .to_owned();
                        self.diverge(expected, actual);
                        return stop;
                    }
                    let expected = replayer.describe_next();
                    let actual = format!(
                        "the program goes on ({} can run)",
                        self.runnable
                            .iter()
                            .map(|thread| self.short_thread(thread.index()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    self.diverge(expected, actual);
                    return stop;
                }
                Ok(thread) => {
                    if self.runnable.is_empty() && self.timers.is_empty() {
                        self.fail_deadlock(FailureKind::Deadlock, Vec::new());
                        return stop;
                    }
                    if !self.runnable.contains(ThreadId::from_index(thread)) {
                        let expected = replayer.describe_next();
                        let actual = match self.threads.get(thread) {
                            Some(slot) => match slot.state {
                                ThreadState::Blocked { .. } => format!(
                                    "{} cannot run: it waits to {}",
                                    self.short_thread(thread),
                                    self.describe_wait(thread).waiting_for
                                ),
                                _ => format!("{} has finished", self.short_thread(thread)),
                            },
                            None => "the program has no such thread".to_owned(),
                        };
                        self.diverge(expected, actual);
                        return stop;
                    }
                    if thread == current {
                        return Action::Continue;
                    }
                    self.next = thread;
                    return stop;
                }
            }
        }
    }

    /// The execution ended: records its outcome, or checks it against the recorded one.
    fn finish_trace(&mut self) {
        let outcome = recording::outcome_of(self.failure.as_ref(), self.step);
        match &mut self.trace {
            TraceMode::Off => {}
            TraceMode::Record(recorder) => {
                recorder.finish(&outcome);
                recorder.end_emergency();
            }
            TraceMode::Replay(replayer) => {
                if replayer.stop.is_some() {
                    return;
                }
                let expected = match replayer.outcome_here() {
                    Some(recorded) if recording::same_outcome(recorded, &outcome) => {
                        if recorded.location != outcome.location {
                            replayer.note_outcome_moved(&outcome);
                        }
                        return;
                    }
                    Some(_) | None => replayer.describe_next(),
                };
                let actual = recording::replayer::describe_outcome(&replayer.trace, &outcome);
                self.diverge(expected, actual);
            }
        }
    }
}

// Never inlined: the debugger's backtraces end at this frame.
#[inline(never)]
fn thread_entry(yielder: &Yielder<Wake, ()>, body: impl FnOnce()) {
    with(|execution| {
        let current = execution.current;
        execution.threads[current].yielder = yielder as *const _;
    });
    body();
    drop_locals();
    thread_exit();
}

/// Drops the current thread's thread-local values, on the thread, as std does at exit. A
/// destructor that panics is a panic of the thread.
fn drop_locals() {
    // One key at a time, outside the borrow: a destructor may use reel, and may read keys
    // not destroyed yet (only the ones already destroyed give `AccessError`).
    while let Some(value) = with(Execution::take_next_local) {
        let _ = run_program(|| drop(value));
    }
}

/// Runs a thread's program code (its body, or main), catching its panic: the panic is noted
/// (it may fail the execution) and handed back, for `join` or for `reel::run` to resume.
pub(crate) fn run_program<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    panic::catch_unwind(AssertUnwindSafe(f)).inspect_err(|payload| note_panic(payload.as_ref()))
}

/// Called when the current green thread's body panicked: decides whether that fails the
/// execution (always for main; for others, by the panic policy).
fn note_panic(payload: &(dyn Any + Send)) {
    with(|execution| {
        let current = execution.current;
        // The hook's record belongs to this panic only if the messages agree: a panic the
        // program caught earlier leaves a record, and `resume_unwind` calls no hook.
        let message = panic_message(payload);
        let record = execution.threads[current]
            .last_panic
            .take()
            .filter(|record| record.message == message);
        if current == 0 || execution.config.panic_policy == PanicPolicy::AnyThreadFails {
            let location = record.and_then(|record| record.location);
            let failure = Failure {
                kind: FailureKind::Panic,
                step: execution.step,
                thread: Some(execution.thread_info(current)),
                location,
                message,
                cycle: Vec::new(),
                blocked: Vec::new(),
                last_steps: Vec::new(),
            };
            execution.fail(failure);
        }
    });
}

/// The last step of a thread: wakes its joiners and hands the kernel thread to another.
fn thread_exit() {
    let action = with(|execution| {
        let current = execution.current;
        // An exit happens where the thread's last step was, or where it was spawned.
        let slot = &execution.threads[current];
        let location = slot.location.unwrap_or(slot.spawned_at);
        execution.begin_step(Op::Exit, None, None, location);
        execution.finish_current();
        if current == 0 {
            execution.main_finished = true;
            return Action::Continue;
        }
        if execution.failure.is_some() || execution.stopped {
            return Action::Continue;
        }
        // The exiting thread is not runnable, so decide() picks another (or records a
        // deadlock); returning from the coroutine hands control to the main loop, which
        // resumes `next`.
        let action = execution.decide(false);
        debug_assert!(
            matches!(action, Action::Switch(_)),
            "an exiting thread cannot be picked"
        );
        action
    });
    // Whatever was decided, this thread's part is over: the coroutine returns.
    let _ = action;
}

/// Extracts the message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Called by the panic hook on a green thread: remembers the message and location, and says
/// whether the hook should print (a plain run) or stay quiet (exploration).
pub(crate) fn record_panic(message: String, location: Option<Location>) -> Option<(bool, String)> {
    try_with(|execution| {
        if !execution.in_green_thread {
            return None; // A panic of the runtime itself: let the previous hook report it.
        }
        let print = execution.config.print_panics;
        let current = execution.current;
        let who = execution.thread_info(current).to_string();
        let current = execution.current;
        execution.threads[current].last_panic = Some(PanicRecord { message, location });
        if !execution.unwinding.contains(&current) {
            execution.unwinding.push(current);
        }
        // The panic path: whatever happens next, what was recorded so far is on disk.
        if let TraceMode::Record(recorder) = &mut execution.trace {
            recorder.flush();
        }
        Some((print, who))
    })
    .flatten()
}

/// How an execution ended.
pub(crate) struct Outcome {
    pub(crate) failure: Option<Failure>,
    pub(crate) steps: u64,
    pub(crate) scheduler: Box<dyn Scheduler>,
    /// The recorder or replayer, given back.
    pub(crate) trace: TraceMode,
    /// Whether a replay diverged at a Once.
    pub(crate) diverged_at_once: bool,
    /// Whether a Once's initialiser completed (its completion outlives the execution).
    pub(crate) completed_once: bool,
}

/// Runs one execution of `main` to its end under `scheduler`.
pub(crate) fn run_execution(
    main: &mut dyn FnMut(),
    scheduler: Box<dyn Scheduler>,
    config: ExecutionConfig,
    trace: TraceMode,
) -> Outcome {
    assert!(
        !in_runtime(),
        "reel: a runtime cannot be started inside another reel runtime"
    );
    overflow::install();
    super::hook::install();
    let clock = config.clock.clone();
    let config_debugged = config.debugged && matches!(trace, TraceMode::Replay(_));
    let live = LiveExecution::begin();
    let buffers = SPARE_BUFFERS.with(|spare| spare.take()).unwrap_or_default();
    let cell = RefCell::new(Execution {
        threads: buffers.threads,
        current: 0,
        next: 0,
        step: 0,
        // A replay asks the trace at every step.
        scheduler_keeps_running: scheduler.keeps_running_thread()
            && !matches!(trace, TraceMode::Replay(_)),
        scheduler,
        runnable: buffers.runnable,
        objects: buffers.objects,
        spare_objects: buffers.spare_objects,
        spare_coroutines: buffers.spare_coroutines,
        generation: live.generation(),
        timers: BTreeSet::new(),
        clock,
        config,
        failure: None,
        main_finished: false,
        in_green_thread: false,
        spin: SpinDetector::default(),
        unwinding: Vec::new(),
        recent: buffers.recent,
        trace,
        stopped: false,
        diverged_at_once: false,
        completed_once: false,
        debug_attention: u64::MAX,
    });
    if config_debugged {
        let mut execution = cell.borrow_mut();
        execution.debug_attention = crate::debug::attention(0);
    }
    if let TraceMode::Record(recorder) = &mut cell.borrow_mut().trace {
        recorder.begin_execution();
        recorder.begin_emergency();
    }
    CURRENT.with(|current| current.set(&cell));
    // Clear CURRENT even if the loop below panics (a runtime bug), so the dangling pointer
    // is never seen.
    struct ClearCurrent;
    impl Drop for ClearCurrent {
        fn drop(&mut self) {
            CURRENT.with(|current| current.set(std::ptr::null()));
            overflow::clear_running();
        }
    }
    let _clear = ClearCurrent;

    // `main` is borrowed for the whole of this function, and the main thread finishes or is
    // abandoned before it returns.
    let main_body = move || main();
    let main_stack = stack::allocate(cell.borrow().config.stack_bytes)
        .expect("reel: could not map a stack for the main green thread");
    // SAFETY: as above.
    unsafe {
        cell.borrow_mut().spawn_thread(
            Some(MAIN_NAME.with(Arc::clone)),
            main_stack,
            main_body,
            std::panic::Location::caller(),
        )
    };

    loop {
        let (coroutine, running, wake) = {
            let mut execution = cell.borrow_mut();
            let next = execution.next;
            execution.current = next;
            execution.in_green_thread = true;
            let slot = &mut execution.threads[next];
            let wake = slot.woken_by;
            let coroutine: *mut GreenCoroutine = (*slot.coroutine)
                .as_mut()
                .expect("the scheduler picked a finished thread");
            (coroutine, slot.running_stack, wake)
        };
        overflow::set_running(running);
        // SAFETY: the coroutine is boxed in its slot, so it does not move when `threads`
        // grows, and slots are only emptied by this loop, below, after the coroutine returned.
        // No borrow of the execution is held (rule 4).
        let result = panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*coroutine).resume(wake) }));
        let result = match result {
            Ok(result) => result,
            Err(payload) => internal_error(&cell, payload.as_ref()),
        };
        let mut execution = cell.borrow_mut();
        execution.in_green_thread = false;
        if let CoroutineResult::Return(()) = result {
            overflow::clear_running(); // Its stack goes back to the pool.
            let current = execution.current;
            if let Some(coroutine) = (*execution.threads[current].coroutine).take() {
                stack::release(coroutine.into_stack());
            }
        }
        if execution.failure.is_some() || execution.main_finished || execution.stopped {
            break;
        }
    }

    if config_debugged {
        // The debugger sees the end with every thread still in place: the verdict first
        // (finishing the trace twice is harmless: a replay's check changes nothing the
        // second time).
        let mut execution = cell.borrow_mut();
        execution.finish_trace();
        crate::debug::at_end(&mut execution);
    }
    tear_down(&cell);
    // No reel call may reach this execution from here on: the slots dropped below hold
    // names and queues only (abandoned threads' values were leaked by `tear_down`), but
    // clear the pointer first anyway.
    drop(_clear);
    let mut execution = cell.into_inner();
    // Every coroutine finished or was taken by `tear_down`: keep their boxes.
    for slot in execution.threads.drain(..) {
        if slot.coroutine.is_none() {
            execution.spare_coroutines.push(slot.coroutine);
        }
    }
    for mut object in execution.objects.drain(..) {
        object.waiters.clear();
        object.readers.clear();
        execution.spare_objects.push(object);
    }
    execution.recent.clear();
    execution.runnable.clear();
    execution.finish_trace();
    let buffers = Buffers {
        threads: execution.threads,
        objects: execution.objects,
        spare_objects: execution.spare_objects,
        spare_coroutines: execution.spare_coroutines,
        recent: execution.recent,
        runnable: execution.runnable,
    };
    SPARE_BUFFERS.with(|spare| spare.set(Some(buffers)));
    Outcome {
        failure: execution.failure,
        steps: execution.step,
        scheduler: execution.scheduler,
        trace: execution.trace,
        diverged_at_once: execution.diverged_at_once,
        completed_once: execution.completed_once,
    }
}

/// An execution's growable storage, emptied and kept for the next execution on this kernel
/// thread, so that exploring thousands of executions does not allocate it thousands of times.
#[derive(Default)]
struct Buffers {
    threads: Vec<ThreadSlot>,
    objects: Vec<ObjectState>,
    /// Objects of earlier executions, emptied, whose queues can be reused.
    spare_objects: Vec<ObjectState>,
    /// Emptied coroutine boxes of earlier threads, for the threads to come.
    spare_coroutines: Vec<CoroutineBox>,
    recent: Vec<RecentStep>,
    runnable: RunnableSet,
}

thread_local! {
    /// The main thread's name, shared by every execution on this kernel thread.
    static MAIN_NAME: Arc<str> = Arc::from("main");
    static SPARE_BUFFERS: Cell<Option<Buffers>> = const { Cell::new(None) };
}

/// A panic escaped a green thread outside the program's code: a bug in reel. Reports it
/// loudly (exploration silences panics on green threads, so it would otherwise go unseen)
/// and leaks the threads rather than unwinding program code on a broken runtime.
fn internal_error(cell: &RefCell<Execution>, payload: &(dyn Any + Send)) -> ! {
    let threads = {
        let mut execution = cell.borrow_mut();
        execution.in_green_thread = false; // So that the hook prints this panic.
        std::mem::take(&mut execution.threads)
    };
    std::mem::forget(threads);
    panic!(
        "reel: internal error: a panic escaped a green thread outside the program's code: {}",
        panic_message(payload)
    );
}

/// Abandons every unfinished thread (rule 5). The stacks of threads that never started are
/// recycled; those of threads that ran are leaked, mapping and all, as process exit would
/// leave them: something outside may still borrow from them (a `std::thread::scope` whose
/// kernel threads read the green thread's locals, a pinned value in an intrusive list), so
/// their memory must stay as it is.
fn tear_down(cell: &RefCell<Execution>) {
    let mut execution = cell.borrow_mut();
    for slot in &mut execution.threads {
        if let Some(mut coroutine) = (*slot.coroutine).take() {
            // Its thread-local values are part of what it owned: leaked with it, since the
            // thread may have lent them out (and their destructors must not run now).
            std::mem::forget(std::mem::take(&mut slot.locals));
            let ran = coroutine.started() && !coroutine.done();
            // SAFETY: the coroutine is suspended (or never started) and is never resumed
            // again, so none of its frames' destructors run: that is a leak, not a use. The
            // frames themselves stay intact, because a stack that ran is never reused (below),
            // so whatever points into them stays valid. A stack that never ran holds only the
            // thread's closure, which nothing outside refers to.
            unsafe { coroutine.force_reset() };
            let stack = coroutine.into_stack();
            if ran {
                std::mem::forget(stack);
            } else {
                stack::release(stack);
            }
        }
    }
}

impl Default for ObjectCell {
    fn default() -> ObjectCell {
        ObjectCell::new()
    }
}

/// A lazily registered object id: which execution (generation) and which index.
#[derive(Debug)]
pub(crate) struct ObjectCell {
    /// `generation << INDEX_BITS | index`; generation 0 means never registered.
    slot: AtomicU64,
}

/// Bits of an object index in an `ObjectCell` (the rest hold the generation).
const INDEX_BITS: u32 = 64 - live::GENERATION_BITS;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

impl ObjectCell {
    pub(crate) const fn new() -> ObjectCell {
        ObjectCell {
            slot: AtomicU64::new(0),
        }
    }

    /// This object's index in `execution`, if it was used there.
    pub(crate) fn current_id(&self, execution: &Execution) -> Option<usize> {
        let slot = self.slot.load(Ordering::Relaxed);
        (slot >> INDEX_BITS == execution.generation).then_some((slot & INDEX_MASK) as usize)
    }

    /// This object's index in `execution`, registering it there on first use.
    #[inline]
    pub(crate) fn id(&self, execution: &mut Execution, kind: ObjectKind) -> usize {
        let slot = self.slot.load(Ordering::Acquire);
        if slot >> INDEX_BITS == execution.generation {
            return (slot & INDEX_MASK) as usize;
        }
        self.register(execution, kind, slot)
    }

    /// First use in this execution: take the object over from the execution that used it
    /// before, unless that one is still running on another kernel thread.
    #[cold]
    #[inline(never)]
    fn register(&self, execution: &mut Execution, kind: ObjectKind, mut seen: u64) -> usize {
        loop {
            let owner = seen >> INDEX_BITS;
            assert!(
                !live::is_running(owner),
                "reel: this {} is in use by another reel execution running on another kernel \
                 thread at the same time (two tests sharing a `static`?). A reel primitive \
                 belongs to one runtime at a time: give each test its own, or run these tests \
                 with --test-threads=1",
                kind.name()
            );
            let index = execution.objects.len();
            assert!(
                (index as u64) < INDEX_MASK,
                "reel: more than 2^24 shared objects in one execution"
            );
            let claimed = (execution.generation << INDEX_BITS) | index as u64;
            match self
                .slot
                .compare_exchange(seen, claimed, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return execution.register_object(kind),
                // Another kernel thread's execution got there first: check it again.
                Err(now) => seen = now,
            }
        }
    }
}
