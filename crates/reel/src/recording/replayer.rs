//! The replayer: the trace as the scheduler. It hands out the recorded decisions and
//! timeouts, and checks every step, spawn and object registration of the re-execution
//! against the trace; the first mismatch stops the replay with a [`Divergence`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use reel_trace::{Event, ObjectKind, OpKind, Outcome, Trace};

type StdLocation = std::panic::Location<'static>;

/// Slots of the replayer's location cache.
const EXACT_CACHE_SLOTS: usize = 256;

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

/// What the trace says happens at a decision point.
pub(crate) enum Next<'a> {
    /// A timed wait of this thread runs out first.
    Timeout(usize),
    /// This thread takes the next step.
    Run(usize),
    /// The run ended here.
    Outcome(&'a Outcome),
    /// The trace has a spawn or a new object here, not a decision.
    Other,
    /// The trace ends here without an outcome (the recording was cut short).
    End,
}

/// Why a replay stopped before the program's end.
#[derive(Clone, Debug)]
pub(crate) enum Stop {
    Diverged(Divergence),
    EndOfTrace,
}

/// Follows one trace through one execution.
pub(crate) struct Replayer {
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
    pub(crate) stop: Option<Stop>,
    threads_seen: usize,
    /// Steps of the program that matched the trace.
    pub(crate) matched_steps: u64,
}

impl Replayer {
    pub(crate) fn new(trace: Arc<Trace>) -> Replayer {
        let by_text = (0..trace.locations.len() as u32)
            .map(|id| {
                let (file, line, column) = trace.location(id);
                ((file.to_owned(), line, column), id)
            })
            .collect();
        Replayer {
            trace,
            cursor: 0,
            exact: HashMap::new(),
            exact_cache: vec![(0, 0); EXACT_CACHE_SLOTS],
            by_text,
            moved: Vec::new(),
            stop: None,
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

    fn current(&self) -> Option<&Event> {
        self.trace.events.get(self.cursor)
    }

    /// Whether the cursor is past the last event of a trace that has no outcome (a
    /// recording cut short).
    pub(crate) fn at_cut_end(&self) -> bool {
        self.cursor >= self.trace.events.len() && self.trace.outcome.is_none()
    }

    /// How the trace describes the event at the cursor.
    pub(crate) fn describe_next(&self) -> String {
        match self.current() {
            Some(event) => self.describe(event),
            None if self.trace.outcome.is_some() => "nothing more: the run ended".to_owned(),
            None => "nothing more: the recording was cut short here".to_owned(),
        }
    }

    fn describe(&self, event: &Event) -> String {
        let trace = &self.trace;
        match event {
            Event::Step(step) => trace.describe_step(step),
            Event::Spawn(spawn) => format!(
                "a new thread T{} ({}) spawned by {}",
                self.threads_seen,
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
            Event::Outcome(outcome) => describe_outcome(trace, outcome),
        }
    }

    /// The execution is about to make thread `thread` (spawned by `parent`) as the trace's
    /// next event; `Err` with what the trace has instead.
    pub(crate) fn spawn(&mut self, parent: Option<usize>) -> Result<(), String> {
        match self.current() {
            Some(Event::Spawn(spawn)) if spawn.parent.map(|p| p as usize) == parent => {
                self.cursor += 1;
                self.threads_seen += 1;
                Ok(())
            }
            _ => Err(self.describe_next()),
        }
    }

    /// The execution registers a new object.
    pub(crate) fn object(&mut self, kind: ObjectKind) -> Result<(), String> {
        match self.current() {
            Some(&Event::Object(recorded)) if recorded == kind => {
                self.cursor += 1;
                Ok(())
            }
            _ => Err(self.describe_next()),
        }
    }

    /// The execution takes step `step`.
    #[inline]
    pub(crate) fn step(
        &mut self,
        step: u64,
        thread: usize,
        op: OpKind,
        object: Option<usize>,
        location: &'static StdLocation,
    ) -> Result<(), String> {
        let Some(Event::Step(recorded)) = self.current() else {
            return Err(self.describe_next());
        };
        let recorded = *recorded;
        if recorded.thread as usize != thread
            || recorded.op != op
            || recorded.object.map(|object| object as usize) != object
        {
            return Err(self.describe_next());
        }
        let address = location as *const StdLocation as usize;
        let slot = (address >> 3) % EXACT_CACHE_SLOTS;
        let (cached, id_plus_one) = self.exact_cache[slot];
        let exact = if cached == address && address != 0 {
            id_plus_one.checked_sub(1)
        } else {
            self.exact_location(location, slot)
        };
        if exact != Some(recorded.location) {
            self.note_moved(step, recorded.location, location);
        }
        self.cursor += 1;
        self.matched_steps += 1;
        Ok(())
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
    pub(crate) fn note_outcome_moved(&mut self, outcome: &Outcome) {
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

    /// What the trace does at this decision point (the cursor does not move; see
    /// [`Replayer::consume_timeout`]). Timeouts fire at the decision point itself; spawns
    /// and new objects come after it, done by the chosen thread before its step, so the
    /// decision is the thread of the next step.
    pub(crate) fn next(&self) -> Next<'_> {
        if let Some(&Event::Timeout { thread }) = self.current() {
            return Next::Timeout(thread as usize);
        }
        for event in &self.trace.events[self.cursor.min(self.trace.events.len())..] {
            match event {
                Event::Step(step) => return Next::Run(step.thread as usize),
                Event::Outcome(outcome) => return Next::Outcome(outcome),
                Event::Spawn(_) | Event::Object(_) => continue,
                Event::Timeout { .. } => return Next::Other,
            }
        }
        Next::End
    }

    /// The timeout at the cursor fired.
    pub(crate) fn consume_timeout(&mut self) {
        debug_assert!(matches!(self.current(), Some(Event::Timeout { .. })));
        self.cursor += 1;
    }

    /// The recorded outcome, if the cursor reached it.
    pub(crate) fn outcome_here(&self) -> Option<&Outcome> {
        match self.current() {
            Some(Event::Outcome(outcome)) => Some(outcome),
            _ => None,
        }
    }
}

/// How a report names a recorded outcome.
pub(crate) fn describe_outcome(trace: &Trace, outcome: &Outcome) -> String {
    format!("the run ends: {}", trace.describe_outcome(outcome))
}
