//! Schedule exploration for tests: run a closure under many schedules, report the first
//! failure with everything needed to reproduce it.

mod explore;
mod parallel;
mod report;
mod reproduce;
mod shard;

pub use parallel::MAX_JOBS;
pub use report::Report;
pub(crate) use reproduce::{recorded_by, restore_process_state};
pub use shard::{MAX_SHARDS, Shard};

use std::path::{Path, PathBuf};

use explore::{Explorer, Plan};
use parallel::Parallel;
use reproduce::replay_from_env;
use shard::Share;

use crate::minimize;
use crate::recording::program::{self, RunDescription};
use crate::runtime::clock::Clock;
use crate::runtime::execution::{self, DEFAULT_STACK_BYTES, ExecutionConfig, PanicPolicy};
use crate::runtime::seams::Decider;
use crate::scheduler::{Scheduler, Strategy};
use crate::signal::explore::SignalExplorer;

/// Default bound on the steps of one explored execution.
pub const DEFAULT_MAX_STEPS: u64 = 100_000;

/// How long every thread of an execution may wait for I/O before the execution is a
/// deadlock, by default ([`Checker::io_patience`]).
pub const DEFAULT_IO_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Explores schedules of a closure and returns a [`Report`]; see [`check_random`],
/// [`check_pct`] and [`check_dfs`] for the panicking shorthands.
///
/// `REEL_SEED` and `REEL_ITERATIONS` in the environment override the seed and the number of
/// executions. Every execution is recorded in memory; the trace of a failing one is saved
/// to `target/reel/traces/<test>-<seed>-<iteration>.reel` (`REEL_TRACE_DIR` or
/// [`Checker::trace_dir`] choose another directory). `REEL_REPLAY=<trace>` replays that
/// trace instead of exploring, in the test that recorded it. `REEL_CHECK_DETERMINISM=1`
/// (or [`Checker::check_determinism`]) runs every execution twice and reports a
/// [`FailureKind::Nondeterminism`](crate::FailureKind::Nondeterminism) if the two differ.
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
    jobs: Option<usize>,
    shard: Option<Shard>,
    signals: Vec<crate::signal::c_int>,
    stall_threshold: Option<std::time::Duration>,
    fail_on_stall: bool,
    io_patience: Option<std::time::Duration>,
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
            signals: Vec::new(),
            jobs: None,
            shard: None,
            stall_threshold: Some(std::time::Duration::from_millis(
                crate::runtime::watchdog::DEFAULT_STALL_MS,
            )),
            fail_on_stall: false,
            io_patience: Some(DEFAULT_IO_PATIENCE),
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
    /// [`FailureKind::Nondeterminism`](crate::FailureKind::Nondeterminism) failure at the first step where they differ: the
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

    /// Runs the executions on `jobs` kernel threads, each with its own runtime and
    /// scheduler (default: REEL_JOBS, else the machine's cores). The report does not depend
    /// on it: it is the serial run's, the lowest failing iteration with its trace. A
    /// strategy whose executions follow from each other (DFS, a scheduler of your own) runs
    /// on one thread whatever this says. A check whose closure counts in process-wide
    /// statics, or depends on the order of the executions, says `jobs(1)`.
    ///
    /// # Panics
    /// If `jobs` is 0 or above [`MAX_JOBS`].
    pub fn jobs(mut self, jobs: usize) -> Checker {
        assert!(
            (1..=MAX_JOBS).contains(&jobs),
            "reel: Checker::jobs({jobs}): the number of kernel threads goes from 1 to {MAX_JOBS}"
        );
        self.jobs = Some(jobs);
        self
    }

    /// Runs only shard `index` of `count` of the iterations: iteration `i` belongs to shard
    /// `((i - 1) mod count) + 1`, so `count` processes with the shards 1 to `count` run
    /// exactly the iterations of one exploration between them (REEL_SHARD=K/N does the same
    /// for every check that does not call this). A strategy that learns from execution 1
    /// runs it first, unreported, on a shard it does not belong to; a strategy whose
    /// executions follow from each other (DFS) is explored whole by shard 1 and not at all
    /// by the others.
    ///
    /// # Panics
    /// Unless `1 <= index <= count`.
    pub fn shard(mut self, index: usize, count: usize) -> Checker {
        let shard = Shard::new(index, count)
            .unwrap_or_else(|error| panic!("reel: Checker::shard: {error}"));
        self.shard = Some(shard);
        self
    }

    /// Sends `signal` to every execution, at a step the exploration chooses: execution 1
    /// gets it when every thread waits (or not at all if the program ends first), and each
    /// later one after a step drawn uniformly over execution 1's length (from the seed and
    /// the execution's number). An arrival before the program subscribes to the signal
    /// waits for the subscription. The failing execution's trace holds its arrivals, so
    /// REEL_REPLAY and `reel replay` reproduce them. A signal that cannot be handled
    /// (SIGKILL, ...; see [`crate::signal`]) makes [`Checker::run`] panic.
    pub fn signal(mut self, signal: crate::signal::c_int) -> Checker {
        self.signals.push(signal);
        self
    }

    /// Sends each of `signals` to every execution, each at its own chosen step (see
    /// [`Checker::signal`]).
    pub fn signals(mut self, signals: impl IntoIterator<Item = crate::signal::c_int>) -> Checker {
        self.signals.extend(signals);
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
    /// ready is reported on stderr and in the trace. Every kernel thread that runs
    /// executions ([`Checker::jobs`]) has a watchdog of its own.
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

    /// How long, in real time, every thread of an execution may wait for I/O (a socket, a
    /// file operation, a [`spawn_blocking`](crate::task::spawn_blocking) job) before the
    /// execution is reported as a [`Deadlock`](crate::FailureKind::Deadlock): two threads
    /// that each read from the other before writing wait for ever, and an exploration must
    /// not. Default 5 s; while a file operation or a helper job is in flight (a slow
    /// `fsync`, a long job), 15 times as long. `None` waits for ever.
    pub fn io_patience(mut self, patience: Option<std::time::Duration>) -> Checker {
        self.io_patience = patience;
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
    ///
    /// The executions run on [`Checker::jobs`] kernel threads when the strategy's executions
    /// are independent of each other (every built-in strategy but DFS); the report is the
    /// one a serial run gives whatever the timing: the lowest failing iteration, its trace
    /// and its report text.
    #[must_use = "the Report says whether a failure was found; `check` panics on one instead"]
    pub fn run<F: Fn() + Sync>(&self, f: F) -> Report {
        let seed = self.effective_seed();
        let decider = Decider::for_strategy(&self.strategy, seed).unwrap_or_else(|| {
            panic!(
                "reel: the strategy '{}' is not one a Checker runs by itself: use \
                 Checker::run_with_scheduler",
                self.strategy
            )
        });
        self.explore(decider, seed, &f, Some(&f))
    }

    /// Explores `f` with a scheduler of your own instead of the configured strategy; the
    /// other settings (iterations, step bound, stacks, panics) apply as for [`Checker::run`].
    /// The report's seed is the checker's, which your scheduler may or may not use. The
    /// executions run in order on this kernel thread, and under a shard (REEL_SHARD) only
    /// shard 1 runs them.
    #[must_use = "the Report says whether a failure was found"]
    pub fn run_with_scheduler<F: Fn()>(&self, scheduler: Box<dyn Scheduler>, f: F) -> Report {
        self.explore(
            Decider::Scheduler(scheduler),
            self.effective_seed(),
            &f,
            None,
        )
    }

    /// The seed: REEL_SEED, else the one set, else one derived from the test's name.
    fn effective_seed(&self) -> u64 {
        env_u64("REEL_SEED")
            .or(self.seed)
            .unwrap_or_else(default_seed)
    }

    /// Explores `f`; `shared` is `f` again when it may be called from several kernel
    /// threads at once.
    fn explore(
        &self,
        decider: Decider,
        seed: u64,
        f: &dyn Fn(),
        shared: Option<&(dyn Fn() + Sync)>,
    ) -> Report {
        if let Some(report) = replay_from_env(f, self.entry()) {
            return report;
        }
        if let Some(report) = minimize::from_env(f, self.entry()) {
            return report;
        }
        let iterations = env_u64("REEL_ITERATIONS")
            .map(|iterations| usize::try_from(iterations).unwrap_or(usize::MAX))
            .unwrap_or(self.iterations);
        let shard = self.shard.or_else(shard::from_env);
        let jobs = self.jobs.unwrap_or_else(parallel::default_jobs);
        let strategy = decider.strategy();
        let plan = self.plan(&strategy, seed);
        let test = self.entry();
        let mut explorer = Explorer::new(&plan, decider);
        let scheduler = explorer.scheduler();
        let independent = scheduler.independent_executions() && shared.is_some();
        // Execution 1 also sets the window in which explored signals arrive.
        let calibrate = scheduler.learns_from_first_execution() || !self.signals.is_empty();
        let mut body = || {
            // A panic of main fails the execution (noted inside); nothing else to do with it.
            let _ = execution::run_program(f);
        };
        let mut report = Report {
            test_name: test_name(),
            strategy: strategy.clone(),
            seed,
            iterations: 0,
            iteration: None,
            failure: None,
            trace: None,
            trace_error: None,
            replayed: None,
            exhausted: false,
            minimized: None,
            signals: Vec::new(),
            shard,
        };
        let share = match shard {
            Some(shard) if independent => shard.share(iterations),
            // Executions that follow from each other are not shared out: shard 1 runs them.
            Some(shard) if shard.index() != 1 => return report,
            _ => Share::all(iterations),
        };
        let mut found = None;
        let mut explored = 0;
        // Execution 1 first, on this thread: the others learn from it (or from a
        // calibration run of it, where it is not this shard's).
        let rest = if share.first == 1 && share.len > 0 {
            explored = 1;
            found = explorer.run(&mut body, 1);
            share.skip(1)
        } else {
            if calibrate && share.len > 0 && independent {
                explorer.calibrate(&mut body);
            }
            share
        };
        if found.is_none() {
            match shared {
                Some(shared) if independent && jobs > 1 && rest.len > 1 => {
                    let parallel = Parallel {
                        strategy: &strategy,
                        calibrate,
                        jobs: jobs.min(rest.len),
                    };
                    found = parallel::explore_share(&mut explorer, &plan, rest, &parallel, shared);
                    explored += rest.len;
                }
                _ => {
                    for position in 0..rest.len {
                        let Some(iteration) = rest.get(position) else {
                            break;
                        };
                        if explorer.scheduler().exhausted() {
                            report.exhausted = true;
                            break;
                        }
                        explored += 1;
                        found = explorer.run(&mut body, iteration);
                        if found.is_some() {
                            break;
                        }
                    }
                }
            }
        }
        drop(explorer);
        report.iterations = explored;
        let Some(found) = found else {
            return report;
        };
        // How many of this share's executions a serial run makes, up to the failure.
        report.iterations = (found.iteration - share.first) / share.stride + 1;
        report.iteration = Some(found.iteration);
        report.signals = found.signals;
        report.failure = Some(found.failure);
        if let Some(bytes) = found.trace {
            let name = program::trace_file_name(test.as_deref(), seed, found.iteration);
            let path = plan.trace_dir.join(name);
            match write_trace(&path, &bytes) {
                Ok(()) => report.trace = Some(path),
                Err(error) => report.trace_error = Some(format!("{}: {error}", path.display())),
            }
        }
        if let Some(path) = &report.trace
            && (self.minimize || env_flag("REEL_MINIMIZE_FOUND"))
        {
            let failure = report.failure.as_ref().expect("a failure was found");
            report.minimized = Some(minimize::found(&mut body, path, failure));
        }
        report
    }

    /// What every execution of an exploration with this strategy and seed shares.
    fn plan(&self, strategy: &Strategy, seed: u64) -> Plan {
        let check_determinism = self.check_determinism || env_flag("REEL_CHECK_DETERMINISM");
        let config = ExecutionConfig {
            max_steps: Some(self.max_steps),
            stack_bytes: self.stack_bytes,
            panic_policy: if self.allow_thread_panics {
                PanicPolicy::ToJoin
            } else {
                PanicPolicy::AnyThreadFails
            },
            spin_limit: None,
            print_panics: false,
            clock: Clock::new_virtual(),
            signals: execution::SignalSource::Planned(execution::SignalPlan::default()),
            random_seed: None,
            // The clock is virtual, but a real blocking call still freezes the kernel
            // thread: the watchdog measures real time.
            watch: execution::WatchSettings {
                time_slice: None,
                stall: crate::runtime::watchdog::env_millis("REEL_STALL_MS")
                    .unwrap_or(self.stall_threshold),
                replays_slices: false,
            },
            fail_on_stall: self.fail_on_stall,
            io_patience: self.io_patience,
            // DFS's schedules must repeat for it to extend their prefixes: no drawn timing.
            // Every other strategy's executions draw their own (`rand::for_iteration`).
            io_timing: (!matches!(strategy, Strategy::Dfs { .. })).then_some(seed),
        };
        let signals = SignalExplorer::new(&self.signals, seed)
            .unwrap_or_else(|error| panic!("reel: Checker::signal: {error}"));
        let trace_dir = program::trace_dir(self.trace_dir.as_deref());
        let test = self.entry();
        let crash_prefix = trace_dir.join(program::trace_file_prefix(test.as_deref(), seed));
        let header = (self.record || check_determinism).then(|| {
            let run = RunDescription {
                strategy: strategy.to_string(),
                seed: Some(seed),
                iteration: None,
            };
            let mut header = program::header(run, &config);
            header.program.entry = test;
            header
        });
        Plan {
            seed,
            config,
            header,
            crash_prefix,
            check_determinism,
            keep_trace: self.record,
            trace_dir,
            signals,
        }
    }

    /// Explores `f` and panics with the report on the first failure.
    #[track_caller]
    pub fn check<F: Fn() + Sync>(&self, f: F) {
        let report = self.run(f);
        if report.found() {
            panic!("{report}");
        }
    }
}

/// Saves a trace, making its directory if needed.
fn write_trace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

/// Whether an environment variable is set to something other than "", "0" or "false".
fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| !matches!(value.trim(), "" | "0" | "false"))
}

/// Explores `f` under `iterations` random schedules; panics with a report on a failure.
#[track_caller]
pub fn check_random<F: Fn() + Sync>(f: F, iterations: usize) {
    Checker::new().random().iterations(iterations).check(f);
}

/// Explores `f` under `iterations` PCT schedules for bugs of depth `depth`; panics with a
/// report on a failure.
#[track_caller]
pub fn check_pct<F: Fn() + Sync>(f: F, iterations: usize, depth: usize) {
    Checker::new().pct(depth).iterations(iterations).check(f);
}

/// Explores every schedule of `f` by depth-first search, with at most `preemption_bound`
/// preemptions in each (`None`: any number); panics with a report on a failure. The search
/// stops when every schedule has been tried (or at `REEL_ITERATIONS`).
#[track_caller]
pub fn check_dfs<F: Fn() + Sync>(f: F, preemption_bound: Option<usize>) {
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
