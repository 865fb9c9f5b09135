//! The execution's seams: the interfaces it defines and the others implement.
//!
//! ```text
//!   execution --asks--> Oracle::decide(&Decision) -> Choice { Run(T), Deliver(input), Stop }
//!             --tells-> Observer::{on_step, on_spawn, on_object, on_input, on_panic, on_end}
//! ```
//! Every strategy is an oracle (through the public `Scheduler` trait; the built-in ones are
//! dispatched statically by [`Decider`]), and so is the replayer. The recorder, the replayer's
//! checks and the debug agent are observers. Inputs from outside the program reach the
//! execution only through the decider and are told to the observers with
//! [`Observer::on_input`]: one door. A timeout that fires and a signal's arrival are a
//! [`Choice::Deliver`] (or, when the execution's own clock fires a timer, only told); a value
//! the program asks for (a clock reading, the random seed) is [`Oracle::supply`]'s answer in
//! a replay, and the execution's own source's (`clock.rs`, the configured seed or the OS)
//! otherwise.

use std::any::Any;
use std::fmt;

use super::execution::{Execution, ThreadSlot};
use super::failure::{FailureKind, Location};
pub(crate) use super::input::{ClockSource, Input, Request, SignalInput, StallEvent};
use super::io::{IoAsk, IoValue};
pub use super::runnable::RunnableSet;
use super::vocabulary::{ObjectId, ObjectKind, Op, Step, ThreadId};
use crate::scheduler::{
    DfsScheduler, PctScheduler, PortfolioScheduler, PosScheduler, RandomScheduler, RunUntilBlock,
    Scheduler, Strategy, SurwScheduler, UrwScheduler,
};

/// An oracle's answer at a decision point. Small, so that it comes back in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Run this thread next (it must be runnable).
    Run(ThreadId),
    /// Deliver this input, then ask again.
    Deliver(Input),
    /// End the execution here: the oracle cannot go on (a replay left its trace);
    /// [`Oracle::mismatch`] says what it expected.
    Stop,
}

/// Why an execution stopped before the program's end, though the program did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Halt {
    /// The program left the trace it replays.
    Diverged(Divergence),
    /// The trace ended without an outcome (a recording cut short); the program followed it
    /// that far.
    EndOfTrace,
}

/// What an oracle or an observer found when the program did not do what it expected; the
/// execution adds what the program did instead and stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// What was expected here.
    Expected(String),
    /// Nothing was expected any more: the recording was cut short here.
    PastEnd,
    /// What was expected and what happened, both as the observer describes them (the end of
    /// a run, whose outcome only the trace's vocabulary names).
    Differs {
        /// What was expected.
        expected: String,
        /// What happened.
        actual: String,
    },
    /// The recorded run failed here for a reason no replay re-enacts (a stall, which the
    /// watchdog measured in real time): the execution fails the same way.
    Failed(Box<RecordedFailure>),
}

/// A failure a trace records and a replay takes as given ([`Mismatch::Failed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordedFailure {
    /// Its kind.
    pub(crate) kind: FailureKind,
    /// The thread it names, if any.
    pub(crate) thread: Option<usize>,
    /// Where, if known.
    pub(crate) location: Option<Location>,
    /// Its message.
    pub(crate) message: String,
}

/// Where and how a replay left its trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The step at which it happened (1-based; the step the program was taking or about to
    /// take).
    pub step: u64,
    /// What the trace recorded there.
    pub expected: String,
    /// What the program did instead.
    pub actual: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the replay diverged from the trace at step {}:",
            self.step
        )?;
        writeln!(f, "  the trace has:   {}", self.expected)?;
        writeln!(f, "  the program did: {}", self.actual)?;
        write!(
            f,
            "The program took another path than the recorded one: it depends on something reel \
             does not control (HashMap iteration order, the OS random number generator, the \
             clock, I/O or threads outside reel), or its code changed the sequence of \
             scheduling operations since the recording."
        )
    }
}

/// A decision's oracle that is not a strategy: the replayer.
pub(crate) trait Oracle {
    /// The choice at a decision point. The execution checks it: a thread that cannot run or
    /// an input that cannot be delivered stops the execution with a divergence whose
    /// expected side is [`Oracle::expected`].
    fn decide(&mut self, decision: &Decision<'_>) -> Choice;

    /// What the oracle expected, when it stopped or its last choice could not be carried
    /// out (`Mismatch::PastEnd` when the trace it follows ends there).
    fn mismatch(&self) -> Mismatch;

    /// The value of the input the program asks for at step `step` (which has been taken):
    /// the recorded one, or `None` when the oracle has none there ([`Oracle::mismatch`]
    /// then says what it has).
    fn supply(&mut self, request: Request, step: u64) -> Option<Input>;

    /// The result of the I/O step `step` (which has been taken): the recorded one, or
    /// `None` when the oracle has none there.
    fn supply_io(&mut self, step: u64) -> Option<IoValue>;
}

/// The oracle of one execution: a strategy, or another oracle (the replayer). The built-in
/// strategies are matched here, so that the hot path calls them directly, not through a
/// vtable.
pub(crate) enum Decider {
    /// The plain runtime's policy.
    RunUntilBlock(RunUntilBlock),
    /// Uniform random.
    Random(RandomScheduler),
    /// PCT, of a fixed or a random depth.
    Pct(PctScheduler),
    /// Uniform random walk.
    Urw(Box<UrwScheduler>),
    /// Selectively uniform random walk.
    Surw(Box<SurwScheduler>),
    /// Partial order sampling.
    Pos(PosScheduler),
    /// Depth-first search.
    Dfs(DfsScheduler),
    /// One member strategy per execution.
    Portfolio(Box<PortfolioScheduler>),
    /// A scheduler of the program's own.
    Scheduler(Box<dyn Scheduler>),
    /// An oracle that also delivers inputs (the replayer): the execution's clock fires no
    /// timer by itself.
    Oracle(Box<dyn Oracle>),
}

impl Decider {
    /// Whether the execution's clock fires the timers (a strategy), or the oracle delivers
    /// them (a replay).
    pub(crate) fn fires_own_timers(&self) -> bool {
        !matches!(self, Decider::Oracle(_))
    }

    /// Whether the answer is always the current thread when it can run and does not yield
    /// (the execution then skips asking).
    pub(crate) fn keeps_running_thread(&self) -> bool {
        match self {
            Decider::RunUntilBlock(_) => true,
            Decider::Random(_)
            | Decider::Pct(_)
            | Decider::Urw(_)
            | Decider::Surw(_)
            | Decider::Pos(_)
            | Decider::Dfs(_)
            | Decider::Portfolio(_)
            | Decider::Oracle(_) => false,
            Decider::Scheduler(scheduler) => scheduler.keeps_running_thread(),
        }
    }

    /// The choice at a decision point.
    #[inline]
    pub(crate) fn decide(&mut self, decision: &Decision<'_>) -> Choice {
        Choice::Run(match self {
            Decider::RunUntilBlock(scheduler) => scheduler.next_thread(decision),
            Decider::Random(scheduler) => scheduler.next_thread(decision),
            Decider::Pct(scheduler) => scheduler.next_thread(decision),
            Decider::Urw(scheduler) => scheduler.next_thread(decision),
            Decider::Surw(scheduler) => scheduler.next_thread(decision),
            Decider::Pos(scheduler) => scheduler.next_thread(decision),
            Decider::Dfs(scheduler) => scheduler.next_thread(decision),
            Decider::Portfolio(scheduler) => scheduler.next_thread(decision),
            Decider::Scheduler(scheduler) => scheduler.next_thread(decision),
            Decider::Oracle(oracle) => return oracle.decide(decision),
        })
    }

    /// The oracle's value of an input the program asks for (see [`Oracle::supply`]);
    /// `Ok(None)` for a strategy, whose execution uses its own sources.
    #[inline]
    pub(crate) fn supply(&mut self, request: Request, step: u64) -> Result<Option<Input>, ()> {
        match self {
            Decider::Oracle(oracle) => oracle.supply(request, step).map(Some).ok_or(()),
            _ => Ok(None),
        }
    }

    /// The oracle's result of an I/O step (see [`Oracle::supply_io`]); `Ok(None)` for a
    /// strategy, whose execution performs the I/O.
    pub(crate) fn supply_io(&mut self, step: u64) -> Result<Option<IoValue>, ()> {
        match self {
            Decider::Oracle(oracle) => oracle.supply_io(step).map(Some).ok_or(()),
            _ => Ok(None),
        }
    }

    /// What the oracle expected, when it stopped or its choice could not be carried out.
    pub(crate) fn mismatch(&self) -> Mismatch {
        match self {
            Decider::Oracle(oracle) => oracle.mismatch(),
            _ => Mismatch::Expected("a runnable thread".to_owned()),
        }
    }

    /// The strategy as a scheduler, for the calls between executions.
    pub(crate) fn scheduler_mut(&mut self) -> Option<&mut dyn Scheduler> {
        match self {
            Decider::RunUntilBlock(scheduler) => Some(scheduler),
            Decider::Random(scheduler) => Some(scheduler),
            Decider::Pct(scheduler) => Some(scheduler),
            Decider::Urw(scheduler) => Some(scheduler.as_mut()),
            Decider::Surw(scheduler) => Some(scheduler.as_mut()),
            Decider::Pos(scheduler) => Some(scheduler),
            Decider::Dfs(scheduler) => Some(scheduler),
            Decider::Portfolio(scheduler) => Some(scheduler.as_mut()),
            Decider::Scheduler(scheduler) => Some(scheduler.as_mut()),
            Decider::Oracle(_) => None,
        }
    }

    /// The strategy this decider follows.
    pub(crate) fn strategy(&self) -> Strategy {
        match self {
            Decider::RunUntilBlock(scheduler) => scheduler.strategy(),
            Decider::Random(scheduler) => scheduler.strategy(),
            Decider::Pct(scheduler) => scheduler.strategy(),
            Decider::Urw(scheduler) => scheduler.strategy(),
            Decider::Surw(scheduler) => scheduler.strategy(),
            Decider::Pos(scheduler) => scheduler.strategy(),
            Decider::Dfs(scheduler) => scheduler.strategy(),
            Decider::Portfolio(scheduler) => scheduler.strategy(),
            Decider::Scheduler(scheduler) => scheduler.strategy(),
            Decider::Oracle(_) => Strategy::Replay,
        }
    }

    /// The decider for `strategy` with `seed`, if the strategy is one reel knows.
    pub(crate) fn for_strategy(strategy: &Strategy, seed: u64) -> Option<Decider> {
        Some(match strategy {
            Strategy::RunUntilBlock => Decider::RunUntilBlock(RunUntilBlock::new()),
            Strategy::Random => Decider::Random(RandomScheduler::new(seed)),
            Strategy::Pct { depth } => Decider::Pct(PctScheduler::new(*depth, seed)),
            Strategy::PctRandomDepth => Decider::Pct(PctScheduler::random_depth(seed)),
            Strategy::Urw => Decider::Urw(Box::new(UrwScheduler::new(seed))),
            Strategy::Surw => Decider::Surw(Box::new(SurwScheduler::new(seed))),
            Strategy::Pos => Decider::Pos(PosScheduler::new(seed)),
            Strategy::Dfs {
                preemptions,
                delays,
            } => Decider::Dfs(DfsScheduler::new(*preemptions, *delays)),
            Strategy::Portfolio => Decider::Portfolio(Box::new(PortfolioScheduler::new(seed))),
            Strategy::Replay | Strategy::Minimized { .. } | Strategy::Custom(_) => return None,
        })
    }
}

/// What an observer is told of a step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepEvent {
    /// The 1-based step number.
    pub(crate) number: u64,
    /// Thread, operation and object.
    pub(crate) step: Step,
    /// Where in the program.
    pub(crate) location: &'static std::panic::Location<'static>,
}

/// Told of everything an execution does, in order. The recorder writes it down, the
/// replayer's checks compare it with the trace, the debug agent pauses in it.
///
/// An observer that finds the program off its expectations answers with a [`Mismatch`]; the
/// execution then stops, as a replay that left its trace. After a failure, the run's story is
/// over: observers hear of nothing but its end.
pub(crate) trait Observer {
    /// A step was taken. Returns whether it is what the observer expected; when it is
    /// not, [`Observer::step_mismatch`] says what was (the hot path returns a flag only).
    fn on_step(&mut self, event: &StepEvent) -> bool;

    /// What the observer expected instead of the step it just refused.
    fn step_mismatch(&self) -> Mismatch {
        Mismatch::Expected("another step".to_owned())
    }

    /// A thread was created (by `parent`; `None` for main).
    fn on_spawn(
        &mut self,
        thread: ThreadId,
        parent: Option<ThreadId>,
        name: Option<&str>,
    ) -> Result<(), Mismatch>;

    /// A shared object was used for the first time.
    fn on_object(&mut self, object: ObjectId, kind: ObjectKind) -> Result<(), Mismatch>;

    /// An input was delivered.
    fn on_input(&mut self, input: Input) -> Result<(), Mismatch>;

    /// An I/O step (told just before) asked for `ask` and got `value`.
    fn on_io(&mut self, ask: IoAsk<'_>, value: &IoValue) -> Result<(), Mismatch> {
        let _ = (ask, value);
        Ok(())
    }

    /// The watchdog saw a stall that has just ended. Not an input: nothing the program
    /// does depends on it, so a replay neither re-enacts nor checks it.
    fn on_stall(&mut self, stall: &StallEvent) {
        let _ = stall;
    }

    /// The first step at which this observer wants the whole execution
    /// ([`Observer::at_attention`]); `u64::MAX` for never.
    fn attention(&self) -> u64 {
        u64::MAX
    }

    /// The attention step was reached: the observer may look at the whole execution (the
    /// debug agent pauses here). It must change nothing the program could see.
    fn at_attention(&mut self, execution: &mut Execution) {
        let _ = execution;
    }

    /// A green thread is panicking (called from the panic hook, before the unwind).
    fn on_panic(&mut self, execution: &mut Execution, message: &str, location: Option<String>) {
        let _ = (execution, message, location);
    }

    /// The execution ended (`execution.failure()` and `execution.halt()` say how), with
    /// every thread still in place.
    fn on_end(&mut self, execution: &mut Execution) -> Result<(), Mismatch>;

    /// Gives the observer back as `Any`, so its owner can read what it learnt.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// What a scheduler is told at one decision.
pub struct Decision<'a> {
    /// The threads that can run now. Never empty.
    pub runnable: &'a RunnableSet,
    /// The thread that took this step (it may have just blocked or finished).
    pub stepping: ThreadId,
    /// The thread that took this step, when it can go on running.
    pub current: Option<ThreadId>,
    /// The current thread asked to let others run (`yield_now`, a spin-loop hint).
    pub yielding: bool,
    /// The 1-based step this decision is for.
    pub step: u64,
    /// Per thread index: the step each thread is paused at, which it carries out when it
    /// runs next (see [`Decision::next_step`]).
    pub(crate) pending: &'a [PendingStep],
    /// Every thread of the execution, by index (for where each was spawned and is now).
    pub(crate) threads: &'a [ThreadSlot],
    /// Whether threads have different priorities (see [`Decision::priority`]).
    pub(crate) priorities_differ: bool,
}

impl fmt::Debug for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decision")
            .field("runnable", &self.runnable)
            .field("stepping", &self.stepping)
            .field("current", &self.current)
            .field("yielding", &self.yielding)
            .field("step", &self.step)
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl Decision<'_> {
    /// What `thread` is about to do when it runs: the operation and object of the step it
    /// is paused at (a thread that has not run yet is about to start: [`Op::Spawn`] with no
    /// object). `None` for a thread that does not exist.
    ///
    /// For a lock, a send, a receive or an atomic access, that is the access itself, so two
    /// runnable threads' next steps race when they name one object and one of them
    /// [writes](Op::writes). An unlock is the exception: its effect comes before its step
    /// (the lock is already released when the thread pauses there), so a thread paused at
    /// an unlock races with nothing on that object. A spawn's step is the parent's; the
    /// child, not started yet, shows [`Op::Spawn`] too.
    pub fn next_step(&self, thread: ThreadId) -> Option<Step> {
        self.pending.get(thread.index()).map(|pending| Step {
            thread,
            op: pending.op,
            object: pending.object,
        })
    }

    /// How many threads the execution has created so far (finished ones included): their
    /// ids are `T0` to `T{n-1}`, in spawn order.
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// The thread that spawned `thread` (`None` for main, or a thread that does not exist).
    pub fn parent(&self, thread: ThreadId) -> Option<ThreadId> {
        self.threads
            .get(thread.index())
            .and_then(|slot| slot.parent)
            .map(|parent| ThreadId::from_index(parent as usize))
    }

    /// Where in the program `thread` was spawned (`None` for a thread that does not exist).
    /// With [`Decision::parent`], this identifies a thread across executions better than
    /// its id, which depends on the order of spawns.
    pub fn spawned_at(&self, thread: ThreadId) -> Option<&'static std::panic::Location<'static>> {
        self.threads.get(thread.index()).map(|slot| slot.spawned_at)
    }

    /// The priority `thread` was spawned with (`thread::Builder::priority`; 0 by default;
    /// 0 for a thread that does not exist). A plain run runs a higher priority first.
    pub fn priority(&self, thread: ThreadId) -> i32 {
        self.threads
            .get(thread.index())
            .map_or(0, |slot| slot.priority)
    }

    /// Whether any two threads of the execution have different priorities.
    pub fn priorities_differ(&self) -> bool {
        self.priorities_differ
    }

    /// Where in the program `thread` is paused: the location of the step it carries out
    /// when it runs next ([`Decision::next_step`]); `None` before its first step.
    pub fn location(&self, thread: ThreadId) -> Option<&'static std::panic::Location<'static>> {
        self.threads
            .get(thread.index())
            .and_then(|slot| slot.location)
    }
}

/// The step a thread is paused at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingStep {
    pub(crate) op: Op,
    pub(crate) object: Option<ObjectId>,
}

impl PendingStep {
    /// A thread that has not run yet.
    pub(crate) const START: PendingStep = PendingStep {
        op: Op::Spawn,
        object: None,
    };
}
