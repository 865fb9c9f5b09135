//! One kernel thread's explorer: its scheduler and recorder, running the executions it is
//! given, and the determinism self-check.

use std::path::PathBuf;

use reel_trace::{Header, SignalArrival};

use crate::recording::recorder::Recorder;
use crate::replay::{Replay, ReplayResult};
use crate::runtime::execution::{self, ExecutionConfig};
use crate::runtime::failure::{Failure, FailureKind};
use crate::runtime::overflow::{self, ExplorationContext};
use crate::runtime::seams::{Decider, Observer};
use crate::scheduler::Scheduler;
use crate::signal::explore::SignalExplorer;

/// What every execution of one exploration shares, whichever kernel thread runs it.
pub(super) struct Plan {
    pub(super) seed: u64,
    pub(super) config: ExecutionConfig,
    /// The header of every recorded execution (its iteration and strategy filled in per
    /// execution); `None` when nothing is recorded.
    pub(super) header: Option<Header>,
    /// Where an execution that crashes the process is saved (`<prefix>-<iteration>.reel`).
    pub(super) crash_prefix: PathBuf,
    pub(super) check_determinism: bool,
    /// Whether a failing execution's trace is kept for the report.
    pub(super) keep_trace: bool,
    /// Where a failing execution's trace is saved.
    pub(super) trace_dir: PathBuf,
    /// The explored signals' arrivals, before execution 1 taught it their window.
    pub(super) signals: SignalExplorer,
}

/// A failing execution.
pub(super) struct Found {
    /// Its 1-based number in the exploration.
    pub(super) iteration: usize,
    /// What went wrong.
    pub(super) failure: Failure,
    /// Its trace, when executions are recorded and traces kept.
    pub(super) trace: Option<Vec<u8>>,
    /// The signals that arrived in it, when signals are explored and executions recorded.
    pub(super) signals: Vec<SignalArrival>,
}

/// One kernel thread's explorer: a scheduler of the exploration's strategy and seed, and
/// its own recorder. Lives on one kernel thread (its recorder is published to that thread's
/// fatal-signal handlers while an execution runs).
pub(super) struct Explorer<'plan> {
    plan: &'plan Plan,
    /// Taken by each execution and given back at its end.
    decider: Option<Decider>,
    recorder: Option<Box<Recorder>>,
    /// This explorer's plan of signal arrivals (what execution 1 taught it included).
    signals: SignalExplorer,
}

impl<'plan> Explorer<'plan> {
    /// An explorer whose scheduler is `decider` (a strategy's).
    pub(super) fn new(plan: &'plan Plan, decider: Decider) -> Explorer<'plan> {
        let recorder = plan
            .header
            .clone()
            .map(|header| Box::new(Recorder::in_memory(header, &plan.crash_prefix)));
        Explorer {
            plan,
            decider: Some(decider),
            recorder,
            signals: plan.signals.clone(),
        }
    }

    /// The scheduler.
    pub(super) fn scheduler(&mut self) -> &mut dyn Scheduler {
        self.decider
            .as_mut()
            .and_then(Decider::scheduler_mut)
            .expect("an exploration's decider is a strategy")
    }

    /// Runs execution 1 only to let the scheduler learn what it learns there, unrecorded;
    /// its outcome is not this explorer's to report (it belongs to another kernel thread's
    /// or shard's share).
    pub(super) fn calibrate(&mut self, body: &mut dyn FnMut()) {
        let _ = self.execute(body, 1, false);
    }

    /// Runs execution `iteration` (recorded if the plan says so) and returns its failure.
    pub(super) fn run(&mut self, body: &mut dyn FnMut(), iteration: usize) -> Option<Found> {
        let record = self.recorder.is_some();
        let (failure, completed_once) = self.execute(body, iteration, record);
        let mut failure = failure;
        if self.plan.check_determinism
            && let Some(recorder) = &mut self.recorder
        {
            let first = FirstRun {
                failure: &failure,
                completed_once,
            };
            if let Some(nondeterminism) = rerun(recorder, body, &self.plan.config, first) {
                failure = Some(nondeterminism);
            }
        }
        let failure = failure?;
        let trace = match &mut self.recorder {
            Some(recorder) if self.plan.keep_trace => Some(recorder.trace_bytes()),
            _ => None,
        };
        let signals = match &mut self.recorder {
            Some(recorder) if self.signals.any() => arrivals(recorder),
            _ => Vec::new(),
        };
        Some(Found {
            iteration,
            failure,
            trace,
            signals,
        })
    }

    /// Runs one execution; returns its failure and whether it completed a Once.
    fn execute(
        &mut self,
        body: &mut dyn FnMut(),
        iteration: usize,
        record: bool,
    ) -> (Option<Failure>, bool) {
        overflow::set_exploration(Some(ExplorationContext {
            seed: self.plan.seed,
            iteration,
        }));
        let scheduler = self.scheduler();
        scheduler.begin_execution(iteration);
        let run_strategy = scheduler.describe_execution();
        let mut observers: Vec<Box<dyn Observer>> = Vec::with_capacity(1);
        if record && let Some(mut recorder) = self.recorder.take() {
            recorder.header_mut().run.iteration = Some(iteration as u64);
            if let Some(run_strategy) = run_strategy {
                recorder.header_mut().run.strategy = run_strategy;
            }
            recorder.begin_execution();
            // Boxed, the recorder does not move while the handlers may read it.
            recorder.begin_emergency();
            observers.push(recorder);
        }
        let decider = self.decider.take().expect("the decider is back");
        let config = self.signals.config_for(&self.plan.config, iteration);
        let config = crate::rand::for_iteration(&config, self.plan.seed, iteration);
        let outcome = execution::run_execution(body, decider, observers, config);
        self.signals.learn(iteration, outcome.steps);
        let mut decider = outcome.decider;
        if let Some(scheduler) = decider.scheduler_mut() {
            scheduler.end_execution(outcome.steps);
        }
        self.decider = Some(decider);
        let mut observers = outcome.observers;
        if let Some(returned) = observers.pop() {
            self.recorder = Some(
                returned
                    .into_any()
                    .downcast::<Recorder>()
                    .expect("the exploration's recorder comes back"),
            );
        }
        (outcome.failure, outcome.completed_once)
    }
}

/// Withdrawn however the explorer ends, so a later plain run on this kernel thread is not
/// reported as explored.
impl Drop for Explorer<'_> {
    fn drop(&mut self) {
        overflow::set_exploration(None);
    }
}

/// The signal arrivals of the execution the recorder just recorded.
fn arrivals(recorder: &mut Recorder) -> Vec<SignalArrival> {
    reel_trace::decode(&recorder.trace_bytes())
        .map(|trace| trace.signal_arrivals().copied().collect())
        .unwrap_or_default()
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
