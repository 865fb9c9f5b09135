//! Exploring a program until its first bug: with a reel strategy ([`on_reel`]) or a shuttle
//! scheduler ([`on_shuttle`]), counting the schedules run.

use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use reel::{Checker, FailureKind, Strategy};
use shuttle::scheduler::{
    PctScheduler, RandomScheduler, Schedule, Scheduler, Task, TaskId, UrwRandomScheduler,
};

use crate::{Bug, Program};

/// The step bound of one execution, on both runtimes (reel's default; shuttle's is ten times
/// more): going past it is a failure, but not the program's bug.
pub const MAX_STEPS: u64 = reel::DEFAULT_MAX_STEPS;

/// How an exploration ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The program's bug, in this 1-based schedule.
    Found {
        /// Schedules run, the failing one included.
        schedules: usize,
    },
    /// Another failure (a step bound, a panic where a deadlock was due), in this schedule.
    Other {
        /// Schedules run, the failing one included.
        schedules: usize,
        /// What it was.
        failure: String,
    },
    /// No failure in this many schedules.
    NotFound {
        /// Schedules run.
        schedules: usize,
    },
}

impl Outcome {
    /// The schedules to the program's bug, if it was found.
    pub fn found(&self) -> Option<usize> {
        match self {
            Outcome::Found { schedules } => Some(*schedules),
            _ => None,
        }
    }

    /// Reads back what [`fmt::Display`] writes (one line: `found N`, `other N WHAT`,
    /// `none N`).
    pub fn parse(line: &str) -> Option<Outcome> {
        let mut words = line.trim().splitn(3, ' ');
        let (tag, schedules) = (words.next()?, words.next()?.parse().ok()?);
        match (tag, words.next()) {
            ("found", None) => Some(Outcome::Found { schedules }),
            ("none", None) => Some(Outcome::NotFound { schedules }),
            ("other", Some(failure)) => Some(Outcome::Other {
                schedules,
                failure: failure.to_owned(),
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Found { schedules } => write!(f, "found {schedules}"),
            Outcome::Other { schedules, failure } => {
                write!(f, "other {schedules} {}", failure.replace('\n', " "))
            }
            Outcome::NotFound { schedules } => write!(f, "none {schedules}"),
        }
    }
}

/// Whether a reel failure is the program's bug: a panic, or a deadlock (whole or partial:
/// reel reports a cycle as soon as it closes, shuttle only once no thread can run).
fn is_bug(bug: Bug, kind: FailureKind) -> bool {
    match bug {
        Bug::Panic => kind == FailureKind::Panic,
        Bug::Deadlock => matches!(kind, FailureKind::Deadlock | FailureKind::PartialDeadlock),
    }
}

/// Explores `program` on reel with `strategy` and `seed`, for at most `cap` schedules, with no
/// recording.
pub fn on_reel(program: &Program, strategy: &Strategy, seed: u64, cap: usize) -> Outcome {
    explore_on_reel(program.reel, program.bug, strategy, seed, cap)
}

/// Explores `main` (a program's bug or fixed version) on reel, its failures judged as `bug`.
pub fn explore_on_reel(
    main: fn(),
    bug: Bug,
    strategy: &Strategy,
    seed: u64,
    cap: usize,
) -> Outcome {
    let report = Checker::new()
        .strategy(strategy.clone())
        .seed(seed)
        .iterations(cap)
        .max_steps(MAX_STEPS)
        .record(false)
        .name("reel-bugs")
        .run(main);
    match (report.failure, report.iteration) {
        (Some(failure), Some(schedules)) if is_bug(bug, failure.kind) => {
            Outcome::Found { schedules }
        }
        (Some(failure), iteration) => Outcome::Other {
            schedules: iteration.unwrap_or(report.iterations),
            failure: failure.kind.to_string(),
        },
        (None, _) => Outcome::NotFound {
            schedules: report.iterations,
        },
    }
}

/// A shuttle scheduler of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShuttleStrategy {
    /// `RandomScheduler`: a random walk.
    Random,
    /// `PctScheduler` with this depth.
    Pct(usize),
    /// `UrwRandomScheduler`: a uniform random walk (its first execution estimates).
    Urw,
}

impl ShuttleStrategy {
    /// Every one the benchmark runs.
    pub const ALL: [ShuttleStrategy; 3] = [
        ShuttleStrategy::Random,
        ShuttleStrategy::Pct(3),
        ShuttleStrategy::Urw,
    ];

    /// Reads back what [`fmt::Display`] writes.
    pub fn parse(text: &str) -> Option<ShuttleStrategy> {
        ShuttleStrategy::ALL
            .into_iter()
            .find(|strategy| strategy.to_string() == text)
    }
}

impl fmt::Display for ShuttleStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShuttleStrategy::Random => f.write_str("shuttle random"),
            ShuttleStrategy::Pct(depth) => write!(f, "shuttle pct(depth {depth})"),
            ShuttleStrategy::Urw => f.write_str("shuttle urw"),
        }
    }
}

/// A shuttle scheduler that counts the executions it starts.
struct Counting<S> {
    inner: S,
    executions: Rc<Cell<usize>>,
}

impl<S: Scheduler> Scheduler for Counting<S> {
    fn new_execution(&mut self) -> Option<Schedule> {
        let schedule = self.inner.new_execution();
        if schedule.is_some() {
            self.executions.set(self.executions.get() + 1);
        }
        schedule
    }

    fn next_task(
        &mut self,
        runnable_tasks: &[&Task],
        current_task: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        self.inner
            .next_task(runnable_tasks, current_task, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
}

/// Explores `program` on shuttle with `strategy` and `seed`, for at most `cap` schedules.
///
/// A failing execution is a panic out of shuttle's runner, caught here; the panic hook is
/// left as it is (shuttle prints the failing schedule), so a caller that wants silence
/// sets its own hook. Run it once per process: shuttle's state after a failed execution is
/// not meant to be reused.
pub fn on_shuttle(program: &Program, strategy: ShuttleStrategy, seed: u64, cap: usize) -> Outcome {
    explore_on_shuttle(program.shuttle, program.bug, strategy, seed, cap)
}

/// Explores `main` (a program's bug or fixed version) on shuttle, its failures judged as
/// `bug`.
pub fn explore_on_shuttle(
    main: fn(),
    bug: Bug,
    strategy: ShuttleStrategy,
    seed: u64,
    cap: usize,
) -> Outcome {
    let executions = Rc::new(Cell::new(0));
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::None;
    config.max_steps = shuttle::MaxSteps::FailAfter(MAX_STEPS as usize);
    config.silence_warnings = true;
    let result = match strategy {
        ShuttleStrategy::Random => {
            let inner = RandomScheduler::new_from_seed(seed, cap);
            run_shuttle(inner, &executions, config, main)
        }
        ShuttleStrategy::Pct(depth) => {
            let inner = PctScheduler::new_from_seed(seed, depth, cap);
            run_shuttle(inner, &executions, config, main)
        }
        ShuttleStrategy::Urw => {
            let inner = UrwRandomScheduler::new_from_seed(seed, cap);
            run_shuttle(inner, &executions, config, main)
        }
    };
    let schedules = executions.get();
    match result {
        Ok(()) => Outcome::NotFound { schedules },
        Err(message) => {
            let deadlock = message.contains("deadlock");
            let step_bound = message.contains("exceeded max_steps");
            let is_bug = match bug {
                Bug::Panic => !deadlock && !step_bound,
                Bug::Deadlock => deadlock,
            };
            if is_bug {
                Outcome::Found { schedules }
            } else {
                let failure = if deadlock {
                    "deadlock"
                } else if step_bound {
                    "step bound exceeded"
                } else {
                    "panic"
                };
                Outcome::Other {
                    schedules,
                    failure: failure.to_owned(),
                }
            }
        }
    }
}

/// Runs shuttle's runner with `inner` wrapped in a counter; a failure comes back as its panic
/// message.
fn run_shuttle<S: Scheduler + 'static>(
    inner: S,
    executions: &Rc<Cell<usize>>,
    config: shuttle::Config,
    main: fn(),
) -> Result<(), String> {
    let scheduler = Counting {
        inner,
        executions: Rc::clone(executions),
    };
    let runner = shuttle::Runner::new(scheduler, config);
    panic::catch_unwind(AssertUnwindSafe(|| {
        runner.run(main);
    }))
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
            })
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::{Outcome, ShuttleStrategy};

    #[test]
    fn outcomes_and_shuttle_strategies_read_back() {
        for outcome in [
            Outcome::Found { schedules: 17 },
            Outcome::NotFound { schedules: 10_000 },
            Outcome::Other {
                schedules: 3,
                failure: "step bound exceeded".to_owned(),
            },
        ] {
            assert_eq!(Outcome::parse(&outcome.to_string()), Some(outcome));
        }
        assert_eq!(Outcome::parse("found"), None);
        assert_eq!(Outcome::parse("found x"), None);
        assert_eq!(Outcome::parse("other 3"), None);
        for strategy in ShuttleStrategy::ALL {
            assert_eq!(
                ShuttleStrategy::parse(&strategy.to_string()),
                Some(strategy)
            );
        }
        assert_eq!(ShuttleStrategy::parse("shuttle dfs"), None);
    }
}
