//! Replaying a trace: [`replay`], [`Replay`] and its [`ReplayReport`]. The trace is the
//! scheduler: the program runs again, every decision is the recorded one, and every step is
//! checked against the recording.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reel_trace::{Trace, decode_prefix};

use crate::recording::program;
use crate::recording::replayer::{ReplayChecker, ReplayOracle};
use crate::runtime::clock::Clock;
use crate::runtime::execution::{self, ExecutionConfig, PanicPolicy};
use crate::runtime::failure::Failure;
use crate::runtime::seams::{Decider, Halt, Observer};

pub use crate::recording::replayer::MovedLocation;
pub use crate::runtime::seams::Divergence;

/// The smallest green-thread stack a trace may ask for.
const MIN_STACK_BYTES: u64 = 4 * 1024;
/// The largest green-thread stack a trace may ask for.
const MAX_STACK_BYTES: u64 = 1 << 30;

/// Why a trace cannot be replayed by this program.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file is missing, damaged, or not a trace: what is wrong, and where.
    Trace(reel_trace::Error),
    /// The trace's settings are outside what a replay can use (a damaged or forged header).
    Settings {
        /// The trace's file, if it came from one.
        path: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },
    /// The trace records another program.
    OtherProgram {
        /// The trace's file, if it came from one.
        path: Option<PathBuf>,
        /// The program the trace records.
        recorded: String,
        /// This program.
        running: String,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Trace(error) => write!(f, "{error}"),
            ReplayError::Settings { path, message } => {
                if let Some(path) = path {
                    write!(f, "{}: ", path.display())?;
                }
                write!(f, "the trace cannot be replayed: {message}")
            }
            ReplayError::OtherProgram {
                path,
                recorded,
                running,
            } => {
                if let Some(path) = path {
                    write!(f, "{}: ", path.display())?;
                }
                write!(
                    f,
                    "this is a trace of the program '{recorded}', not of this one \
                     ('{running}'); replay it with the program that recorded it (`reel replay` \
                     runs the recorded executable), or allow it with \
                     Replay::allow_other_program"
                )
            }
        }
    }
}

impl std::error::Error for ReplayError {}

impl From<reel_trace::Error> for ReplayError {
    fn from(error: reel_trace::Error) -> ReplayError {
        ReplayError::Trace(error)
    }
}

/// How a replay ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayResult {
    /// The program followed the trace to its end and ended as the recording did.
    Reproduced,
    /// The program left the trace: the first difference.
    Diverged(Divergence),
    /// The trace ends without an outcome (the recording was cut short, e.g. killed); the
    /// program followed it that far.
    EndOfTrace,
}

/// What a replay did.
#[derive(Clone, Debug)]
pub struct ReplayReport {
    /// How it ended.
    pub result: ReplayResult,
    /// The steps the replay followed: up to the reproduced outcome, or, when it stopped
    /// early, the steps that matched the trace.
    pub steps: u64,
    /// The steps the trace has.
    pub recorded_steps: u64,
    /// The failure the replay reached: the recorded one, when [`ReplayResult::Reproduced`].
    pub failure: Option<Failure>,
    /// Operations whose source location moved since the recording (notes, not divergences).
    pub moved: Vec<MovedLocation>,
    /// Other remarks: another build of the program, another test, a trace cut short.
    pub notes: Vec<String>,
    /// The trace's file, if it came from one.
    pub path: Option<PathBuf>,
    /// Whether the divergence was at a Once (see the determinism self-check).
    pub(crate) diverged_at_once: bool,
}

impl ReplayResult {
    /// The verdict of a replay that stopped for `halt`, or ran to its end (`None`).
    pub(crate) fn of(halt: Option<&Halt>) -> ReplayResult {
        match halt {
            None => ReplayResult::Reproduced,
            Some(Halt::Diverged(divergence)) => ReplayResult::Diverged(divergence.clone()),
            Some(Halt::EndOfTrace) => ReplayResult::EndOfTrace,
        }
    }
}

impl ReplayReport {
    /// Whether the replay reproduced the recording.
    pub fn reproduced(&self) -> bool {
        self.result == ReplayResult::Reproduced
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = self
            .path
            .as_ref()
            .map(|path| format!(" of {}", path.display()))
            .unwrap_or_default();
        match &self.result {
            ReplayResult::Reproduced => {
                write!(f, "reel: the replay{source} reproduced the recording: ")?;
                match &self.failure {
                    Some(failure) => write!(f, "{failure}")?,
                    None => writeln!(f, "the run ends (ok) after step {}", self.steps)?,
                }
            }
            ReplayResult::Diverged(divergence) => match &self.path {
                Some(path) => writeln!(f, "reel: replaying {}: {divergence}", path.display())?,
                None => writeln!(f, "reel: {divergence}")?,
            },
            ReplayResult::EndOfTrace => writeln!(
                f,
                "reel: the replay{source} followed all {} recorded steps; the trace ends there \
                 without an outcome (the recording was cut short)",
                self.recorded_steps
            )?,
        }
        for moved in &self.moved {
            writeln!(f, "note: {moved}")?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

/// A trace ready to be replayed.
#[derive(Clone, Debug)]
pub struct Replay {
    trace: Arc<Trace>,
    path: Option<PathBuf>,
    allow_other_program: bool,
    /// The entry (test or check name) replaying the trace, when it is not the running
    /// test's name (a named check).
    entry: Option<String>,
}

impl Replay {
    /// Reads a trace file. A trace cut short (a recording that crashed or was killed)
    /// replays up to its last complete chunk; any other damage is an error.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Replay, ReplayError> {
        let path = path.as_ref();
        let trace = reel_trace::read_file_prefix(path)?;
        Replay {
            trace: Arc::new(trace),
            path: Some(path.to_owned()),
            allow_other_program: false,
            entry: None,
        }
        .checked()
    }

    /// Decodes a trace held in memory (see [`Replay::from_file`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Replay, ReplayError> {
        Replay {
            trace: Arc::new(decode_prefix(bytes)?),
            path: None,
            allow_other_program: false,
            entry: None,
        }
        .checked()
    }

    /// Checks that the header's settings are ones a replay can run with.
    fn checked(self) -> Result<Replay, ReplayError> {
        let stack_bytes = self.trace.header.settings.stack_bytes;
        if !(MIN_STACK_BYTES..=MAX_STACK_BYTES).contains(&stack_bytes) {
            return Err(ReplayError::Settings {
                path: self.path.clone(),
                message: format!(
                    "its green threads' stack size, {stack_bytes} bytes, is outside \
                     {MIN_STACK_BYTES}..={MAX_STACK_BYTES}"
                ),
            });
        }
        Ok(self)
    }

    /// The trace REEL_REPLAY names, for this program; panics with the reason if it cannot
    /// be read or is another program's (the variable asked for a replay that cannot be).
    pub(crate) fn from_env_path(path: &Path) -> Replay {
        Replay::from_file(path)
            .and_then(|replay| replay.check_program().map(|()| replay))
            .unwrap_or_else(|error| panic!("reel: cannot replay REEL_REPLAY: {error}"))
    }

    /// Replays even if the trace names another program (its executable's name differs).
    pub fn allow_other_program(mut self, allow: bool) -> Replay {
        self.allow_other_program = allow;
        self
    }

    /// The decoded trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Checks that the trace records this program: the executable's name (without cargo's
    /// hash suffix, so debug and release builds match).
    pub fn check_program(&self) -> Result<(), ReplayError> {
        let recorded = &self.trace.header.program.exe_name;
        let running = program::this_program_name();
        if self.allow_other_program || recorded == running {
            Ok(())
        } else {
            Err(ReplayError::OtherProgram {
                path: self.path.clone(),
                recorded: recorded.clone(),
                running: running.to_owned(),
            })
        }
    }

    /// Replays the trace with `f` as the program's main. Checks the program first.
    pub fn run<F: FnOnce()>(&self, f: F) -> Result<ReplayReport, ReplayError> {
        self.check_program()?;
        let mut f = Some(f);
        let mut body = || {
            let f = f.take().expect("a replay runs main once");
            // A panic of main is noted as the failure inside; nothing else to do with it.
            let _ = execution::run_program(f);
        };
        Ok(self.run_body(&mut body, self.config(), None))
    }

    /// Names the check replaying the trace (a named check is not the running test).
    pub(crate) fn for_entry(mut self, entry: Option<String>) -> Replay {
        self.entry = entry;
        self
    }

    /// The settings of the recorded run.
    pub(crate) fn config(&self) -> ExecutionConfig {
        let settings = &self.trace.header.settings;
        let panic_policy = if settings.any_thread_panic_fails {
            PanicPolicy::AnyThreadFails
        } else {
            PanicPolicy::ToJoin
        };
        ExecutionConfig {
            max_steps: settings.max_steps,
            stack_bytes: usize::try_from(settings.stack_bytes)
                .unwrap_or(execution::DEFAULT_STACK_BYTES),
            panic_policy,
            spin_limit: settings.spin_limit,
            print_panics: panic_policy == PanicPolicy::ToJoin,
            clock: Clock::new_virtual(),
            signals: execution::SignalSource::Decider,
            // What a replay's oracle supplies anyway; a run that follows the trace's
            // schedule only (a minimization's) draws what the recording drew.
            random_seed: self.trace.events.iter().find_map(|event| match event {
                reel_trace::Event::RandomSeed { seed } => Some(*seed),
                _ => None,
            }),
            // A replay follows its trace's preemptions, and runs with no watchdog: the
            // debugger's checkpoints are fork()s, which a watchdog thread would not survive.
            watch: execution::WatchSettings {
                time_slice: None,
                stall: None,
                replays_slices: self
                    .trace
                    .events
                    .iter()
                    .any(|event| matches!(event, reel_trace::Event::Preemption { .. })),
            },
            fail_on_stall: false,
            // A replay performs no I/O: its trace ends the waits.
            io_patience: None,
            io_timing: None,
        }
    }

    /// Runs `body` (which catches main's panic) as a replay of the trace, with the
    /// debugger's agent as an observer too when one is attached.
    pub(crate) fn run_body(
        &self,
        body: &mut dyn FnMut(),
        mut config: ExecutionConfig,
        debugger: Option<Box<dyn Observer>>,
    ) -> ReplayReport {
        // Signals come from the trace only; a stall is the trace's to say (a watchdog would
        // measure this run's real time, and not survive the debugger's fork()s).
        config.signals = execution::SignalSource::Decider;
        config.watch.time_slice = None;
        config.watch.stall = None;
        config.fail_on_stall = false;
        let oracle = Box::new(ReplayOracle::new(Arc::clone(&self.trace)));
        let mut observers: Vec<Box<dyn Observer>> =
            vec![Box::new(ReplayChecker::new(Arc::clone(&self.trace)))];
        observers.extend(debugger);
        let outcome = execution::run_execution(body, Decider::Oracle(oracle), observers, config);
        let checker = outcome
            .observers
            .into_iter()
            .next()
            .and_then(|checker| checker.into_any().downcast::<ReplayChecker>().ok())
            .expect("the replay's checker comes back first");
        ReplayReport {
            result: ReplayResult::of(outcome.halt.as_ref()),
            // A failure ends the story at its step (main's exit after a panic is not in it);
            // a replay that stopped followed the steps that matched.
            steps: match (&outcome.halt, &outcome.failure) {
                (Some(_), _) => checker.matched_steps,
                (None, Some(failure)) => failure.step,
                (None, None) => outcome.steps,
            },
            recorded_steps: self.trace.steps,
            failure: outcome.failure,
            moved: checker.moved_locations(),
            notes: self.notes(),
            path: self.path.clone(),
            diverged_at_once: outcome.diverged_at_once,
        }
    }

    /// Remarks about the trace that do not stop a replay.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let program = &self.trace.header.program;
        if let Some(cut) = &self.trace.cut {
            notes.push(format!("the trace is cut short: {cut}"));
        }
        let running = self.entry.clone().or_else(program::test_name);
        if program.entry.is_some() && program.entry != running {
            notes.push(format!(
                "the trace was recorded by {}, and is replayed by {}",
                program.entry.as_deref().unwrap_or("the program's main"),
                running.as_deref().unwrap_or("the program's main")
            ));
        }
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        if program.profile != profile {
            notes.push(format!(
                "the trace was recorded by a {} build, and is replayed by a {profile} build",
                program.profile
            ));
        }
        notes
    }
}

/// Replays the trace at `path` with `f` as the program's main, as a test does: panics with
/// the failure if the recording ended in one and the replay reproduced it (so the test fails
/// as the recorded run did), and panics with a clear message if the trace cannot be read,
/// records another program, or the replay diverges from it.
#[track_caller]
pub fn replay<F: FnOnce()>(f: F, path: impl AsRef<Path>) {
    let report = match Replay::from_file(path.as_ref()).and_then(|replay| replay.run(f)) {
        Ok(report) => report,
        Err(error) => panic!("reel: cannot replay: {error}"),
    };
    match (&report.result, &report.failure) {
        (ReplayResult::Reproduced, None) | (ReplayResult::EndOfTrace, _) => {
            eprint!("{report}");
        }
        _ => panic!("{report}"),
    }
}
