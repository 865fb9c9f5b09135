//! Shrinking a found failure's schedule: fewer (or as many) preemptions, the same failure,
//! and a trace that replays to it; bad requests to shrink are clear errors.

use std::path::PathBuf;

use reel::minimize::{DEFAULT_MINIMIZE_RUNS, MinimizeError};
use reel::reel_trace::{self, Event};
use reel::sync::Arc;
use reel::sync::Mutex;
use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::thread;
use reel::{Checker, FailureKind, Replay, ReplayResult, Strategy};

fn trace_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reel-minimize-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A lost update among three workers, each of which also takes a lock a few times: random
/// schedules fail with many preemptions, but one preemption is enough.
fn lost_update() {
    let counter = Arc::new(AtomicUsize::new(0));
    let noise = Arc::new(Mutex::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let counter = Arc::clone(&counter);
            let noise = Arc::clone(&noise);
            thread::spawn(move || {
                for _ in 0..3 {
                    *noise.lock().unwrap() += 1;
                }
                let seen = counter.load(Ordering::SeqCst);
                counter.store(seen + 1, Ordering::SeqCst);
                for _ in 0..2 {
                    *noise.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), 3, "an update was lost");
}

/// The number of preemptions in a trace's schedule, counted the way the shrinker does.
fn preemptions(path: &PathBuf) -> usize {
    let trace = reel_trace::read_file(path).unwrap();
    let steps: Vec<_> = trace
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Step(step) => Some(*step),
            _ => None,
        })
        .collect();
    steps
        .windows(2)
        .filter(|pair| pair[0].thread != pair[1].thread && !pair[0].op.gives_way())
        .count()
}

#[test]
fn a_found_failure_shrinks_to_fewer_preemptions_and_replays_to_it() {
    let dir = trace_dir("found");
    let mut shrunk_below = 0;
    for seed in 1..=5u64 {
        let report = Checker::new()
            .strategy(Strategy::Random)
            .seed(seed)
            .iterations(2_000)
            .trace_dir(&dir)
            .minimize(true)
            .run(lost_update);
        let failure = report
            .failure
            .as_ref()
            .expect("random finds the lost update");
        assert_eq!(failure.kind, FailureKind::Panic);
        let trace = report.trace.clone().expect("the trace is saved");
        let (minimized, out) = report
            .minimized
            .clone()
            .expect("the report has the shrink")
            .expect("the schedule shrinks");
        assert!(
            minimized.after <= minimized.before,
            "{minimized}: the shrunk schedule is no larger"
        );
        assert!(minimized.after.preemptions <= minimized.before.preemptions);
        assert_eq!(minimized.before.preemptions, preemptions(&trace));
        assert_eq!(minimized.after.preemptions, preemptions(&out));
        // A lost update needs one preemption of the reader between its load and its store;
        // the greedy search may keep one more for the others to run in between.
        assert!(
            minimized.after.preemptions <= 2,
            "{minimized}: a lost update needs at most two preemptions"
        );
        if minimized.after.preemptions < minimized.before.preemptions {
            shrunk_below += 1;
        }
        assert!(report.to_string().contains("shrunk:"), "{report}");
        let replay = Replay::from_file(&out).unwrap();
        let replayed = replay.run(lost_update).unwrap();
        assert_eq!(replayed.result, ReplayResult::Reproduced, "{replayed}");
        let again = replayed.failure.expect("the shrunk trace fails");
        assert_eq!(again.kind, FailureKind::Panic);
        assert_eq!(
            again.location, failure.location,
            "the same place in the code"
        );
    }
    assert!(
        shrunk_below > 0,
        "random schedules of three workers have more preemptions than the bug needs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trace_without_a_failure_cannot_be_shrunk() {
    let dir = trace_dir("ok");
    let path = dir.join("ok.reel");
    let report = Checker::new()
        .seed(3)
        .iterations(1)
        .trace_dir(&dir)
        .check_determinism(true)
        .run(|| {
            let handle = thread::spawn(|| {});
            handle.join().unwrap();
        });
    assert!(!report.found());
    // No trace is saved for a passing run: record one by hand with a plain recording.
    reel::Runtime::new().record(&path).run(|| {
        thread::spawn(|| {}).join().unwrap();
    });
    let replay = Replay::from_file(&path).unwrap();
    let error = replay.minimize(|| {}, DEFAULT_MINIMIZE_RUNS).unwrap_err();
    assert!(matches!(error, MinimizeError::NoFailure), "{error}");
    assert!(error.to_string().contains("did not fail"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_program_that_no_longer_fails_is_not_shrunk() {
    let dir = trace_dir("changed");
    let report = Checker::new()
        .seed(1)
        .iterations(2_000)
        .trace_dir(&dir)
        .run(lost_update);
    let trace = report.trace.expect("the trace is saved");
    let replay = Replay::from_file(&trace).unwrap();
    // The same steps with the bug fixed: the run no longer fails at the recorded place.
    let error = replay
        .minimize(
            || {
                let counter = Arc::new(AtomicUsize::new(0));
                let _ = counter.fetch_add(1, Ordering::SeqCst);
            },
            10,
        )
        .unwrap_err();
    assert!(matches!(error, MinimizeError::NotReproduced(_)), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}
