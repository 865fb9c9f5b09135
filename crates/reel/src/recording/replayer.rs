//! The replayer, in two parts that each follow the trace with a cursor of their own:
//! [`ReplayOracle`] is the trace as the oracle (it hands out the recorded decisions and
//! delivers the recorded timeouts), and [`ReplayChecker`] is an observer that checks every
//! step, spawn, object, input and the end of the re-execution against the trace; the first
//! mismatch stops the replay with a divergence.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use reel_trace::{Event, IoEvent, Outcome, OutcomeKind, SignalArrival, Trace};

use super::{clock_of, outcome_of, same_outcome, wire_object, wire_op, wire_reading};
use crate::runtime::execution::Execution;
use crate::runtime::failure::{FailureKind, Location};
use crate::runtime::io::{IoAsk, IoValue};
use crate::runtime::seams::{
    Choice, Decision, Input, Mismatch, Observer, Oracle, RecordedFailure, Request, SignalInput,
    StepEvent,
};
use crate::runtime::vocabulary::{ObjectId, ObjectKind, ThreadId};

type StdLocation = std::panic::Location<'static>;

/// Slots of the replayer's location cache.
const EXACT_CACHE_SLOTS: usize = 256;

/// A recorded location that the program now reaches from another line: a note, not a
/// divergence (the code moved; the operation is the same).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedLocation {
    /// The first step where it was seen.
    pub first_step: u64,
    /// How many steps had it.
    pub steps: u64,
    /// The location in the trace.
    pub recorded: String,
    /// The location in the program now.
    pub now: String,
}

impl fmt::Display for MovedLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the operation recorded at {} is now at {} (from step {}, {} steps)",
            self.recorded, self.now, self.first_step, self.steps
        )
    }
}

/// Checks one execution against one trace: an observer.
pub(crate) struct ReplayChecker {
    pub(crate) trace: Arc<Trace>,
    cursor: usize,
    /// Actual location address -> the trace location with the same file, line and column.
    exact: HashMap<usize, Option<u32>>,
    /// Direct-mapped cache in front of `exact`: (address, trace location + 1, or 0 for none).
    exact_cache: Vec<(usize, u32)>,
    /// The trace's locations by (file, line, column).
    by_text: HashMap<(String, u32, u32), u32>,
    /// Moved locations, keyed by (recorded id, actual address).
    moved: Vec<(u32, usize, MovedLocation)>,
    threads_seen: usize,
    /// Steps of the program that matched the trace.
    pub(crate) matched_steps: u64,
}

impl ReplayChecker {
    pub(crate) fn new(trace: Arc<Trace>) -> ReplayChecker {
        let by_text = (0..trace.locations.len() as u32)
            .map(|id| {
                let (file, line, column) = trace.location(id);
                ((file.to_owned(), line, column), id)
            })
            .collect();
        ReplayChecker {
            trace,
            cursor: 0,
            exact: HashMap::new(),
            exact_cache: vec![(0, 0); EXACT_CACHE_SLOTS],
            by_text,
            moved: Vec::new(),
            threads_seen: 0,
            matched_steps: 0,
        }
    }

    /// The notes about moved locations, in order of first appearance.
    pub(crate) fn moved_locations(&self) -> Vec<MovedLocation> {
        self.moved
            .iter()
            .map(|(_, _, moved)| moved.clone())
            .collect()
    }

    fn current(&mut self) -> Option<&Event> {
        // A stall is a report, not something the replay re-enacts or checks.
        while let Some(Event::Stall(_)) = self.trace.events.get(self.cursor) {
            self.cursor += 1;
        }
        self.trace.events.get(self.cursor)
    }

    /// What the program did not match here: the trace's next event, or, past the end of a
    /// trace cut short, nothing (the replay followed all of it).
    fn mismatch(&self) -> Mismatch {
        if at_cut_end(&self.trace, self.cursor) {
            Mismatch::PastEnd
        } else {
            Mismatch::Expected(describe_at(&self.trace, self.cursor, self.threads_seen))
        }
    }

    /// The trace location with `location`'s file, line and column, if any; cached.
    #[cold]
    #[inline(never)]
    fn exact_location(&mut self, location: &'static StdLocation, slot: usize) -> Option<u32> {
        let address = location as *const StdLocation as usize;
        let exact = match self.exact.get(&address) {
            Some(&exact) => exact,
            None => {
                let key = (
                    location.file().to_owned(),
                    location.line(),
                    location.column(),
                );
                let exact = self.by_text.get(&key).copied();
                self.exact.insert(address, exact);
                exact
            }
        };
        self.exact_cache[slot] = (address, exact.map_or(0, |id| id + 1));
        exact
    }

    /// The run ended as recorded, but its failure happened at another location.
    #[cold]
    fn note_outcome_moved(&mut self, outcome: &Outcome) {
        if self.moved.iter().any(|(id, _, _)| *id == u32::MAX) {
            return; // Noted already (the debugger checks the outcome before the end).
        }
        let text = |location: &Option<reel_trace::SourceLocation>| {
            location
                .as_ref()
                .map_or_else(|| "an unknown place".to_owned(), ToString::to_string)
        };
        let recorded = self.trace.outcome.as_ref().map(|outcome| &outcome.location);
        self.moved.push((
            u32::MAX,
            0,
            MovedLocation {
                first_step: outcome.step,
                steps: 1,
                recorded: text(recorded.unwrap_or(&None)),
                now: text(&outcome.location),
            },
        ));
    }

    #[cold]
    fn note_moved(&mut self, step: u64, recorded: u32, location: &'static StdLocation) {
        let address = location as *const StdLocation as usize;
        if let Some((_, _, moved)) = self
            .moved
            .iter_mut()
            .find(|(id, at, _)| *id == recorded && *at == address)
        {
            moved.steps += 1;
            return;
        }
        let (file, line, column) = self.trace.location(recorded);
        self.moved.push((
            recorded,
            address,
            MovedLocation {
                first_step: step,
                steps: 1,
                recorded: format!("{file}:{line}:{column}"),
                now: location.to_string(),
            },
        ));
    }
}

/// How a report names a recorded outcome.
pub(crate) fn describe_outcome(trace: &Trace, outcome: &Outcome) -> String {
    format!("the run ends: {}", trace.describe_outcome(outcome))
}

/// Whether `cursor` is past the last event of a trace that has no outcome (a recording cut
/// short).
fn at_cut_end(trace: &Trace, cursor: usize) -> bool {
    cursor >= trace.events.len() && trace.outcome.is_none()
}

/// How the trace describes the event at `cursor` (`threads_seen` threads spawned before it).
fn describe_at(trace: &Trace, cursor: usize, threads_seen: usize) -> String {
    match trace.events.get(cursor) {
        Some(event) => describe_event(trace, event, threads_seen),
        None if trace.outcome.is_some() => "nothing more: the run ended".to_owned(),
        None => "nothing more: the recording was cut short here".to_owned(),
    }
}

fn describe_event(trace: &Trace, event: &Event, threads_seen: usize) -> String {
    match event {
        Event::Step(step) => trace.describe_step(step),
        Event::Spawn(spawn) => format!(
            "a new thread T{} ({}) spawned by {}",
            threads_seen,
            spawn.name.as_deref().unwrap_or("unnamed"),
            spawn
                .parent
                .map(|parent| trace.thread_name(parent))
                .unwrap_or_else(|| "the runtime".to_owned())
        ),
        Event::Object(kind) => format!("the first use of a new {}", kind.name()),
        Event::Timeout { thread } => {
            format!("the timeout of {} fires", trace.thread_name(*thread))
        }
        Event::Preemption { thread } => {
            format!("{}'s time slice runs out", trace.thread_name(*thread))
        }
        Event::Stall(stall) => format!(
            "a stall of {} ({} ms)",
            trace.thread_name(stall.thread),
            stall.duration_micros / 1000
        ),
        Event::Outcome(outcome) => describe_outcome(trace, outcome),
        Event::Signal(arrival) => describe_arrival(arrival),
        Event::ClockRead(reading) => format!(
            "the {} reads {} ns",
            describe_clock(*reading),
            reading.nanos
        ),
        Event::RandomSeed { seed } => format!("the random seed {seed:#018x}"),
        Event::Io(io) => match &**io {
            IoEvent::Done(done) => super::io::describe_io_done(done),
            IoEvent::Ready { thread } => {
                format!("the wait of {} for I/O ends", trace.thread_name(*thread))
            }
        },
    }
}

/// How a report names a recorded signal arrival.
fn describe_arrival(arrival: &SignalArrival) -> String {
    format!("the signal {arrival} arrives")
}

/// "monotonic clock" or "system clock".
fn describe_clock(reading: reel_trace::ClockReading) -> String {
    format!("{} clock", reading.source.name())
}

impl Observer for ReplayChecker {
    #[inline]
    fn on_step(&mut self, event: &StepEvent) -> bool {
        let Some(Event::Step(recorded)) = self.current() else {
            return false;
        };
        let recorded = *recorded;
        let (op, object) = wire_op(event.step.op, event.step.object);
        if recorded.thread as usize != event.step.thread.index()
            || recorded.op != op
            || recorded.object != object
        {
            return false;
        }
        let location = event.location;
        let address = location as *const StdLocation as usize;
        let slot = (address >> 3) % EXACT_CACHE_SLOTS;
        let (cached, id_plus_one) = self.exact_cache[slot];
        let exact = if cached == address && address != 0 {
            id_plus_one.checked_sub(1)
        } else {
            self.exact_location(location, slot)
        };
        if exact != Some(recorded.location) {
            self.note_moved(event.number, recorded.location, location);
        }
        self.cursor += 1;
        self.matched_steps += 1;
        true
    }

    fn step_mismatch(&self) -> Mismatch {
        self.mismatch()
    }

    fn on_spawn(
        &mut self,
        _thread: ThreadId,
        parent: Option<ThreadId>,
        _name: Option<&str>,
    ) -> Result<(), Mismatch> {
        match self.current() {
            Some(Event::Spawn(spawn))
                if spawn.parent.map(|parent| parent as usize) == parent.map(ThreadId::index) =>
            {
                self.cursor += 1;
                self.threads_seen += 1;
                Ok(())
            }
            _ => Err(self.mismatch()),
        }
    }

    fn on_object(&mut self, _object: ObjectId, kind: ObjectKind) -> Result<(), Mismatch> {
        match self.current() {
            Some(&Event::Object(recorded)) if recorded == wire_object(kind) => {
                self.cursor += 1;
                Ok(())
            }
            _ => Err(self.mismatch()),
        }
    }

    fn on_input(&mut self, input: Input) -> Result<(), Mismatch> {
        let matched_steps = self.matched_steps;
        match (self.current(), input) {
            (Some(&Event::Signal(recorded)), Input::Signal(arrived))
                if recorded.signal == arrived.signal && recorded.step == matched_steps =>
            {
                self.cursor += 1;
                Ok(())
            }
            (Some(&Event::Timeout { thread }), Input::Timeout(fired))
                if thread as usize == fired.index() =>
            {
                self.cursor += 1;
                Ok(())
            }
            (Some(&Event::ClockRead(recorded)), Input::ClockRead { source, nanos })
                if recorded == wire_reading(source, nanos) =>
            {
                self.cursor += 1;
                Ok(())
            }
            (Some(&Event::Preemption { thread }), Input::Preempt(preempted))
                if thread as usize == preempted.index() =>
            {
                self.cursor += 1;
                Ok(())
            }
            (Some(&Event::RandomSeed { seed }), Input::RandomSeed(drawn)) if seed == drawn => {
                self.cursor += 1;
                Ok(())
            }
            (Some(Event::Io(io)), Input::IoReady(ended)) if matches!(**io, IoEvent::Ready { thread } if thread as usize == ended.index()) =>
            {
                self.cursor += 1;
                Ok(())
            }
            _ => Err(self.mismatch()),
        }
    }

    fn on_io(&mut self, ask: IoAsk<'_>, value: &IoValue) -> Result<(), Mismatch> {
        let Some(Event::Io(io)) = self.current() else {
            return Err(self.mismatch());
        };
        let IoEvent::Done(done) = &**io else {
            return Err(self.mismatch());
        };
        let done = done.clone();
        if done.asked == ask.asked
            && done.written == ask.written_hash()
            && super::io::io_value(&done.result) == *value
        {
            if done.target == ask.target_hash() {
                self.cursor += 1;
                return Ok(());
            }
            let step = self.cursor.checked_sub(1).map(|at| &self.trace.events[at]);
            return Err(super::io::elsewhere(&self.trace, step, &done, ask));
        }
        Err(Mismatch::Expected(super::io::describe_io_done(&done)))
    }

    fn on_end(&mut self, execution: &mut Execution) -> Result<(), Mismatch> {
        if execution.halt().is_none() {
            let outcome = outcome_of(execution.failure(), execution.step());
            let recorded = match self.current() {
                Some(Event::Outcome(recorded)) => Some(recorded.clone()),
                _ => None,
            };
            match recorded {
                Some(recorded) if same_outcome(&recorded, &outcome) => {
                    if recorded.location != outcome.location {
                        self.note_outcome_moved(&outcome);
                    }
                }
                // A stall after main's last step: this run fails the same way.
                Some(recorded)
                    if execution.failure().is_none() && recorded.step == outcome.step =>
                {
                    if let Some(failed) = taken_as_given(&recorded) {
                        return Err(failed);
                    }
                    return Err(Mismatch::Differs {
                        expected: describe_at(&self.trace, self.cursor, self.threads_seen),
                        actual: describe_outcome(&self.trace, &outcome),
                    });
                }
                _ if at_cut_end(&self.trace, self.cursor) => return Err(Mismatch::PastEnd),
                _ => {
                    return Err(Mismatch::Differs {
                        expected: describe_at(&self.trace, self.cursor, self.threads_seen),
                        actual: describe_outcome(&self.trace, &outcome),
                    });
                }
            }
        }
        // What a debugger shows with the verdict.
        execution
            .end_notes
            .extend(self.moved_locations().iter().map(ToString::to_string));
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// The trace as the oracle: at each decision point it delivers the timeouts recorded there,
/// then names the thread of the next recorded step.
pub(crate) struct ReplayOracle {
    trace: Arc<Trace>,
    cursor: usize,
    /// Steps of the trace the cursor has passed.
    steps_passed: u64,
    threads_seen: usize,
    /// Where the event the last choice was read from is.
    looked_at: usize,
}

impl ReplayOracle {
    pub(crate) fn new(trace: Arc<Trace>) -> ReplayOracle {
        ReplayOracle {
            trace,
            cursor: 0,
            steps_passed: 0,
            threads_seen: 0,
            looked_at: 0,
        }
    }
}

impl ReplayOracle {
    /// Moves the cursor just past the trace's `step`-th step (spawns and new objects come
    /// before the step that made them).
    fn catch_up(&mut self, step: u64) {
        let events = &self.trace.events;
        while self.steps_passed < step && self.cursor < events.len() {
            match events[self.cursor] {
                Event::Step(_) => self.steps_passed += 1,
                Event::Spawn(_) => self.threads_seen += 1,
                _ => {}
            }
            self.cursor += 1;
        }
    }
}

impl Oracle for ReplayOracle {
    fn decide(&mut self, decision: &Decision<'_>) -> Choice {
        self.catch_up(decision.step);
        let events = &self.trace.events;
        // A stall is a report: nothing to re-enact.
        while let Some(Event::Stall(_)) = events.get(self.cursor) {
            self.cursor += 1;
        }
        self.looked_at = self.cursor;
        // Timeouts fire and signals arrive at the decision point itself, before the choice.
        match events.get(self.cursor) {
            Some(&Event::Timeout { thread }) => {
                self.cursor += 1;
                return Choice::Deliver(Input::Timeout(ThreadId::from_index(thread as usize)));
            }
            Some(Event::Io(io)) if matches!(**io, IoEvent::Ready { .. }) => {
                let IoEvent::Ready { thread } = **io else {
                    unreachable!("matched above")
                };
                self.cursor += 1;
                return Choice::Deliver(Input::IoReady(ThreadId::from_index(thread as usize)));
            }
            Some(&Event::Signal(arrival)) if arrival.step == decision.step => {
                self.cursor += 1;
                return Choice::Deliver(Input::Signal(SignalInput {
                    signal: arrival.signal,
                    code: arrival.code,
                    sender: arrival.sender,
                }));
            }
            // So does a preemption: the running thread's time slice ran out here.
            Some(&Event::Preemption { thread }) => {
                self.cursor += 1;
                return Choice::Deliver(Input::Preempt(ThreadId::from_index(thread as usize)));
            }
            _ => {}
        }
        // Spawns and new objects come after the decision, done by the chosen thread before
        // its step: the decision is the thread of the next step.
        for (offset, event) in events[self.cursor.min(events.len())..].iter().enumerate() {
            self.looked_at = self.cursor + offset;
            match event {
                Event::Step(step) => {
                    return Choice::Run(ThreadId::from_index(step.thread as usize));
                }
                Event::Outcome(outcome) => {
                    return match (outcome.kind, outcome.thread) {
                        // The recorded run failed in this thread after it was chosen and
                        // before its next step: it panicked, or found the lock it wants held
                        // by itself.
                        (OutcomeKind::Panic | OutcomeKind::ReentrantLock, Some(thread))
                            if !decision.runnable.is_empty() =>
                        {
                            Choice::Run(ThreadId::from_index(thread as usize))
                        }
                        _ => Choice::Stop,
                    };
                }
                // A random seed is drawn after the decision, by the chosen thread.
                Event::Spawn(_) | Event::Object(_) | Event::RandomSeed { .. } | Event::Stall(_) => {
                    continue;
                }
                Event::Timeout { .. }
                | Event::Signal(_)
                | Event::ClockRead(_)
                | Event::Preemption { .. }
                | Event::Io(_) => {
                    return Choice::Stop;
                }
            }
        }
        // The trace ends here without an outcome: the recording was cut short.
        self.looked_at = events.len();
        Choice::Stop
    }

    fn supply(&mut self, request: Request, step: u64) -> Option<Input> {
        self.catch_up(step);
        self.looked_at = self.cursor;
        match (request, self.trace.events.get(self.cursor)?) {
            // A clock's reading follows its step.
            (Request::Clock(source), &Event::ClockRead(reading)) if clock_of(reading) == source => {
                self.cursor += 1;
                Some(Input::ClockRead {
                    source,
                    nanos: reading.nanos,
                })
            }
            // The seed follows its step too; the checker sees that it is this one.
            (Request::RandomSeed, &Event::RandomSeed { seed }) => {
                self.cursor += 1;
                Some(Input::RandomSeed(seed))
            }
            _ => None,
        }
    }

    fn supply_io(&mut self, step: u64) -> Option<IoValue> {
        self.catch_up(step);
        self.looked_at = self.cursor;
        // An I/O step's result follows it; the checker compares what was asked.
        match self.trace.events.get(self.cursor)? {
            Event::Io(io) => match &**io {
                IoEvent::Done(done) => {
                    self.cursor += 1;
                    Some(super::io::io_value(&done.result))
                }
                IoEvent::Ready { .. } => None,
            },
            _ => None,
        }
    }

    fn mismatch(&self) -> Mismatch {
        if let Some(Event::Outcome(outcome)) = self.trace.events.get(self.looked_at)
            && let Some(failed) = taken_as_given(outcome)
        {
            failed
        } else if at_cut_end(&self.trace, self.looked_at) {
            Mismatch::PastEnd
        } else {
            Mismatch::Expected(describe_at(&self.trace, self.looked_at, self.threads_seen))
        }
    }
}

/// The recorded outcome as a failure a replay takes as given, for the kinds no replay
/// re-enacts: a stall (the watchdog's real-time measurement).
fn taken_as_given(outcome: &reel_trace::Outcome) -> Option<Mismatch> {
    if outcome.kind != OutcomeKind::Stall {
        return None;
    }
    Some(Mismatch::Failed(Box::new(RecordedFailure {
        kind: FailureKind::Stall,
        thread: outcome.thread.map(|thread| thread as usize),
        location: outcome.location.as_ref().map(|location| Location {
            file: location.file.clone(),
            line: location.line,
            column: location.column,
        }),
        message: outcome.message.clone(),
    })))
}
