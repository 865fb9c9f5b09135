//! Schedule exploration for tests: run a closure under many schedules, report the first
//! failure with everything needed to reproduce it.

use std::fmt;
use std::path::PathBuf;

use crate::minimize::{self, Minimized};
use crate::recording::program::{self, RunDescription};
use crate::recording::recorder::Recorder;
use crate::replay::{Replay, ReplayResult};
use crate::runtime::clock::Clock;
use crate::runtime::execution::{self, DEFAULT_STACK_BYTES, ExecutionConfig, PanicPolicy};
use crate::runtime::failure::{Failure, FailureKind};
use crate::runtime::overflow::{self, ExplorationContext};
use crate::runtime::seams::{Decider, Observer};
use crate::scheduler::{Scheduler, Strategy};

/// Default bound on the steps of one explored execution.
pub const DEFAULT_MAX_STEPS: u64 = 100_000;

/// Explores schedules of a closure and returns a [`Report`]; see [`check_random`],
/// [`check_pct`] and [`check_dfs`] for the panicking shorthands.
///
/// `REEL_SEED` and `REEL_ITERATIONS` in the environment override the seed and the number of
/// executions. Every execution is recorded in memory; the trace of a failing one is saved
/// to `target/reel/traces/<test>-<seed>-<iteration>.reel` (`REEL_TRACE_DIR` or
/// [`Checker::trace_dir`] choose another directory). `REEL_REPLAY=<trace>` replays that
/// trace instead of exploring, in the test that recorded it. `REEL_CHECK_DETERMINISM=1`
/// (or [`Checker::check_determinism`]) runs every execution twice and reports a
/// [`FailureKind::Nondeterminism`] if the two differ.
#[derive(Clone, Debug)]
pub struct Checker {
    strategy: Strategy,
    iterations: usize,
    seed: Option<u64>,
    max_steps: u64,
    stack_bytes: usize,
    allow_thread_panics: bool,
    record: bool,
    trace_dir: Option<PathBuf>,
    check_determinism: bool,
    name: Option<String>,
    minimize: bool,
    stall_threshold: Option<std::time::Duration>,
    fail_on_stall: bool,
}

impl Default for Checker {
    fn default() -> Checker {
        Checker::new()
    }
}

impl Checker {
    /// The portfolio strategy ([`Strategy::Portfolio`]: SURW, POS, PCT, URW and random, one
    /// per execution), 100 executions, a seed derived from the test's name.
    pub fn new() -> Checker {
        Checker {
            strategy: Strategy::Portfolio,
            iterations: 100,
            seed: None,
            max_steps: DEFAULT_MAX_STEPS,
            stack_bytes: DEFAULT_STACK_BYTES,
            allow_thread_panics: false,
            record: true,
            trace_dir: None,
            check_determinism: false,
            name: None,
            minimize: false,
            stall_threshold: Some(std::time::Duration::from_millis(
                crate::runtime::watchdog::DEFAULT_STALL_MS,
            )),
            fail_on_stall: false,
        }
    }

    /// Names what is explored, for its saved traces (`<name>-<seed>-<iteration>.reel`) and
    /// their headers; REEL_REPLAY replays a trace only in the check of the same name. The
    /// default is the test's name (libtest names each test's thread after it), or the
    /// program's when there is no test. A program that explores several things names them.
    pub fn name(mut self, name: impl Into<String>) -> Checker {
        self.name = Some(name.into());
        self
    }

    /// The name traces carry: [`Checker::name`], else the test's.
    fn entry(&self) -> Option<String> {
        self.name.clone().or_else(program::test_name)
    }

    /// Whether executions are recorded (on by default), so that a failing one's trace is
    /// saved. Recording costs a few nanoseconds a step.
    pub fn record(mut self, record: bool) -> Checker {
        self.record = record;
        self
    }

    /// Where the trace of a failing execution is saved (default `target/reel/traces`;
    /// REEL_TRACE_DIR overrides both).
    pub fn trace_dir(mut self, dir: impl Into<PathBuf>) -> Checker {
        self.trace_dir = Some(dir.into());
        self
    }

    /// Runs every execution twice, the second time as a replay of the first, and reports a
    /// [`FailureKind::Nondeterminism`] failure at the first step where they differ: the
    /// program depends on something reel does not control. REEL_CHECK_DETERMINISM=1 turns it
    /// on too.
    pub fn check_determinism(mut self, check: bool) -> Checker {
        self.check_determinism = check;
        self
    }

    /// Shrinks a found failure's schedule (fewer preemptions, fewer steps, the same failure)
    /// and saves it beside the trace as `<trace>.min.reel`; the report says both sizes.
    /// REEL_MINIMIZE_FOUND=1 turns it on too.
    pub fn minimize(mut self, minimize: bool) -> Checker {
        self.minimize = minimize;
        self
    }

    /// Uses the random strategy.
    pub fn random(mut self) -> Checker {
        self.strategy = Strategy::Random;
        self
    }

    /// Uses PCT with bug depth `depth`.
    pub fn pct(mut self, depth: usize) -> Checker {
        self.strategy = Strategy::Pct { depth };
        self
    }

    /// Uses depth-first search over every schedule, with at most `preemption_bound`
    /// preemptions in each (`None`: any number), until every one has been explored: the
    /// iterations become unlimited (call [`Checker::iterations`] after this to cap them).
    pub fn dfs(mut self, preemption_bound: Option<usize>) -> Checker {
        self.strategy = Strategy::Dfs {
            preemptions: preemption_bound,
            delays: None,
        };
        self.iterations = usize::MAX;
        self
    }

    /// Sets the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Checker {
        self.strategy = strategy;
        self
    }

    /// How many executions to explore (at most).
    pub fn iterations(mut self, iterations: usize) -> Checker {
        self.iterations = iterations;
        self
    }

    /// Fixes the seed (otherwise derived from the test's name, so runs are reproducible).
    pub fn seed(mut self, seed: u64) -> Checker {
        self.seed = Some(seed);
        self
    }

    /// Sets the watchdog's stall threshold (default 100 ms, REEL_STALL_MS overrides it; `0`
    /// or `off` turns it off): a green thread that holds the kernel thread this long in real
    /// time (a blocking system call, a computation with no scheduling point) while others are
    /// ready is reported on stderr and in the trace.
    pub fn stall_threshold(mut self, threshold: Option<std::time::Duration>) -> Checker {
        self.stall_threshold = threshold;
        self
    }

    /// Makes a stall the watchdog reports a failure of the execution
    /// ([`FailureKind::Stall`](crate::FailureKind::Stall)): the report names the thread,
    /// the system call or "computing", and where.
    pub fn fail_on_stall(mut self, fail: bool) -> Checker {
        self.fail_on_stall = fail;
        self
    }

    /// Bounds each execution's steps; going past is reported as a likely livelock.
    pub fn max_steps(mut self, max_steps: u64) -> Checker {
        self.max_steps = max_steps;
        self
    }

    /// Default stack size of green threads, in bytes.
    pub fn stack_size(mut self, stack_bytes: usize) -> Checker {
        self.stack_bytes = stack_bytes;
        self
    }

    /// With `true`, a spawned thread's panic goes to its join handle as in std, and only a
    /// panic of the main thread is a failure. Default `false`: any panic is a failure.
    pub fn allow_thread_panics(mut self, allow: bool) -> Checker {
        self.allow_thread_panics = allow;
        self
    }

    /// Explores `f` and reports the first failure, if any.
    #[must_use = "the Report says whether a failure was found; `check` panics on one instead"]
    pub fn run<F: Fn()>(&self, f: F) -> Report {
        let seed = self.effective_seed();
        let decider = Decider::for_strategy(&self.strategy, seed).unwrap_or_else(|| {
            panic!(
                "reel: the strategy '{}' is not one a Checker runs by itself: use \
                 Checker::run_with_scheduler",
                self.strategy
            )
        });
        self.explore(decider, seed, f)
    }

    /// Explores `f` with a scheduler of your own instead of the configured strategy; the
    /// other settings (iterations, step bound, stacks, panics) apply as for [`Checker::run`].
    /// The report's seed is the checker's, which your scheduler may or may not use.
    #[must_use = "the Report says whether a failure was found"]
    pub fn run_with_scheduler<F: Fn()>(&self, scheduler: Box<dyn Scheduler>, f: F) -> Report {
        self.explore(Decider::Scheduler(scheduler), self.effective_seed(), f)
    }

    /// The seed: REEL_SEED, else the one set, else one derived from the test's name.
    fn effective_seed(&self) -> u64 {
        env_u64("REEL_SEED")
            .or(self.seed)
            .unwrap_or_else(default_seed)
    }

    fn explore<F: Fn()>(&self, mut decider: Decider, seed: u64, f: F) -> Report {
        if let Some(report) = replay_from_env(&f, self.entry()) {
            return report;
        }
        if let Some(report) = minimize::from_env(&f, self.entry()) {
            return report;
        }
        let iterations = env_u64("REEL_ITERATIONS")
            .map(|iterations| usize::try_from(iterations).unwrap_or(usize::MAX))
            .unwrap_or(self.iterations);
        let strategy = decider.strategy();
        let panic_policy = if self.allow_thread_panics {
            PanicPolicy::ToJoin
        } else {
            PanicPolicy::AnyThreadFails
        };
        let check_determinism = self.check_determinism || env_flag("REEL_CHECK_DETERMINISM");
        let mut body = || {
            // A panic of main fails the execution (noted inside); nothing else to do with it.
            let _ = execution::run_program(&f);
        };
        let config = ExecutionConfig {
            max_steps: Some(self.max_steps),
            stack_bytes: self.stack_bytes,
            panic_policy,
            spin_limit: None,
            print_panics: false,
            clock: Clock::new_virtual(),
            // The clock is virtual, but a real blocking call still freezes the kernel
            // thread: the watchdog measures real time.
            watch: execution::WatchSettings {
                time_slice: None,
                stall: crate::runtime::watchdog::env_millis("REEL_STALL_MS")
                    .unwrap_or(self.stall_threshold),
            },
            fail_on_stall: self.fail_on_stall,
        };
        let trace_dir = program::trace_dir(self.trace_dir.as_deref());
        let test = self.entry();
        let mut recorder = (self.record || check_determinism).then(|| {
            let run = RunDescription {
                strategy: strategy.to_string(),
                seed: Some(seed),
                iteration: None,
            };
            let crash_prefix = trace_dir.join(program::trace_file_prefix(test.as_deref(), seed));
            let mut header = program::header(run, &config);
            header.program.entry = test.clone();
            Box::new(Recorder::in_memory(header, &crash_prefix))
        });
        // Withdrawn however the loop ends, so a later plain run is not reported as explored.
        struct WithdrawContext;
        impl Drop for WithdrawContext {
            fn drop(&mut self) {
                overflow::set_exploration(None);
            }
        }
        let _withdraw = WithdrawContext;
        let mut observers: Vec<Box<dyn Observer>> = Vec::with_capacity(1);
        let mut explored = 0;
        let mut exhausted = false;
        for iteration in 1..=iterations {
            let scheduler = decider
                .scheduler_mut()
                .expect("an exploration's decider is a strategy");
            if scheduler.exhausted() {
                exhausted = true;
                break;
            }
            overflow::set_exploration(Some(ExplorationContext { seed, iteration }));
            scheduler.begin_execution(iteration);
            let run_strategy = scheduler.describe_execution();
            explored = iteration;
            if let Some(mut recorder) = recorder.take() {
                recorder.header_mut().run.iteration = Some(iteration as u64);
                if let Some(run_strategy) = run_strategy {
                    recorder.header_mut().run.strategy = run_strategy;
                }
                recorder.begin_execution();
                // Boxed, the recorder does not move while the handlers may read it.
                recorder.begin_emergency();
                observers.push(recorder);
            }
            let outcome = execution::run_execution(&mut body, decider, observers, config.clone());
            decider = outcome.decider;
            if let Some(scheduler) = decider.scheduler_mut() {
                scheduler.end_execution(outcome.steps);
            }
            observers = outcome.observers;
            if let Some(returned) = observers.pop() {
                recorder = Some(
                    returned
                        .into_any()
                        .downcast::<Recorder>()
                        .expect("the exploration's recorder comes back"),
                );
            }
            let mut failure = outcome.failure;
            if check_determinism && let Some(recorder) = &mut recorder {
                let first = FirstRun {
                    failure: &failure,
                    completed_once: outcome.completed_once,
                };
                if let Some(nondeterminism) = rerun(recorder, &mut body, &config, first) {
                    failure = Some(nondeterminism);
                }
            }
            if let Some(failure) = failure {
                let saved = match &mut recorder {
                    Some(recorder) if self.record => {
                        let name = program::trace_file_name(test.as_deref(), seed, iteration);
                        let path = trace_dir.join(name);
                        Some(
                            recorder
                                .write_to(&path)
                                .map(|()| path.clone())
                                .map_err(|error| format!("{}: {error}", path.display())),
                        )
                    }
                    _ => None,
                };
                let trace = saved.clone().and_then(Result::ok);
                let minimized = match &trace {
                    Some(path) if self.minimize || env_flag("REEL_MINIMIZE_FOUND") => {
                        Some(minimize::found(&mut body, path))
                    }
                    _ => None,
                };
                return Report {
                    test_name: test_name(),
                    strategy,
                    seed,
                    iterations: iteration,
                    iteration: Some(iteration),
                    failure: Some(failure),
                    trace,
                    trace_error: saved.and_then(Result::err),
                    replayed: None,
                    exhausted: false,
                    minimized,
                };
            }
        }
        Report {
            test_name: test_name(),
            strategy,
            seed,
            iterations: explored,
            iteration: None,
            failure: None,
            trace: None,
            trace_error: None,
            replayed: None,
            exhausted,
            minimized: None,
        }
    }

    /// Explores `f` and panics with the report on the first failure.
    #[track_caller]
    pub fn check<F: Fn()>(&self, f: F) {
        let report = self.run(f);
        if report.found() {
            panic!("{report}");
        }
    }
}

/// The result of an exploration.
#[derive(Clone, Debug)]
pub struct Report {
    /// The strategy used (its spelling: "random", "pct(depth 3)", a custom scheduler's name).
    pub strategy: Strategy,
    /// The seed the exploration ran with.
    pub seed: u64,
    /// How many executions ran.
    pub iterations: usize,
    /// The 1-based execution that failed first, if one did.
    pub iteration: Option<usize>,
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// The test that explored, when run by the test harness (which names its threads after
    /// the tests).
    pub test_name: Option<String>,
    /// Where the failing execution's trace was saved.
    pub trace: Option<PathBuf>,
    /// Why it could not be saved, if it could not.
    pub trace_error: Option<String>,
    /// The trace this report comes from, when REEL_REPLAY replayed one instead of exploring.
    pub replayed: Option<PathBuf>,
    /// Whether the strategy ran out of schedules before the iterations did: every schedule
    /// it can tell apart was explored.
    pub exhausted: bool,
    /// The shrunk schedule of the failure and where it was saved, or why it could not be
    /// shrunk ([`Checker::minimize`], or REEL_MINIMIZE).
    pub minimized: Option<Result<(Minimized, PathBuf), String>>,
}

impl Report {
    /// Whether a failure was found.
    pub fn found(&self) -> bool {
        self.failure.is_some()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (None, Some(minimized)) = (&self.failure, &self.minimized) {
            return minimize::describe(f, minimized);
        }
        match (&self.failure, self.iteration, &self.replayed) {
            (Some(failure), _, Some(path)) => {
                writeln!(
                    f,
                    "reel replayed {} ({}) and reproduced its failure:",
                    path.display(),
                    self.strategy
                )?;
                write!(f, "{failure}")
            }
            (Some(failure), Some(iteration), None) => {
                writeln!(
                    f,
                    "reel found a failure in execution {iteration} of the exploration \
                     (strategy {}, seed {:#x})",
                    self.strategy, self.seed
                )?;
                write!(f, "{failure}")?;
                let rerun = match &self.test_name {
                    Some(test) => format!(" cargo test {test} -- --exact"),
                    None => String::new(),
                };
                writeln!(
                    f,
                    "reproduce: REEL_SEED={:#x} REEL_ITERATIONS={iteration}{rerun} \
                     (the same seed gives the same schedules)",
                    self.seed
                )?;
                if let Some(path) = &self.trace {
                    let text = path.display().to_string();
                    let command = match &self.test_name {
                        Some(test) => format!("cargo test {} -- --exact", shell_word(test)),
                        None => std::env::args()
                            .map(|arg| shell_word(&arg))
                            .collect::<Vec<_>>()
                            .join(" "),
                    };
                    let quoted = shell_word(&text);
                    writeln!(f, "trace saved: {text}")?;
                    writeln!(f, "replay it:   reel replay {quoted}")?;
                    writeln!(f, "debug it:    reel debug {quoted}")?;
                    writeln!(
                        f,
                        "  (or, without the reel command: REEL_REPLAY={quoted} {command})"
                    )?;
                }
                if let Some(error) = &self.trace_error {
                    writeln!(f, "the trace could not be saved: {error}")?;
                }
                if let Some(minimized) = &self.minimized {
                    minimize::describe(f, minimized)?;
                }
                Ok(())
            }
            (None, _, Some(path)) => writeln!(
                f,
                "reel replayed {} ({}): the run ends without a failure, as recorded",
                path.display(),
                self.strategy
            ),
            _ if self.exhausted => writeln!(
                f,
                "reel explored all {} schedules{} (strategy {}) and found no failure",
                self.iterations,
                bounds(&self.strategy),
                self.strategy
            ),
            _ => writeln!(
                f,
                "reel explored {} executions (strategy {}, seed {:#x}) and found no failure",
                self.iterations, self.strategy, self.seed
            ),
        }
    }
}

/// The bounds of a bounded search, as " with at most 2 preemptions", or "".
fn bounds(strategy: &Strategy) -> String {
    let Strategy::Dfs {
        preemptions,
        delays,
    } = strategy
    else {
        return String::new();
    };
    let plural = |count: usize, what: &str| match count {
        1 => format!("1 {what}"),
        count => format!("{count} {what}s"),
    };
    match (preemptions, delays) {
        (None, None) => String::new(),
        (Some(preemptions), None) => {
            format!(" with at most {}", plural(*preemptions, "preemption"))
        }
        (None, Some(delays)) => format!(" with at most {}", plural(*delays, "delay")),
        (Some(preemptions), Some(delays)) => format!(
            " with at most {} and {}",
            plural(*preemptions, "preemption"),
            plural(*delays, "delay")
        ),
    }
}

/// `word` as a shell reads it back: as it is when it needs no quoting, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"/._-+:=,@%".contains(&byte));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What the determinism self-check knows of the first run of an execution.
struct FirstRun<'a> {
    failure: &'a Option<Failure>,
    /// A Once's initialiser completed: a `static` one stays completed for the second run,
    /// which then legitimately takes another path at it.
    completed_once: bool,
}

/// The determinism self-check: replays the execution just recorded and returns a
/// nondeterminism failure if the replay leaves the trace, or takes one of its steps from
/// another place in the code (the same binary, so another path).
fn rerun(
    recorder: &mut Recorder,
    body: &mut dyn FnMut(),
    config: &ExecutionConfig,
    first: FirstRun<'_>,
) -> Option<Failure> {
    let bytes = recorder.trace_bytes();
    let replay = Replay::from_bytes(&bytes).expect("a trace just recorded decodes");
    let report = replay.run_body(body, config.clone(), None);
    let difference = match &report.result {
        ReplayResult::Diverged(_) if first.completed_once && report.diverged_at_once => {
            // Not a verdict either way: the second run saw the Once completed by the first.
            return None;
        }
        ReplayResult::Diverged(divergence) => (divergence.step, divergence.to_string()),
        ReplayResult::Reproduced | ReplayResult::EndOfTrace => {
            let moved = report.moved.first()?;
            (
                moved.first_step,
                format!(
                    "at step {} the first run was at {} and the second at {}",
                    moved.first_step, moved.recorded, moved.now
                ),
            )
        }
    };
    let first = match first.failure {
        Some(failure) => format!(" (the first run ended with a {})", failure.kind),
        None => String::new(),
    };
    Some(Failure::new(
        FailureKind::Nondeterminism,
        difference.0,
        format!(
            "the same schedule, run twice, went two ways{first}: {}",
            difference.1
        ),
    ))
}

/// Whether `replay`'s trace was recorded by the check `entry`; if not, says on standard error
/// that `variable` (which named it at `path`) is left alone here.
pub(crate) fn recorded_by(
    replay: &Replay,
    variable: &str,
    path: &std::path::Path,
    entry: &Option<String>,
) -> bool {
    let recorded = &replay.trace().header.program.entry;
    if recorded == entry {
        return true;
    }
    eprintln!(
        "reel: {variable}={} is a trace of {}; {} explores as usual",
        path.display(),
        recorded.as_deref().unwrap_or("a program's main"),
        entry.as_deref().unwrap_or("this program")
    );
    false
}

/// The executions before the recorded one ran in the recording process and may have left
/// state behind (a completed `static` OnceLock, a global counter): runs them again, from the
/// trace's strategy and seed, so that this process is in the same state.
pub(crate) fn restore_process_state(body: &mut dyn FnMut(), replay: &Replay) {
    let run = &replay.trace().header.run;
    if let (Some(iteration), Some(seed)) = (run.iteration, run.seed)
        && iteration > 1
    {
        let earlier = usize::try_from(iteration - 1).unwrap_or(usize::MAX);
        let strategy = Strategy::parse(&run.strategy);
        rerun_earlier_executions(body, &strategy, seed, earlier, replay);
    }
}

/// REEL_REPLAY: replays the named trace instead of exploring, if it was recorded by this
/// test. Panics with a clear message if it cannot be read or the replay diverges.
fn replay_from_env<F: Fn()>(f: &F, entry: Option<String>) -> Option<Report> {
    let path = crate::env_path("REEL_REPLAY")?;
    let replay = Replay::from_env_path(&path).for_entry(entry.clone());
    if !recorded_by(&replay, "REEL_REPLAY", &path, &entry) {
        return None;
    }
    let header = &replay.trace().header;
    let this_test = entry;
    let strategy = Strategy::parse(&header.run.strategy);
    let seed = header.run.seed.unwrap_or(0);
    let iteration = header.run.iteration.map(|iteration| iteration as usize);
    let mut body = || {
        let _ = execution::run_program(f);
    };
    restore_process_state(&mut body, &replay);
    let report = replay.run_body(&mut body, replay.config(), crate::debug::attach());
    if !report.reproduced() {
        panic!("{report}");
    }
    for note in report
        .moved
        .iter()
        .map(ToString::to_string)
        .chain(report.notes.clone())
    {
        eprintln!("reel: note: {note}");
    }
    Some(Report {
        strategy,
        seed,
        iterations: 1,
        iteration: report.failure.as_ref().and(iteration.or(Some(1))),
        failure: report.failure,
        test_name: this_test,
        trace: Some(path.clone()),
        trace_error: None,
        replayed: Some(path),
        exhausted: false,
        minimized: None,
    })
}

/// The most executions re-run before a REEL_REPLAY (an exploration's iteration count).
const MAX_RERUN_EXECUTIONS: usize = 10_000_000;

/// Runs executions `1..=count` of the exploration a trace came from (without recording), so
/// that whatever they leave behind in the process is there for the replay of the next one.
fn rerun_earlier_executions(
    body: &mut dyn FnMut(),
    strategy: &Strategy,
    seed: u64,
    count: usize,
    replay: &Replay,
) {
    if count > MAX_RERUN_EXECUTIONS {
        eprintln!(
            "reel: note: the trace is of execution {} of its exploration; reel re-runs at \
             most {MAX_RERUN_EXECUTIONS} executions before a replay, so it replays this one \
             alone",
            count + 1
        );
        return;
    }
    let Some(mut decider) = Decider::for_strategy(strategy, seed) else {
        eprintln!(
            "reel: note: the trace's strategy '{strategy}' is not one reel can run again, so \
             the {count} executions before it are not re-run before the replay"
        );
        return;
    };
    let mut config = replay.config();
    config.print_panics = false;
    for iteration in 1..=count {
        if let Some(scheduler) = decider.scheduler_mut() {
            scheduler.begin_execution(iteration);
        }
        let outcome = execution::run_execution(body, decider, Vec::new(), config.clone());
        decider = outcome.decider;
        if let Some(scheduler) = decider.scheduler_mut() {
            scheduler.end_execution(outcome.steps);
        }
        if let Some(failure) = outcome.failure {
            eprintln!(
                "reel: note: re-running the executions before the recorded one, execution \
                 {iteration} failed ({}), which it did not when recorded: the program depends \
                 on something outside reel",
                failure.kind
            );
            return;
        }
    }
}

/// Whether an environment variable is set to something other than "", "0" or "false".
fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| !matches!(value.trim(), "" | "0" | "false"))
}

/// Explores `f` under `iterations` random schedules; panics with a report on a failure.
#[track_caller]
pub fn check_random<F: Fn()>(f: F, iterations: usize) {
    Checker::new().random().iterations(iterations).check(f);
}

/// Explores `f` under `iterations` PCT schedules for bugs of depth `depth`; panics with a
/// report on a failure.
#[track_caller]
pub fn check_pct<F: Fn()>(f: F, iterations: usize, depth: usize) {
    Checker::new().pct(depth).iterations(iterations).check(f);
}

/// Explores every schedule of `f` by depth-first search, with at most `preemption_bound`
/// preemptions in each (`None`: any number); panics with a report on a failure. The search
/// stops when every schedule has been tried (or at `REEL_ITERATIONS`).
#[track_caller]
pub fn check_dfs<F: Fn()>(f: F, preemption_bound: Option<usize>) {
    Checker::new().dfs(preemption_bound).check(f);
}

/// Reads a u64 from the environment, decimal or 0x-hex. A malformed value is a usage error.
fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    match parsed {
        Ok(value) => Some(value),
        Err(error) => panic!("reel: {name}={text:?} is not a number (decimal or 0x-hex): {error}"),
    }
}

/// The running test's name: libtest runs each test on a thread named after it; a program's
/// own main thread is called "main".
fn test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_owned)
}

/// A seed derived from the running test's name (libtest names its threads after the test),
/// so each test explores its own schedules and reruns are reproducible.
fn default_seed() -> u64 {
    let name = std::thread::current().name().unwrap_or("reel").to_owned();
    // FNV-1a: stable across Rust versions, unlike std's hasher.
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("/t/a-b_c.reel"), "/t/a-b_c.reel");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
