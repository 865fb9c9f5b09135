//! Reproducing from the environment: REEL_REPLAY replays a trace in the check that recorded
//! it, after re-running the executions before the recorded one.

use super::Report;
use crate::replay::Replay;
use crate::runtime::execution;
use crate::runtime::seams::Decider;
use crate::scheduler::Strategy;
use crate::signal::explore::SignalExplorer;

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
/// trace's strategy and seed, so that this process is in the same state. A shrunk schedule
/// (`minimize(S)`) was recorded after the failing execution too: that one is re-run as well.
pub(crate) fn restore_process_state(body: &mut dyn FnMut(), replay: &Replay) {
    let run = &replay.trace().header.run;
    let (Some(iteration), Some(seed)) = (run.iteration, run.seed) else {
        return;
    };
    let iteration = usize::try_from(iteration).unwrap_or(usize::MAX);
    let (strategy, earlier, last_fails) = match Strategy::parse(&run.strategy) {
        Strategy::Minimized { from } => (*from, iteration, true),
        strategy => (strategy, iteration.saturating_sub(1), false),
    };
    if earlier > 0 {
        rerun_earlier_executions(body, &strategy, seed, (earlier, last_fails), replay);
    }
}

/// REEL_REPLAY: replays the named trace instead of exploring, if it was recorded by this
/// test. Panics with a clear message if it cannot be read or the replay diverges.
pub(super) fn replay_from_env(f: &dyn Fn(), entry: Option<String>) -> Option<Report> {
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
        signals: replay.trace().signal_arrivals().copied().collect(),
        shard: None,
    })
}

/// The most executions re-run before a REEL_REPLAY (an exploration's iteration count).
const MAX_RERUN_EXECUTIONS: usize = 10_000_000;

/// Runs executions `1..=count` of the exploration a trace came from (without recording), so
/// that whatever they leave behind in the process is there for the replay of the next one.
/// `last_fails`: execution `count` is the failing one a shrunk schedule came from.
fn rerun_earlier_executions(
    body: &mut dyn FnMut(),
    strategy: &Strategy,
    seed: u64,
    (count, last_fails): (usize, bool),
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
    // The signals of the recorded execution came to every execution before it too.
    let mut signal_explorer = SignalExplorer::from_trace(replay.trace(), seed);
    for iteration in 1..=count {
        if let Some(scheduler) = decider.scheduler_mut() {
            scheduler.begin_execution(iteration);
        }
        let run_config = signal_explorer.config_for(&config, iteration);
        let run_config = crate::rand::for_iteration(&run_config, seed, iteration);
        let outcome = execution::run_execution(body, decider, Vec::new(), run_config);
        signal_explorer.learn(iteration, outcome.steps);
        decider = outcome.decider;
        if let Some(scheduler) = decider.scheduler_mut() {
            scheduler.end_execution(outcome.steps);
        }
        if let Some(failure) = outcome.failure
            && !(last_fails && iteration == count)
        {
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
