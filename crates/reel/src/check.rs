//! Schedule exploration for tests: run a closure under many schedules, report the first
//! failure with everything needed to reproduce it.

use std::fmt;

use crate::runtime::clock::Clock;
use crate::runtime::execution::{self, DEFAULT_STACK_BYTES, ExecutionConfig, PanicPolicy};
use crate::runtime::failure::Failure;
use crate::runtime::overflow::{self, ExplorationContext};
use crate::scheduler::{PctScheduler, RandomScheduler, Scheduler};

/// Default bound on the steps of one explored execution.
pub const DEFAULT_MAX_STEPS: u64 = 100_000;

/// How schedules are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Uniformly random among runnable threads at every scheduling point.
    Random,
    /// Probabilistic concurrency testing for bugs of the given depth.
    Pct {
        /// The bug depth d: how many ordering constraints the bug needs (d-1 change points).
        depth: usize,
    },
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Random => write!(f, "random"),
            Strategy::Pct { depth } => write!(f, "pct (depth {depth})"),
        }
    }
}

/// Explores schedules of a closure and returns a [`Report`]; see [`check_random`] and
/// [`check_pct`] for the panicking shorthands.
///
/// `REEL_SEED` and `REEL_ITERATIONS` in the environment override the seed and the number of
/// executions.
#[derive(Clone, Debug)]
pub struct Checker {
    strategy: Strategy,
    iterations: usize,
    seed: Option<u64>,
    max_steps: u64,
    stack_bytes: usize,
    allow_thread_panics: bool,
}

impl Default for Checker {
    fn default() -> Checker {
        Checker::new()
    }
}

impl Checker {
    /// Random exploration, 100 executions, a seed derived from the test's name.
    pub fn new() -> Checker {
        Checker {
            strategy: Strategy::Random,
            iterations: 100,
            seed: None,
            max_steps: DEFAULT_MAX_STEPS,
            stack_bytes: DEFAULT_STACK_BYTES,
            allow_thread_panics: false,
        }
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
        let scheduler: Box<dyn Scheduler> = match self.strategy {
            Strategy::Random => Box::new(RandomScheduler::new(seed)),
            Strategy::Pct { depth } => Box::new(PctScheduler::new(depth, seed)),
        };
        self.explore(scheduler, seed, f)
    }

    /// Explores `f` with a scheduler of your own instead of the configured strategy; the
    /// other settings (iterations, step bound, stacks, panics) apply as for [`Checker::run`].
    /// The report's seed is the checker's, which your scheduler may or may not use.
    #[must_use = "the Report says whether a failure was found"]
    pub fn run_with_scheduler<F: Fn()>(&self, scheduler: Box<dyn Scheduler>, f: F) -> Report {
        self.explore(scheduler, self.effective_seed(), f)
    }

    /// The seed: REEL_SEED, else the one set, else one derived from the test's name.
    fn effective_seed(&self) -> u64 {
        env_u64("REEL_SEED")
            .or(self.seed)
            .unwrap_or_else(default_seed)
    }

    fn explore<F: Fn()>(&self, mut scheduler: Box<dyn Scheduler>, seed: u64, f: F) -> Report {
        let iterations = env_u64("REEL_ITERATIONS")
            .map(|iterations| usize::try_from(iterations).unwrap_or(usize::MAX))
            .unwrap_or(self.iterations);
        let strategy = scheduler.describe();
        let panic_policy = if self.allow_thread_panics {
            PanicPolicy::ToJoin
        } else {
            PanicPolicy::AnyThreadFails
        };
        let mut body = || {
            // A panic of main fails the execution (noted inside); nothing else to do with it.
            let _ = execution::run_program(&f);
        };
        // Withdrawn however the loop ends, so a later plain run is not reported as explored.
        struct WithdrawContext;
        impl Drop for WithdrawContext {
            fn drop(&mut self) {
                overflow::set_exploration(None);
            }
        }
        let _withdraw = WithdrawContext;
        for iteration in 1..=iterations {
            overflow::set_exploration(Some(ExplorationContext { seed, iteration }));
            scheduler.begin_execution(iteration);
            let config = ExecutionConfig {
                max_steps: Some(self.max_steps),
                stack_bytes: self.stack_bytes,
                panic_policy,
                spin_limit: None,
                print_panics: false,
                clock: Clock::new_virtual(),
            };
            let outcome = execution::run_execution(&mut body, scheduler, config);
            scheduler = outcome.scheduler;
            scheduler.end_execution(outcome.steps);
            if let Some(failure) = outcome.failure {
                return Report {
                    test_name: test_name(),
                    strategy,
                    seed,
                    iterations: iteration,
                    iteration: Some(iteration),
                    failure: Some(failure),
                };
            }
        }
        Report {
            test_name: test_name(),
            strategy,
            seed,
            iterations,
            iteration: None,
            failure: None,
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
    /// The strategy used, as its scheduler describes itself (e.g. "random", "pct(depth 3)").
    pub strategy: String,
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
}

impl Report {
    /// Whether a failure was found.
    pub fn found(&self) -> bool {
        self.failure.is_some()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.failure, self.iteration) {
            (Some(failure), Some(iteration)) => {
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
                )
            }
            _ => writeln!(
                f,
                "reel explored {} executions (strategy {}, seed {:#x}) and found no failure",
                self.iterations, self.strategy, self.seed
            ),
        }
    }
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
