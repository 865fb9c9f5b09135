//! I/O in an execution: each I/O operation is a step whose result is an input, and a thread
//! whose operation would block waits ([`Blocker::Io`]) until the driver says its descriptor
//! is ready or its helper job finished; that end of the wait is an input too, delivered at a
//! decision point.
//!
//! # Rules
//! 1. An I/O operation is a step of [`Op::Io`] on its object (a socket, a file, a job), then
//!    its result: the oracle's in a replay (which performs no I/O), else what the operation
//!    did, told to the observers with what the program asked (length, written bytes' hash,
//!    the hash of the path or address it goes to).
//! 2. A result of [`IoValue::WouldBlock`] makes the program wait on [`Blocker::Io`] (a step)
//!    and try again; the program never sees it. The readiness it waited for is cleared by
//!    that result, so only an event after it ends the wait.
//! 3. The end of a wait is an input ([`Input::IoReady`]) delivered at a decision point: in a
//!    replay where the trace has it, else at the first decision after the driver reported the
//!    readiness. The driver is asked only when no thread can run (the idle wait), or when a
//!    thread yields: so in a plain run and under exploration, which decision a wait ends at
//!    depends on when the kernel made the descriptor ready (loopback I/O usually is at once);
//!    among the threads woken together, the strategy picks who runs. The trace holds the
//!    decision, so a replay is exact either way.
//! 4. When every thread waits and some wait for I/O, the idle wait is the driver's: one
//!    wait that ends at the earliest of a descriptor ready, a helper's completion, a signal
//!    (the self-pipe, while the program subscribes to OS signals) and the next timer. Under
//!    a virtual clock, a planned signal does not wait for I/O (the driver only looks), and
//!    a timer waits only for a file operation or a helper job in flight (a wait on
//!    [`interest::DONE`]), at most as long in real time as it has left in virtual time (and
//!    no longer than the patience of rule 5, when there is one): a
//!    job that a peer's answer needs then comes before the timeout that would give up on it,
//!    as it would in real time, and a socket that nobody writes to does not hold time up.
//! 5. Patience (`ExecutionConfig::io_patience`, exploration only): when every thread waits,
//!    some for I/O, no timer is set and nothing has come for that long (fifteen times that
//!    long while a file operation or a helper job is in flight), the execution is a
//!    deadlock: two threads that each read from the other before writing wait for ever, and
//!    an exploration must go on. A plain run waits as long as it takes.
//! 6. Timing (`ExecutionConfig::io_timing`, sampling explorations only): the strategy's
//!    seed, not only the kernel, decides when a wait ends. At a decision where some thread
//!    waits for I/O, the driver is also asked (only looking) at one decision in
//!    [`POLL_ONE_IN`], drawn; and each end it reports is held back a drawn number of steps,
//!    up to [`MOST_HELD_STEPS`], while other threads can run (when none can, it is
//!    delivered at once). So an I/O completion lands anywhere among the other threads'
//!    steps, not always at the first decision after the kernel. DFS, whose schedules must
//!    repeat for its prefixes, and replays deliver ends as rule 3 says.

use std::io;
use std::panic::Location as StdLocation;
use std::time::{Duration, Instant};

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::super::io::driver::IoDriver;
use super::super::io::{IoAsk, IoValue, helper_threads, interest};
use super::super::os_signals;
use super::super::seams::Input;
use super::super::vocabulary::{Blocker, IoOp, ObjectId, ObjectKind, Op, ThreadId, Wake};
use super::step::{Action, carry_out, wait};
use super::threads::ThreadState;
use super::{Execution, with};

type Location = &'static StdLocation<'static>;

/// Under rule 6 the driver is asked at one decision in this many, drawn.
const POLL_ONE_IN: u64 = 4;
/// Under rule 6 an end of a wait is held back at most this many steps.
const MOST_HELD_STEPS: u64 = 16;

/// How many times the patience (rule 5) a wait lasts while a file operation or a helper job
/// is in flight: an `fsync` or a long job is slow, not stuck.
const JOB_PATIENCE_FACTOR: u32 = 15;

/// The execution's I/O state.
#[derive(Default)]
pub(crate) struct IoState {
    /// Made at the first I/O that needs it (never in a replay).
    driver: Option<Box<IoDriver>>,
    /// Readiness bits by object index, set by the driver, cleared by a result that would
    /// block (rule 2).
    ready: Vec<u8>,
    /// Threads waiting for I/O: (thread, object, the readiness it waits for).
    waiting: Vec<(usize, ObjectId, u8)>,
    /// Waits that ended, to be delivered at a decision (rule 3): (thread, the object it
    /// waits on, the first step at which it may be delivered: rule 6 holds some back).
    due: Vec<(usize, ObjectId, u64)>,
    /// An empty buffer that `due` swaps with while it is delivered (no allocation per wait).
    spare_due: Vec<(usize, ObjectId, u64)>,
    /// Whether observers are told of the operation being performed (see `observed`).
    observed: bool,
    /// Rule 6's draws, when the exploration times I/O.
    timing: Option<Pcg64Mcg>,
    /// The driver's report of one wait.
    reported: Vec<(usize, u8)>,
}

impl IoState {
    /// Draws of rule 6 from `seed`; `None` delivers ends as rule 3 says.
    pub(crate) fn time_with(&mut self, seed: Option<u64>) {
        self.timing = seed.map(Pcg64Mcg::seed_from_u64);
    }

    /// A number below `bound` drawn for rule 6, or 0 without its draws.
    fn draw(&mut self, bound: u64) -> u64 {
        self.timing.as_mut().map_or(0, |timing| {
            ((u128::from(timing.next_u64()) * u128::from(bound)) >> 64) as u64
        })
    }

    /// Whether observers are told of the operation being performed: a read must then give
    /// its bytes as a value ([`IoValue::Bytes`]), else it may leave them where it read
    /// them ([`IoValue::Filled`]).
    pub(crate) fn observed(&self) -> bool {
        self.observed
    }

    /// Whether the execution has a driver (it did I/O).
    #[inline]
    pub(super) fn has_driver(&self) -> bool {
        self.driver.is_some()
    }

    /// The driver, made on first use.
    pub(crate) fn driver(&mut self) -> io::Result<&mut IoDriver> {
        if self.driver.is_none() {
            self.driver = Some(Box::new(IoDriver::new(helper_threads())?));
        }
        Ok(self.driver.as_mut().expect("made above"))
    }

    /// Whether the helper job of `object` finished.
    pub(crate) fn job_done(&self, object: ObjectId) -> bool {
        self.ready
            .get(object.index())
            .is_some_and(|bits| bits & interest::DONE != 0)
    }

    /// Waits for this thread's own operation on `object` to finish (a step, rule 2): the wait
    /// ends at once when `finished` says it did, else at the next report of [`interest::DONE`]
    /// on `object`. Unlike the readiness bit, which any operation on the object sets (and any
    /// of its threads may clear), `finished` looks at this operation only, so a completion
    /// reported before the wait began is never lost.
    pub(crate) fn wait_own(
        object: ObjectId,
        location: Location,
        finished: impl FnOnce(&mut IoState) -> bool,
    ) {
        wait_until(object, interest::DONE, None, location, finished);
    }

    fn bits(&self, object: ObjectId) -> u8 {
        self.ready.get(object.index()).copied().unwrap_or(0)
    }

    fn clear(&mut self, object: ObjectId, bits: u8) {
        if let Some(ready) = self.ready.get_mut(object.index()) {
            *ready &= !bits;
        }
    }

    /// Notes what the driver reported at `step`; the waits it ends become due (rule 3),
    /// some held back (rule 6).
    fn note_reported(&mut self, step: u64) {
        // Taken out and put back empty: its buffer serves every wait.
        let mut reported = std::mem::take(&mut self.reported);
        for &(index, bits) in &reported {
            if self.ready.len() <= index {
                self.ready.resize(index + 1, 0);
            }
            self.ready[index] |= bits;
            let mut position = 0;
            while position < self.waiting.len() {
                let (thread, object, wanted) = self.waiting[position];
                if object.index() == index && wanted & bits != 0 {
                    self.waiting.swap_remove(position);
                    let held = self.draw(MOST_HELD_STEPS + 1);
                    self.due.push((thread, object, step + held));
                } else {
                    position += 1;
                }
            }
        }
        reported.clear();
        self.reported = reported;
    }
}

/// The readiness that a result of [`IoValue::WouldBlock`] of `op` shows missing.
fn readiness_of(op: IoOp) -> u8 {
    match op {
        IoOp::Read | IoOp::Accept => interest::READ,
        IoOp::Write | IoOp::Connect => interest::WRITE,
        IoOp::Open | IoOp::Control | IoOp::Resolve | IoOp::Helper => 0,
    }
}

/// A new I/O object of `kind` (a socket, a file, a job) and the execution's generation.
pub(crate) fn io_object(kind: ObjectKind) -> (ObjectId, u64) {
    with(|execution| (execution.register_object(kind), execution.generation))
}

/// One I/O step (rule 1): `op` on `object` (of execution `generation`), asking `ask`,
/// blaming `location`; `perform` does the operation unless the oracle has its result.
pub(crate) fn io_step(
    op: IoOp,
    object: ObjectId,
    generation: u64,
    ask: IoAsk<'_>,
    location: Location,
    perform: impl FnOnce(&mut IoState) -> IoValue,
) -> IoValue {
    let (value, action) = with(|execution| {
        if execution.generation != generation {
            let error = IoValue::Error(
                0,
                "this descriptor belongs to another reel execution".to_owned(),
            );
            return (error, Action::Continue);
        }
        execution.io_step(op, object, ask, location, perform)
    });
    carry_out(action);
    value
}

/// Waits for `object` to have `readiness` (a step, rule 2), at most `timeout`; `false` when
/// the timeout ran out first.
pub(crate) fn io_wait(
    object: ObjectId,
    readiness: u8,
    timeout: Option<Duration>,
    location: Location,
) -> bool {
    wait_until(object, readiness, timeout, location, |io| {
        io.bits(object) & readiness != 0
    })
}

fn wait_until(
    object: ObjectId,
    readiness: u8,
    timeout: Option<Duration>,
    location: Location,
    ready_now: impl FnOnce(&mut IoState) -> bool,
) -> bool {
    let blocking = with(|execution| {
        let current = execution.current;
        execution.io.waiting.retain(|waiter| waiter.0 != current);
        execution.io.due.retain(|waiter| waiter.0 != current);
        if execution.fires_own_timers && ready_now(&mut execution.io) {
            let step = execution.step;
            execution.io.due.push((current, object, step));
        } else {
            execution.io.waiting.push((current, object, readiness));
        }
        let deadline = timeout.map(|timeout| execution.clock.deadline_after(timeout));
        execution.begin_block(Blocker::Io(object), deadline, location)
    });
    wait(blocking) != Wake::TimedOut
}

impl Execution {
    fn io_step(
        &mut self,
        op: IoOp,
        object: ObjectId,
        ask: IoAsk<'_>,
        location: Location,
        perform: impl FnOnce(&mut IoState) -> IoValue,
    ) -> (IoValue, Action) {
        self.begin_step(Op::Io(op), Some(object), location);
        if self.halt.is_some() {
            // The execution stops here: the thread never runs on, the value is never seen.
            return (IoValue::WouldBlock, self.switch_away());
        }
        let value = match self.decider.supply_io(self.step) {
            Ok(Some(value)) => value,
            Ok(None) => {
                self.io.observed = !self.observers.is_empty() && !self.quiet;
                let value = perform(&mut self.io);
                if value == IoValue::WouldBlock {
                    self.io.clear(object, readiness_of(op));
                }
                value
            }
            Err(()) => {
                let actual = format!(
                    "{} {} {}",
                    self.short_thread(self.current),
                    op.name(),
                    self.object_name(object)
                );
                self.stop_on(self.decider.mismatch(), actual);
                return (IoValue::WouldBlock, self.switch_away());
            }
        };
        if !self.observers.is_empty() && !self.quiet {
            for position in 0..self.observers.len() {
                if let Err(mismatch) = self.observers[position].on_io(ask, &value) {
                    let written = ask
                        .written_hash()
                        .map(|hash| format!(" (bytes hashing to {hash:#018x})"))
                        .unwrap_or_default();
                    let actual = format!(
                        "{} {} {} asking {} bytes{written}: {}",
                        self.short_thread(self.current),
                        op.name(),
                        self.object_name(object),
                        ask.asked,
                        value.describe()
                    );
                    self.stop_on(mismatch, actual);
                    return (value, self.switch_away());
                }
            }
        }
        (
            value,
            self.finish_step(Op::Io(op), Some(object), false, location),
        )
    }

    /// Whether a thread waits for a file operation or a helper job in flight.
    fn job_in_flight(&self) -> bool {
        self.io
            .waiting
            .iter()
            .any(|&(_, _, wanted)| wanted & interest::DONE != 0)
    }

    /// Whether a thread waits for I/O (stale entries of threads whose wait timed out are
    /// dropped here).
    fn waits_for_io(&mut self) -> bool {
        let threads = &self.threads;
        self.io.waiting.retain(|&(thread, object, _)| {
            matches!(threads[thread].state, ThreadState::Blocked { on: Blocker::Io(on), .. } if on == object)
        });
        !self.io.waiting.is_empty() || !self.io.due.is_empty()
    }

    /// Delivers the ends of I/O waits that are due (rule 3); `Some` when the execution
    /// stops.
    #[cold]
    #[inline(never)]
    pub(super) fn deliver_due_io(&mut self) -> Option<Action> {
        if !self.fires_own_timers {
            self.io.due.clear();
            return None;
        }
        // Held ends (rule 6) wait while another thread can run.
        let hold = !self.runnable.is_empty();
        let step = self.step;
        let mut due = std::mem::replace(&mut self.io.due, std::mem::take(&mut self.io.spare_due));
        due.sort_unstable();
        due.dedup_by_key(|waiter| waiter.0);
        for &(thread, object, from) in &due {
            if hold && from > step {
                self.io.due.push((thread, object, from));
                continue;
            }
            if matches!(
                self.threads[thread].state,
                ThreadState::Blocked {
                    on: Blocker::Io(on),
                    ..
                } if on == object
            ) && let Some(action) = self.deliver_io_ready(ThreadId::from_index(thread))
            {
                return Some(action);
            }
        }
        due.clear();
        self.io.spare_due = due;
        None
    }

    /// Whether ends of I/O waits are due at this decision.
    #[inline]
    pub(super) fn io_due(&self) -> bool {
        !self.io.due.is_empty()
    }

    /// A yielding thread lets the driver look for ready descriptors (rule 3), as does one
    /// decision in [`POLL_ONE_IN`] under rule 6. Only called once the execution has a
    /// driver.
    #[cold]
    #[inline(never)]
    pub(super) fn poll_io_at_decision(&mut self, yielding: bool) {
        if !self.fires_own_timers || !(yielding || self.io.timing.is_some()) {
            return; // Cheap checks first: this runs at every decision once there is I/O.
        }
        if !self.waits_for_io() {
            return;
        }
        if yielding || self.io.draw(POLL_ONE_IN) == 0 {
            let driver = self.io.driver.as_mut().expect("the caller checked");
            driver.wait(Some(Duration::ZERO), None, &mut self.io.reported);
            self.io.note_reported(self.step);
        }
    }

    /// Ends `thread`'s wait for I/O (an input); `Some` when the execution stops (the
    /// thread does not wait for I/O: a replay left its trace; or an observer refused it).
    pub(super) fn deliver_io_ready(&mut self, thread: ThreadId) -> Option<Action> {
        let index = thread.index();
        let waits = self.threads.get(index).is_some_and(|slot| {
            matches!(
                slot.state,
                ThreadState::Blocked {
                    on: Blocker::Io(_),
                    ..
                }
            )
        });
        if !waits {
            let actual = match self.threads.get(index) {
                Some(_) => format!("{} does not wait for I/O", self.short_thread(index)),
                None => format!("there is no thread {thread}"),
            };
            self.stop_on(self.decider.mismatch(), actual);
            return Some(self.switch_away());
        }
        self.io.waiting.retain(|waiter| waiter.0 != index);
        self.wake(index);
        if !self.observers.is_empty() && !self.quiet {
            for position in 0..self.observers.len() {
                if let Err(mismatch) = self.observers[position].on_input(Input::IoReady(thread)) {
                    let actual = format!(
                        "the wait of {} for I/O ends after step {}",
                        self.short_thread(index),
                        self.step
                    );
                    self.stop_on(mismatch, actual);
                    return Some(self.switch_away());
                }
            }
        }
        None
    }

    /// Rule 4: every thread waits, some for I/O. `Some(Some(action))` when the execution
    /// stops, `Some(None)` when a thread can run now (or the oracle is to be asked), `None`
    /// when timers are due or nobody waits for I/O (the timers and the other waits go on as
    /// before).
    #[cold]
    #[inline(never)]
    pub(super) fn idle_for_io(&mut self) -> Option<Option<Action>> {
        if !self.waits_for_io() {
            return None;
        }
        if !self.fires_own_timers {
            return Some(None); // A replay: the oracle ends the waits.
        }
        // Planned signals still to come arrive when every thread waits: first only look.
        let mut only_look = self.planned_arrivals() > 0;
        // Only a patience or a virtual timer waiting for a job counts the time idle.
        let idle_since = (self.config.io_patience.is_some()
            || !matches!(self.clock, super::super::clock::Clock::Real))
        .then(Instant::now);
        let idle = || idle_since.map_or(Duration::ZERO, |since| since.elapsed());
        loop {
            let real = matches!(self.clock, super::super::clock::Clock::Real);
            let in_flight = self.job_in_flight();
            // What is left of the patience (rule 5), if there is one.
            let patience_left = self.config.io_patience.map(|patience| {
                let factor = if in_flight { JOB_PATIENCE_FACTOR } else { 1 };
                patience.saturating_mul(factor).saturating_sub(idle())
            });
            let timeout = match self.timers.first() {
                _ if only_look => Some(Duration::ZERO),
                None => patience_left,
                Some(&(deadline, _)) if real => {
                    let now = self.clock.now_nanos();
                    if deadline <= now {
                        return None; // A timer is due: it goes first.
                    }
                    Some(Duration::from_nanos(deadline - now))
                }
                // Virtual time: the timer waits for a job in flight as long as it has left,
                // and no longer than the patience.
                Some(&(deadline, _)) if in_flight => {
                    let left =
                        Duration::from_nanos(deadline.saturating_sub(self.clock.now_nanos()))
                            .saturating_sub(idle());
                    Some(patience_left.map_or(left, |patience_left| left.min(patience_left)))
                }
                Some(_) => Some(Duration::ZERO),
            };
            let signal_mask = self.signals.os_mask();
            let pipe = if signal_mask != 0 {
                os_signals::pipe_for_wait(signal_mask)
            } else {
                None
            };
            // An arrival already noted: only look.
            let timeout = if signal_mask != 0 && pipe.is_none() {
                Some(Duration::ZERO)
            } else {
                timeout
            };
            if let Err(error) = self.io.driver() {
                panic!("reel: cannot make the I/O driver: {error}");
            }
            // Idle until I/O, a signal or the deadline: not a stall.
            self.set_watched(false);
            let signalled = {
                let IoState {
                    driver, reported, ..
                } = &mut self.io;
                let driver = driver.as_mut().expect("made above");
                driver.wait(timeout, pipe, reported)
            };
            self.set_watched(true);
            if signalled {
                os_signals::drain_pipe();
            }
            self.io.note_reported(self.step);
            if let Some(action) = self.deliver_due_io() {
                return Some(Some(action));
            }
            if signal_mask != 0
                && let Some(action) = self.deliver_due_signals()
            {
                return Some(Some(action));
            }
            if !self.runnable.is_empty() {
                return Some(None);
            }
            if only_look {
                // Nothing ready now: a planned signal arrives (or none can, and the wait
                // goes on).
                only_look = false;
                if let Some(settled) = self.idle_for_signals() {
                    return Some(settled);
                }
                continue;
            }
            if timeout == Some(Duration::ZERO) {
                if !self.timers.is_empty() {
                    return None; // Virtual time: the timers fire.
                }
                if self.config.io_patience.is_some() {
                    return None; // Patience ran out (rule 5): a deadlock, unless a signal comes.
                }
            }
        }
    }
}

/// Registers a socket of `object` with the execution's driver.
pub(crate) fn io_register(
    source: &mut impl mio::event::Source,
    object: ObjectId,
) -> io::Result<()> {
    with(|execution| execution.io.driver()?.register(source, object))
}
