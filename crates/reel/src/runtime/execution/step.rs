//! A step and the decision after it: the entry points the API calls at a scheduling point
//! (rule 2), blocking (rule 3), and asking the decider which thread runs next.
//!
//! The hot path of a step that keeps its thread is: count it, note where the thread is and
//! what it is about to do, tell the observers (when there are any), and return.

use std::panic::Location as StdLocation;

use corosensei::Yielder;

use super::super::failure::{Failure, FailureKind};
use super::super::seams::{Choice, Decision, Input, Mismatch, PendingStep, StepEvent};
use super::super::vocabulary::{Blocker, ObjectId, ObjectKind, Op, Step, ThreadId, Wake};
use super::objects::ObjectCell;
use super::threads::ThreadState;
use super::{Execution, with};

type Location = &'static StdLocation<'static>;

/// What a step decided.
pub(super) enum Action {
    Continue,
    Switch(*const Yielder<Wake, ()>),
}

/// Suspends the current green thread back to the driver.
pub(super) fn suspend(yielder: *const Yielder<Wake, ()>) -> Wake {
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
        super::threads::introspected();
    }
}

#[inline(always)]
pub(super) fn carry_out(action: Action) {
    if let Action::Switch(yielder) = action {
        suspend(yielder);
    }
}

/// A scheduling point: one step of `op` on `object` at the caller's location.
#[track_caller]
pub(crate) fn schedule_point(op: Op, object: Option<ObjectId>) {
    schedule_point_at(op, object, false, StdLocation::caller());
}

/// A scheduling point where the current thread offers to let others run.
#[track_caller]
pub(crate) fn yield_point(op: Op) {
    schedule_point_at(op, None, true, StdLocation::caller());
}

/// The current thread's operation failed without waiting (a `try_recv` on an empty
/// channel, a `try_lock` on a held lock): a program that retries it in a loop waits for
/// another thread, as a spin loop does, so under a strategy the thread's next decision
/// counts as a yield (the thread asked to let others run). Without that, a strategy that
/// keeps a thread's priority (PCT, POS) runs the retry loop until the step bound. A plain
/// run's policy is unchanged: it keeps the thread running, as an OS thread would.
pub(crate) fn spin_hint() {
    with(|execution| execution.spun = !execution.keeps_running && execution.fires_own_timers);
}

/// A scheduling point at `location`.
pub(crate) fn schedule_point_at(
    op: Op,
    object: Option<ObjectId>,
    yielding: bool,
    location: Location,
) {
    carry_out(with(|execution| {
        execution.take_step(op, object, yielding, location)
    }));
}

/// A scheduling point on the object behind `cell` (registered on first use); returns the
/// object's id. One borrow of the execution for both, as this is the hottest path.
#[inline]
pub(crate) fn object_point(
    cell: &ObjectCell,
    kind: ObjectKind,
    op: Op,
    location: Location,
) -> ObjectId {
    let (object, action) = with(|execution| {
        let object = cell.id(execution, kind);
        (
            object,
            execution.take_step(op, Some(object), false, location),
        )
    });
    carry_out(action);
    object
}

/// Runs `update` on the execution and the object behind `cell`, then takes a scheduling
/// step on that object, all in one borrow: for operations whose effect comes before their
/// step (an unlock releases, then lets others run).
#[inline]
pub(crate) fn update_then_point<R>(
    cell: &ObjectCell,
    kind: ObjectKind,
    op: Op,
    location: Location,
    update: impl FnOnce(&mut Execution, ObjectId) -> R,
) -> R {
    let (result, action) = with(|execution| {
        let object = cell.id(execution, kind);
        let result = update(execution, object);
        (
            result,
            execution.take_step(op, Some(object), false, location),
        )
    });
    carry_out(action);
    result
}

/// Records `failure` and ends the current thread's part in the execution: it suspends to the
/// driver, which ends the execution and never resumes the thread.
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
pub(crate) fn block_at(on: Blocker, deadline: Option<u64>, location: Location) -> Wake {
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

/// Added to a divergence at a Once: the likely cause.
pub(super) const ONCE_HINT: &str = ". If this is a `static` Once, OnceLock or LazyLock: one \
     completed by an earlier execution of the recording's exploration is not completed in a \
     new process. REEL_REPLAY in the check that recorded the trace runs those executions first";

impl Execution {
    /// One step of the current thread (rule 2), then the decision. Inlined into each entry
    /// point, so that a step that keeps its thread makes no call of its own.
    #[inline(always)]
    fn take_step(
        &mut self,
        op: Op,
        object: Option<ObjectId>,
        yielding: bool,
        location: Location,
    ) -> Action {
        self.begin_step(op, object, location);
        self.finish_step(op, object, yielding, location)
    }

    /// The rest of a step once it is begun (and, for an input, its value told): the checks
    /// that may end the execution, then the decision.
    #[inline(always)]
    pub(super) fn finish_step(
        &mut self,
        op: Op,
        object: Option<ObjectId>,
        yielding: bool,
        location: Location,
    ) -> Action {
        if self.halt.is_some() {
            return self.switch_away();
        }
        if let Some(spin_limit) = self.config.spin_limit
            && self.spin.observe(self.current, op, object, location) >= spin_limit
            && self.runnable.len() > 1
            && self.spinner_is_stuck()
        {
            self.fail_spin(spin_limit, object, location);
            return self.switch_away();
        }
        if let Some(max_steps) = self.config.max_steps
            && self.step > max_steps
        {
            self.fail_step_bound(max_steps);
            return self.switch_away();
        }
        if self.note_unwinding() {
            return Action::Continue; // Rule 6.
        }
        self.decide(yielding)
    }

    /// Suspends the current thread for good or for now, with nothing else decided: the
    /// driver ends the execution (a failure or a halt) or resumes `next`.
    #[inline]
    pub(super) fn switch_away(&self) -> Action {
        Action::Switch(self.threads[self.current].yielder)
    }

    /// The bookkeeping every step shares: count it, let virtual time pass, remember where
    /// the thread is and what it is about to do, and tell the observers.
    #[inline(always)]
    pub(super) fn begin_step(&mut self, op: Op, object: Option<ObjectId>, location: Location) {
        self.step += 1;
        self.clock.tick();
        let thread = self.current;
        self.threads[thread].location = Some(location);
        self.pending[thread] = PendingStep { op, object };
        if self.recent.enabled() {
            self.recent.push(self.step, thread, op, object, location);
        }
        if !self.observers.is_empty() && !self.quiet {
            self.tell_step(op, object, location);
        }
    }

    /// Tells the observers of the step just begun; the first mismatch stops the execution.
    #[inline]
    fn tell_step(&mut self, op: Op, object: Option<ObjectId>, location: Location) {
        let event = StepEvent {
            number: self.step,
            step: Step {
                thread: ThreadId::from_index(self.current),
                op,
                object,
            },
            location,
        };
        let refused = match &mut self.observers[..] {
            // The common case, one observer (the recorder, or a replay's checker).
            [only] => (!only.on_step(&event)).then_some(0),
            observers => observers
                .iter_mut()
                .position(|observer| !observer.on_step(&event)),
        };
        if let Some(index) = refused {
            let mismatch = self.observers[index].step_mismatch();
            self.step_mismatch(mismatch, op, object, location);
        } else if self.step >= self.attention {
            self.attend();
        }
    }

    /// An observer found the step off its expectations: the execution stops here.
    #[cold]
    #[inline(never)]
    fn step_mismatch(
        &mut self,
        mismatch: Mismatch,
        op: Op,
        object: Option<ObjectId>,
        location: Location,
    ) {
        let mut actual = format!(
            "{} {} at {location}",
            self.short_thread(self.current),
            self.describe_step(op, object)
        );
        if op == Op::OnceCall {
            actual.push_str(ONCE_HINT);
            self.diverged_at_once = true;
        }
        self.stop_on(mismatch, actual);
    }

    /// The attention step of an observer was reached: it looks at the whole execution.
    #[cold]
    #[inline(never)]
    fn attend(&mut self) {
        // A debugger paused here is not a stall of the program.
        self.set_watched(false);
        self.with_observers(|observer, execution| {
            if execution.step >= observer.attention() {
                observer.at_attention(execution);
            }
        });
        self.set_watched(true);
    }

    /// What a step did, as reports name it: "lock Mutex#0", "blocks: join T2", "spawn".
    pub(crate) fn describe_step(&self, op: Op, object: Option<ObjectId>) -> String {
        match (op, object) {
            (Op::Block(blocker), _) => format!("blocks: {}", self.describe_blocker(blocker)),
            (op, Some(object)) => format!("{} {}", op.name(), self.object_name(object)),
            (op, None) => op.name().to_owned(),
        }
    }

    /// Blocks the current thread on `on` (a step), inside a borrow of the execution, so that
    /// a primitive can check its condition, queue itself and block in one borrow. Complete
    /// it with [`wait`] after the borrow ends.
    pub(crate) fn begin_block(
        &mut self,
        on: Blocker,
        deadline: Option<u64>,
        location: Location,
    ) -> Blocking {
        Blocking(self.block_current(on, deadline, location))
    }

    fn block_current(&mut self, on: Blocker, deadline: Option<u64>, location: Location) -> Action {
        let current = self.current;
        self.begin_step(Op::Block(on), on.object(), location);
        if self.halt.is_some() {
            return self.switch_away();
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
            return self.switch_away();
        }
        self.decide(false)
    }

    /// Picks the next thread; switches away from the current one if it is not picked.
    #[inline]
    pub(super) fn decide(&mut self, yielding: bool) -> Action {
        if let Some(watchdog) = &self.watchdog
            && watchdog.flagged()
            && let Some(action) = self.on_watch_flags()
        {
            return action;
        }
        if self.keeps_running
            && !yielding
            && self.timers.is_empty()
            && self.signals.quiet(self.step)
            && !self.priorities_differ
            && self.runnable.contains(ThreadId::from_index(self.current))
        {
            return Action::Continue; // What the decider would answer; see the trait.
        }
        self.consult_decider(yielding)
    }

    /// The general case of [`Execution::decide`]: asks the decider until it picks a thread
    /// (a replay's oracle may deliver inputs first).
    #[inline(never)]
    pub(super) fn consult_decider(&mut self, yielding: bool) -> Action {
        if self.failure.is_some() {
            // The run ended here: nothing more is decided.
            return self.switch_away();
        }
        if !self.signals.quiet(self.step)
            && let Some(action) = self.deliver_due_signals()
        {
            return action;
        }
        // A failed try operation's retry counts as a yield (see `spin_hint`).
        let yielding = yielding || std::mem::take(&mut self.spun);
        if self.io.has_driver() {
            self.poll_io_at_decision(yielding);
        }
        if self.io_due()
            && let Some(action) = self.deliver_due_io()
        {
            return action;
        }
        if (!self.timers.is_empty() || self.runnable.is_empty())
            && let Some(action) = self.settle()
        {
            return action;
        }
        loop {
            let current = ThreadId::from_index(self.current);
            let decision = Decision {
                stepping: current,
                runnable: &self.runnable,
                current: self.runnable.contains(current).then_some(current),
                yielding,
                step: self.step,
                pending: &self.pending,
                threads: &self.threads,
                priorities_differ: self.priorities_differ,
            };
            match self.decider.decide(&decision) {
                Choice::Run(next) => return self.run_next(next),
                Choice::Deliver(input) => {
                    if let Some(action) = self.deliver(input) {
                        return action;
                    }
                }
                Choice::Stop => return self.stop_deciding(),
            }
        }
    }

    /// Before a decision with timers pending or nothing runnable: a deadlock when nothing
    /// can run and nothing will, else the timers that are due fire (unless the decider
    /// delivers them). `Some` when the execution ends here.
    #[cold]
    #[inline(never)]
    fn settle(&mut self) -> Option<Action> {
        if self.runnable.is_empty() {
            match self.idle_for_io() {
                Some(Some(action)) => return Some(action),
                Some(None) => return None,
                None => {}
            }
        }
        if self.runnable.is_empty() {
            match self.idle_for_signals() {
                Some(Some(action)) => return Some(action),
                Some(None) => return None,
                None => {}
            }
        }
        if self.runnable.is_empty() && self.timers.is_empty() {
            self.fail_deadlock(FailureKind::Deadlock, Vec::new());
            return Some(self.switch_away());
        }
        if self.fires_own_timers && !self.settle_timers() {
            self.fail_deadlock(FailureKind::Deadlock, Vec::new());
            return Some(self.switch_away());
        }
        None
    }

    /// Delivers an input the decider chose; `Some` when the execution stops here.
    #[cold]
    #[inline(never)]
    fn deliver(&mut self, input: Input) -> Option<Action> {
        let thread = match input {
            Input::Timeout(thread) => thread,
            Input::Signal(signal) => return self.deliver_signal(signal),
            Input::IoReady(thread) => return self.deliver_io_ready(thread),
            Input::Preempt(thread) => return self.deliver_preemption(thread),
            Input::ClockRead { .. } | Input::RandomSeed(_) => {
                // Values the program asks for come at its steps (`inputs`), never at a
                // decision.
                let actual = format!("{} takes its next step", self.short_thread(self.current));
                self.stop_on(self.decider.mismatch(), actual);
                return Some(self.switch_away());
            }
        };
        if !self.in_timed_wait(thread.index()) {
            let actual = match self.threads.get(thread.index()) {
                Some(_) => format!(
                    "{} is not in a timed wait",
                    self.short_thread(thread.index())
                ),
                None => format!("there is no thread {thread}"),
            };
            self.stop_on(self.decider.mismatch(), actual);
            return Some(self.switch_away());
        }
        self.fire_timer_of(thread.index());
        if self.halt.is_some() {
            return Some(self.switch_away());
        }
        None
    }

    /// The decider cannot go on: the execution stops, saying what the program does instead.
    #[cold]
    #[inline(never)]
    fn stop_deciding(&mut self) -> Action {
        if self.runnable.is_empty()
            && self.timers.is_empty()
            && !matches!(self.decider.mismatch(), Mismatch::PastEnd)
        {
            // Every thread waits for a signal the trace does not deliver: the recorded run
            // ended here in a deadlock too, or the end of the run tells the difference.
            self.fail_deadlock(FailureKind::Deadlock, Vec::new());
            return self.switch_away();
        }
        let actual = if self.runnable.is_empty() {
            "every thread waits, some with a timeout that the recording would have fired".to_owned()
        } else {
            format!(
                "the program goes on ({} can run)",
                self.runnable
                    .iter()
                    .map(|thread| self.short_thread(thread.index()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        self.stop_on(self.decider.mismatch(), actual);
        self.switch_away()
    }

    /// Carries out the decider's pick.
    #[inline]
    fn run_next(&mut self, next: ThreadId) -> Action {
        let index = next.index();
        if !self.runnable.contains(next) {
            return self.refuse(index);
        }
        if index == self.current {
            Action::Continue
        } else {
            self.next = index;
            self.switch_away()
        }
    }

    /// The decider picked a thread that cannot run: only a replay's oracle can (a strategy
    /// that does is a bug), and the replay stops there.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, thread: usize) -> Action {
        assert!(
            !self.fires_own_timers,
            "the scheduler picked a thread that cannot run"
        );
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
        self.stop_on(self.decider.mismatch(), actual);
        self.switch_away()
    }

    /// Stops the execution where the program left what an oracle or observer expected.
    #[cold]
    #[inline(never)]
    pub(super) fn stop_on(&mut self, mismatch: Mismatch, actual: String) {
        if self.halt.is_some() {
            return;
        }
        if let Mismatch::Failed(recorded) = mismatch {
            let mut failure = Failure::new(recorded.kind, self.step, recorded.message);
            failure.thread = recorded.thread.map(|thread| self.thread_info(thread));
            failure.location = recorded.location;
            self.fail(failure);
            return;
        }
        self.quiet = true;
        let (expected, actual) = match mismatch {
            // Past the end of a trace that was cut short, anything the program does is
            // beyond what was recorded: the replay followed all of it.
            Mismatch::PastEnd => {
                self.halt = Some(super::Halt::EndOfTrace);
                return;
            }
            Mismatch::Expected(expected) => (expected, actual),
            Mismatch::Differs { expected, actual } => (expected, actual),
            Mismatch::Failed(_) => unreachable!("a recorded failure is taken above"),
        };
        self.halt = Some(super::Halt::Diverged(super::super::seams::Divergence {
            step: self.step,
            expected,
            actual,
        }));
    }

    /// A thread as a trace names it: `T1 'worker'`, so both sides of a divergence read alike.
    pub(crate) fn short_thread(&self, thread: usize) -> String {
        match &self.threads[thread].name {
            Some(name) => format!("T{thread} '{name}'"),
            None => format!("T{thread}"),
        }
    }
}
