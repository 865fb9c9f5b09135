//! Shrinking a failing schedule: a schedule with fewer preemptions and fewer steps that fails
//! the same way, saved as a trace of its own.
//!
//! A schedule is the thread of every step, read from a trace. A *preemption* is a switch
//! away from a thread that could have gone on (its step did not block, yield or exit). The
//! search is greedy, as CHESS's and dejafu's shrinkers are: at each preemption, the thread
//! that was preempted is given its next run of steps at once (or only its next step), and the
//! changed schedule is run with a scheduler that follows it while it can and otherwise never
//! preempts. The change is kept when the run fails the same way (the same kind of failure at
//! the same place in the code) with fewer preemptions, or as many and fewer steps; the
//! schedule kept is the one that run took. The search ends when no change helps or the run
//! budget is spent.
//!
//! Runs use the exploration's virtual clock. They happen in the process of the program (the
//! closure is run many times), so a program that leaves state behind in statics (a completed
//! `OnceLock`) meets it in later runs, as the executions of an exploration do.
//!
//! The shrunk trace's header names its strategy `minimize(S)` (S the exploration's), with the
//! seed and the iteration of the failing execution: it was recorded after the exploration's
//! executions up to and including that one, so a replay in the check that recorded it
//! (REEL_REPLAY, `reel replay`) re-runs all of them before it follows the shrunk schedule.
//! The candidate schedules tried in between are not re-run: before the shrink is reported,
//! the kept trace is replayed at once, and a shrink whose trace does not reproduce its
//! failure is an error, never a saved trace.
//!
//! A failure of the determinism self-check (`FailureKind::Nondeterminism`) is not shrunk:
//! its schedule does not run the same way twice, so no smaller one can be told to fail the
//! same way.

use std::fmt;
use std::path::{Path, PathBuf};

use reel_trace::{Event, OpKind, Outcome, OutcomeKind, Trace};

use crate::check::{Report, recorded_by, restore_process_state};
use crate::recording::outcome_of;
use crate::recording::recorder::Recorder;
use crate::replay::{Replay, ReplayError};
use crate::runtime::execution::{self, ExecutionConfig};
use crate::runtime::failure::{Failure, FailureKind};
use crate::runtime::seams::{Decider, Observer};
use crate::scheduler::{Decision, Scheduler, Strategy, ThreadId};

/// How many executions a shrink may run before it settles for what it has.
pub const DEFAULT_MINIMIZE_RUNS: usize = 2_000;

/// The size of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScheduleSize {
    /// Switches away from a thread that could have gone on.
    pub preemptions: usize,
    /// Steps up to the failure.
    pub steps: u64,
}

impl fmt::Display for ScheduleSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} preemption{}, {} step{}",
            self.preemptions,
            if self.preemptions == 1 { "" } else { "s" },
            self.steps,
            if self.steps == 1 { "" } else { "s" }
        )
    }
}

/// A shrunk schedule.
#[derive(Clone, Debug)]
pub struct Minimized {
    /// The schedule's size as recorded.
    pub before: ScheduleSize,
    /// Its size after shrinking (equal to `before` when nothing smaller fails the same way).
    pub after: ScheduleSize,
    /// How many executions the search ran.
    pub runs: usize,
    /// The shrunk schedule's trace, ready to be saved and replayed.
    pub trace: Vec<u8>,
}

impl Minimized {
    /// Saves the shrunk trace to `path` (creating its directory).
    pub fn write_to(&self, path: &Path) -> std::io::Result<()> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &self.trace)
    }
}

impl fmt::Display for Minimized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.after == self.before {
            write!(
                f,
                "no smaller schedule fails the same way ({}; {} runs tried)",
                self.before, self.runs
            )
        } else {
            write!(
                f,
                "shrunk from {} to {} ({} runs)",
                self.before, self.after, self.runs
            )
        }
    }
}

/// Why a trace could not be shrunk.
#[derive(Debug)]
pub enum MinimizeError {
    /// The trace could not be read or is another program's.
    Replay(ReplayError),
    /// The recorded run did not fail: there is nothing to keep while shrinking.
    NoFailure,
    /// The trace is of a plain run (`reel::run`), whose main runs once.
    PlainRun,
    /// Following the recorded schedule did not fail the way the recording did.
    NotReproduced(String),
    /// The shrunk schedule's trace, replayed at once, did not reproduce its failure.
    NotReplayed(String),
    /// The failure is the determinism self-check's: its schedule runs differently each time.
    Nondeterministic,
}

impl fmt::Display for MinimizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MinimizeError::Replay(error) => write!(f, "{error}"),
            MinimizeError::NoFailure => f.write_str(
                "the trace records a run that did not fail: there is no failure to keep while \
                 shrinking its schedule",
            ),
            MinimizeError::PlainRun => f.write_str(
                "the trace is of a plain run (reel::run), whose main runs once; only traces \
                 saved by an exploration (Checker, check_random, check_pct) can be shrunk",
            ),
            MinimizeError::NotReproduced(how) => write!(
                f,
                "running the recorded schedule again did not fail as recorded ({how}): the \
                 program changed since the recording, depends on something outside reel, or \
                 depends on state its earlier executions left in statics (the executions \
                 before the recorded one were re-run; any other run since is not undone)"
            ),
            MinimizeError::NotReplayed(how) => write!(
                f,
                "the shrunk schedule failed as recorded, but its trace, replayed at once, did \
                 not ({how}); no trace was saved"
            ),
            MinimizeError::Nondeterministic => f.write_str(
                "not shrunk: the failure is the determinism self-check's (the same schedule ran \
                 two ways), so no schedule can be told to fail the same way",
            ),
        }
    }
}

impl std::error::Error for MinimizeError {}

impl From<ReplayError> for MinimizeError {
    fn from(error: ReplayError) -> MinimizeError {
        MinimizeError::Replay(error)
    }
}

impl Replay {
    /// Shrinks the trace's failing schedule by running `f` (the program that recorded it)
    /// under changed schedules; see the [module](crate::minimize) for how. Runs at most
    /// `max_runs` executions.
    pub fn minimize<F: Fn()>(&self, f: F, max_runs: usize) -> Result<Minimized, MinimizeError> {
        self.check_program()?;
        let mut body = || {
            // A panic of main is noted as the failure inside; nothing else to do with it.
            let _ = execution::run_program(&f);
        };
        minimize_body(&mut body, self, max_runs)
    }
}

/// Where a shrunk trace goes by default: beside the trace, `x.reel` as `x.min.reel`.
pub(crate) fn default_output(trace: &Path) -> PathBuf {
    let stem = trace
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".to_owned());
    trace.with_file_name(format!("{stem}.min.reel"))
}

/// REEL_MINIMIZE=<trace>: shrinks that trace's schedule instead of exploring, in the check
/// that recorded it, and saves the result to REEL_MINIMIZE_OUT (default: beside the trace).
/// Panics with the reason when it cannot (the variable asked for something that cannot be
/// done); `None` when the trace is another check's.
pub(crate) fn from_env(f: &dyn Fn(), entry: Option<String>) -> Option<Report> {
    let path = crate::env_path("REEL_MINIMIZE")?;
    let out = crate::env_path("REEL_MINIMIZE_OUT").unwrap_or_else(|| default_output(&path));
    let replay = Replay::from_file(&path)
        .and_then(|replay| replay.check_program().map(|()| replay))
        .unwrap_or_else(|error| panic!("reel: cannot shrink REEL_MINIMIZE: {error}"))
        .for_entry(entry.clone());
    if !recorded_by(&replay, "REEL_MINIMIZE", &path, &entry) {
        return None;
    }
    let header = &replay.trace().header;
    let strategy = Strategy::parse(&header.run.strategy);
    let mut body = || {
        let _ = execution::run_program(f);
    };
    // As before a replay: the executions before the recorded one may have left state behind.
    restore_process_state(&mut body, &replay);
    let minimized = minimize_body(&mut body, &replay, DEFAULT_MINIMIZE_RUNS)
        .map_err(|error| error.to_string())
        .and_then(|minimized| {
            minimized
                .write_to(&out)
                .map(|()| (minimized, out.clone()))
                .map_err(|error| format!("cannot save {}: {error}", out.display()))
        });
    if let Err(error) = &minimized {
        panic!("reel: cannot shrink {}: {error}", path.display());
    }
    let report = Report {
        test_name: entry,
        strategy,
        seed: header.run.seed.unwrap_or(0),
        iterations: 0,
        iteration: None,
        failure: None,
        trace: Some(path),
        trace_error: None,
        replayed: None,
        exhausted: false,
        minimized: Some(minimized),
        signals: Vec::new(),
        shard: None,
    };
    eprint!("{report}");
    Some(report)
}

/// Shrinks the trace an exploration just saved at `path` for `failure`, and saves the result
/// beside it. A nondeterminism failure is not shrunk (the error says so).
pub(crate) fn found(
    body: &mut dyn FnMut(),
    path: &Path,
    failure: &Failure,
) -> Result<(Minimized, PathBuf), String> {
    if failure.kind == FailureKind::Nondeterminism {
        return Err(MinimizeError::Nondeterministic.to_string());
    }
    let replay = Replay::from_file(path).map_err(|error| error.to_string())?;
    let minimized =
        minimize_body(body, &replay, DEFAULT_MINIMIZE_RUNS).map_err(|error| error.to_string())?;
    let out = default_output(path);
    minimized
        .write_to(&out)
        .map_err(|error| format!("cannot save {}: {error}", out.display()))?;
    Ok((minimized, out))
}

/// The lines a report gives a shrink.
pub(crate) fn describe(
    f: &mut fmt::Formatter<'_>,
    minimized: &Result<(Minimized, PathBuf), String>,
) -> fmt::Result {
    match minimized {
        Ok((minimized, out)) => {
            writeln!(f, "shrunk:      {minimized}")?;
            writeln!(f, "  saved:     {}", out.display())?;
            writeln!(f, "  replay it: reel replay {}", out.display())
        }
        Err(error) if error.starts_with("not shrunk") => writeln!(f, "{error}"),
        Err(error) => writeln!(f, "the schedule could not be shrunk: {error}"),
    }
}

/// A schedule read from a trace: the thread and operation of every step.
struct Schedule {
    threads: Vec<u32>,
    ops: Vec<OpKind>,
}

impl Schedule {
    fn of(trace: &Trace) -> Schedule {
        let (threads, ops) = trace
            .events
            .iter()
            .filter_map(|event| match event {
                Event::Step(step) => Some((step.thread, step.op)),
                _ => None,
            })
            .unzip();
        Schedule { threads, ops }
    }

    /// The indices of the steps that preempt the thread before them.
    fn preemptions(&self) -> Vec<usize> {
        (1..self.threads.len())
            .filter(|&index| {
                self.threads[index] != self.threads[index - 1] && !self.ops[index - 1].gives_way()
            })
            .collect()
    }

    /// The candidates that remove the preemption at `index`: the preempted thread's next run
    /// of steps moved there whole, then its next step alone.
    fn without_preemption(&self, index: usize) -> Vec<Vec<u32>> {
        let preempted = self.threads[index - 1];
        let Some(next) = (index..self.threads.len()).find(|&at| self.threads[at] == preempted)
        else {
            return Vec::new();
        };
        let end = (next..self.threads.len())
            .find(|&at| self.threads[at] != preempted)
            .unwrap_or(self.threads.len());
        let moved = |len: usize| {
            let mut choices = self.threads[..index].to_vec();
            choices.extend_from_slice(&self.threads[next..next + len]);
            choices.extend_from_slice(&self.threads[index..next]);
            choices.extend_from_slice(&self.threads[next + len..]);
            choices
        };
        let mut candidates = vec![moved(end - next)];
        if end - next > 1 {
            candidates.push(moved(1));
        }
        candidates
    }
}

/// Follows a list of choices (the thread of each step) while the thread named can run;
/// otherwise keeps the running thread (never preempting), or takes the next one in turn.
struct Follow {
    choices: Vec<u32>,
}

impl Scheduler for Follow {
    fn begin_execution(&mut self, _iteration: usize) {}

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        // The decision after step k picks the thread of step k + 1: index k of the list.
        if let Some(&wanted) = usize::try_from(decision.step)
            .ok()
            .and_then(|step| self.choices.get(step))
        {
            let wanted = ThreadId::from_index(wanted as usize);
            if decision.runnable.contains(wanted) {
                return wanted;
            }
        }
        match decision.current {
            Some(current) if !decision.yielding => current,
            _ => decision
                .runnable
                .next_after(decision.stepping)
                .expect("a decision has a runnable thread"),
        }
    }

    fn describe(&self) -> String {
        "minimize".to_owned()
    }
}

/// What a run under a candidate schedule gave.
struct Run {
    outcome: Outcome,
    trace: Vec<u8>,
    schedule: Schedule,
}

/// Whether `outcome` is the failure `recorded` is: its kind and its place in the code.
fn same_failure(recorded: &Outcome, outcome: &Outcome) -> bool {
    recorded.kind == outcome.kind && recorded.location == outcome.location
}

fn size_of(run: &Run) -> ScheduleSize {
    ScheduleSize {
        preemptions: run.schedule.preemptions().len(),
        steps: run.outcome.step,
    }
}

/// Shrinks `replay`'s schedule, running `body` (which catches main's panic).
pub(crate) fn minimize_body(
    body: &mut dyn FnMut(),
    replay: &Replay,
    max_runs: usize,
) -> Result<Minimized, MinimizeError> {
    let trace = replay.trace();
    let recorded = match &trace.outcome {
        Some(outcome) if outcome.kind != OutcomeKind::Ok => outcome.clone(),
        _ => return Err(MinimizeError::NoFailure),
    };
    if Strategy::parse(&trace.header.run.strategy) == Strategy::RunUntilBlock {
        return Err(MinimizeError::PlainRun);
    }
    let mut config = replay.config();
    config.print_panics = false;
    let mut header = trace.header.clone();
    header.run.strategy = shrunk_spelling(&header.run.strategy);
    // The recorded signals arrive after the steps they did.
    config.signals = crate::signal::explore::recorded_arrivals(trace);
    let mut runs = 0;
    let mut run = |body: &mut dyn FnMut(), choices: Vec<u32>| {
        runs += 1;
        run_schedule(body, &header, choices, config.clone())
    };
    let first = run(body, Schedule::of(trace).threads);
    if !same_failure(&recorded, &first.outcome) {
        return Err(MinimizeError::NotReproduced(
            trace.describe_outcome(&first.outcome),
        ));
    }
    let before = size_of(&first);
    let mut best = first;
    let mut budget_left = max_runs.saturating_sub(1);
    'search: loop {
        for index in best.schedule.preemptions() {
            for choices in best.schedule.without_preemption(index) {
                if budget_left == 0 {
                    break 'search;
                }
                budget_left -= 1;
                let candidate = run(body, choices);
                if same_failure(&recorded, &candidate.outcome)
                    && size_of(&candidate) < size_of(&best)
                {
                    best = candidate;
                    continue 'search;
                }
            }
        }
        break;
    }
    verify(body, &best, &recorded, config)?;
    Ok(Minimized {
        before,
        after: size_of(&best),
        runs: runs + 1,
        trace: best.trace,
    })
}

/// The spelling of a shrunk schedule's strategy: `minimize(S)`; a shrunk trace shrunk again
/// keeps its own.
fn shrunk_spelling(recorded: &str) -> String {
    match Strategy::parse(recorded) {
        Strategy::Minimized { .. } => recorded.to_owned(),
        _ => format!("minimize({recorded})"),
    }
}

/// Replays the kept schedule's trace, as a replay of the saved file will: it must reproduce
/// the recorded failure.
fn verify(
    body: &mut dyn FnMut(),
    best: &Run,
    recorded: &Outcome,
    config: ExecutionConfig,
) -> Result<(), MinimizeError> {
    let replay = Replay::from_bytes(&best.trace)?;
    let report = replay.run_body(body, config, None);
    let failed_the_same_way = report
        .failure
        .as_ref()
        .is_some_and(|failure| same_failure(recorded, &outcome_of(Some(failure), failure.step)));
    if report.reproduced() && failed_the_same_way {
        return Ok(());
    }
    let how = match &report.failure {
        Some(failure) if report.reproduced() => replay
            .trace()
            .describe_outcome(&outcome_of(Some(failure), failure.step)),
        _ => report.to_string().trim_end().to_owned(),
    };
    Err(MinimizeError::NotReplayed(how))
}

/// Runs `body` once under `choices`, recording it with `header`.
fn run_schedule(
    body: &mut dyn FnMut(),
    header: &reel_trace::Header,
    choices: Vec<u32>,
    config: ExecutionConfig,
) -> Run {
    // The crash prefix is never used: the recorder is not published to the signal handlers.
    let recorder = Box::new(Recorder::in_memory(
        header.clone(),
        Path::new("reel-minimize-"),
    ));
    let observers: Vec<Box<dyn Observer>> = vec![recorder];
    let decider = Decider::Scheduler(Box::new(Follow { choices }));
    let outcome = execution::run_execution(body, decider, observers, config);
    let mut recorder = outcome
        .observers
        .into_iter()
        .next()
        .and_then(|recorder| recorder.into_any().downcast::<Recorder>().ok())
        .expect("the shrinker's recorder comes back");
    let bytes = recorder.trace_bytes();
    let recorded = reel_trace::decode(&bytes).expect("a trace just recorded decodes");
    Run {
        outcome: outcome_of(outcome.failure.as_ref(), outcome.steps),
        schedule: Schedule::of(&recorded),
        trace: bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;
    use reel_trace::OpKind;

    fn schedule(steps: &[(u32, OpKind)]) -> Schedule {
        Schedule {
            threads: steps.iter().map(|step| step.0).collect(),
            ops: steps.iter().map(|step| step.1).collect(),
        }
    }

    #[test]
    fn a_switch_after_a_block_yield_or_exit_is_no_preemption() {
        use OpKind::*;
        let steps = schedule(&[
            (0, Spawn),
            (1, Lock), // preempts 0
            (0, Lock), // preempts 1
            (0, BlockLock),
            (1, Unlock), // 0 blocked: no preemption
            (1, Yield),
            (0, Lock), // 1 yielded
            (0, Exit),
            (1, Exit), // 0 exited
        ]);
        assert_eq!(steps.preemptions(), vec![1, 2]);
    }

    #[test]
    fn the_preempted_thread_runs_on_in_the_candidates() {
        use OpKind::*;
        let steps = schedule(&[(0, Lock), (1, Lock), (1, Exit), (0, Unlock), (0, Exit)]);
        assert_eq!(steps.preemptions(), vec![1]);
        assert_eq!(
            steps.without_preemption(1),
            vec![vec![0, 0, 0, 1, 1], vec![0, 0, 1, 1, 0]]
        );
    }
}
