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
//!    that result, so only an event after it ends the wait. A TCP stream's read that shows
//!    the socket drained (it left room it could have filled) clears it too; the next read
//!    of a thread that is the only one that can run then gives that result without asking
//!    the kernel, until the driver reports the socket again. Never after the reading side
//!    closed or urgent data came ([`interest::CLOSED`], [`interest::PRIORITY`]: a read
//!    stops short at an urgent mark with bytes still queued).
//! 3. The end of a wait is an input ([`Input::IoReady`]) delivered at a decision point: in a
//!    replay where the trace has it, else at the first decision after the driver reported the
//!    readiness, or after a write to a TCP stream whose other end is a stream of the
//!    execution too (paired when they connect: the driver is not asked for it, so a round
//!    trip between two green threads needs no epoll wait). The driver is asked only when no
//!    thread can run (the idle wait), when a thread yields, and at one decision in
//!    [`POLL_EVERY_HINTS`] that notes such writes (else a conversation that always has a
//!    thread to run would keep every other wait from ending): so in a plain run and under
//!    exploration, which decision a wait ends at
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
use std::net::SocketAddr;
use std::panic::Location as StdLocation;
use std::time::Duration;

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::super::io::driver::IoDriver;
use super::super::io::{IoAsk, IoValue, helper_threads, interest};
use super::super::seams::Input;
use super::super::vocabulary::{Blocker, IoOp, ObjectId, ObjectKind, Op, ThreadId, Wake};
use super::step::{Action, carry_out, wait};
use super::threads::ThreadState;
use super::{Execution, try_with, with};

mod idle;
mod pairs;

use pairs::Pairs;

type Location = &'static StdLocation<'static>;

/// Under rule 6 the driver is asked at one decision in this many, drawn.
const POLL_ONE_IN: u64 = 4;
/// Under rule 6 an end of a wait is held back at most this many steps.
const MOST_HELD_STEPS: u64 = 16;
/// Of the decisions that note paired streams' writes, one in this many also asks the driver
/// (rule 3).
const POLL_EVERY_HINTS: u32 = 32;

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
    /// Whether the thread performing the operation is the only one that can run (see
    /// `may_read`).
    alone: bool,
    /// Rule 6's draws, when the exploration times I/O.
    timing: Option<Pcg64Mcg>,
    /// The driver's report of one wait, and the readiness that writes to a connection's
    /// other end in the execution show (rule 3), until a decision notes them.
    reported: Vec<(usize, u8)>,
    /// TCP streams whose two ends are both the execution's.
    pairs: Pairs,
    /// Decisions that noted paired streams' writes (see [`POLL_EVERY_HINTS`]).
    hinted: u32,
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

    /// Registers `source`, a socket just made, with the driver for `object`.
    pub(crate) fn register(
        &mut self,
        source: &mut impl mio::event::Source,
        object: ObjectId,
    ) -> io::Result<()> {
        self.driver()?.register(source, object)?;
        self.mark_new(object);
        Ok(())
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

    /// Marks `object`, a socket just registered with the driver, as possibly ready for
    /// reading and writing: until an operation finds otherwise, it is worth a try.
    fn mark_new(&mut self, object: ObjectId) {
        let index = object.index();
        if self.ready.len() <= index {
            self.ready.resize(index + 1, 0);
        }
        self.ready[index] |= interest::READ | interest::WRITE;
    }

    /// Whether a read of stream `object` should ask the kernel (rule 2). Not when the last
    /// read showed the socket drained (a result that would block, or a short read), nothing
    /// reported it since (no bytes, no close, no urgent data ever, no write of a paired
    /// stream), and no other thread can run: then nothing runs until a wait ends, and the
    /// idle wait asks the driver (or a paired stream's write ends a wait first, and the
    /// driver is asked at least every [`POLL_EVERY_HINTS`] of those). With other threads to
    /// run, it asks: their steps need not ask the driver, and bytes already there would
    /// wait for them.
    pub(crate) fn may_read(&self, object: ObjectId) -> bool {
        !self.alone
            || self.bits(object) & (interest::READ | interest::CLOSED | interest::PRIORITY) != 0
    }

    /// A read of stream `object` took every byte the socket had: the next one waits for
    /// the driver's word (rule 2).
    pub(crate) fn drained(&mut self, object: ObjectId) {
        self.clear(object, interest::READ);
    }

    fn clear(&mut self, object: ObjectId, bits: u8) {
        if let Some(ready) = self.ready.get_mut(object.index()) {
            *ready &= !bits;
        }
    }

    /// Stream `object`, connected from `local` to `peer` (see [`Pairs::connected`]).
    pub(crate) fn connected(
        &mut self,
        object: ObjectId,
        local: io::Result<SocketAddr>,
        peer: SocketAddr,
    ) {
        if let Ok(local) = local {
            self.pairs.connected(object, local, peer);
        }
    }

    /// Stream `object` wrote bytes: its other end, when it is a stream of the execution,
    /// has them to read (as soon as the kernel delivers them, which on loopback is before
    /// the write returns; a read that finds nothing yet waits for the driver as before).
    pub(crate) fn wrote(&mut self, object: ObjectId) {
        if let Some(other) = self.pairs.other_end(object) {
            let report = (other.index(), interest::READ);
            // Once is enough until a decision notes it (a writer may write often first).
            if self.reported.last() != Some(&report) {
                self.reported.push(report);
            }
        }
    }

    /// Readiness noted but not yet delivered: a write's to its other end.
    #[inline]
    fn has_reports(&self) -> bool {
        !self.reported.is_empty()
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
        // Entries left by an earlier wait of this thread that timed out (rarely any: looked
        // for before anything is moved).
        if execution
            .io
            .waiting
            .iter()
            .any(|waiter| waiter.0 == current)
        {
            execution.io.waiting.retain(|waiter| waiter.0 != current);
        }
        if execution.io.due.iter().any(|waiter| waiter.0 == current) {
            execution.io.due.retain(|waiter| waiter.0 != current);
        }
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
                self.io.alone = self.runnable.len() == 1;
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

    /// Whether ends of I/O waits are due at this decision (the readiness that writes
    /// showed is noted first).
    #[inline]
    pub(super) fn io_due(&mut self) -> bool {
        if self.io.has_reports() {
            self.io.hinted = self.io.hinted.wrapping_add(1);
            if self.io.hinted % POLL_EVERY_HINTS == 0
                && let Some(driver) = &mut self.io.driver
            {
                driver.wait(Some(Duration::ZERO), None, &mut self.io.reported);
            }
            self.io.note_reported(self.step);
        }
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
}

/// Stream `object` of execution `generation` is closed (see [`IoState::forget`]); nothing
/// when that execution is not running here.
pub(crate) fn io_forget(object: ObjectId, generation: u64) {
    try_with(|execution| {
        if execution.generation == generation {
            execution.io.pairs.forget(object);
        }
    });
}

/// Registers a socket of `object` with the execution's driver.
pub(crate) fn io_register(
    source: &mut impl mio::event::Source,
    object: ObjectId,
) -> io::Result<()> {
    with(|execution| execution.io.register(source, object))
}

/// Registers a stream of `object` that an accept just made, connected from `local` to
/// `peer`, with the execution's driver (see [`IoState::connected`]).
pub(crate) fn io_register_accepted(
    source: &mut impl mio::event::Source,
    object: ObjectId,
    local: io::Result<SocketAddr>,
    peer: SocketAddr,
) -> io::Result<()> {
    with(|execution| {
        execution.io.register(source, object)?;
        execution.io.connected(object, local, peer);
        Ok(())
    })
}
