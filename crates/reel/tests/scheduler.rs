//! Custom schedulers: the `Scheduler` trait is an oracle a user can implement and hand to
//! `Checker::run_with_scheduler`.

use reel::scheduler::{Decision, Scheduler};
use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::{Arc, Barrier};
use reel::thread::{self, ThreadId};
use reel::{Checker, FailureKind, Report};

/// Switches at every step to the newest other runnable thread: maximally interleaving.
struct AlwaysSwitch;

impl Scheduler for AlwaysSwitch {
    fn begin_execution(&mut self, _iteration: usize) {}

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        let others = decision
            .runnable
            .iter()
            .filter(|&thread| Some(thread) != decision.current);
        others.last().or(decision.current).unwrap()
    }

    fn describe(&self) -> String {
        "always switch".to_owned()
    }
}

/// Always runs the runnable thread with the lowest id: threads run one after another.
struct LowestFirst;

impl Scheduler for LowestFirst {
    fn begin_execution(&mut self, _iteration: usize) {}

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        decision.runnable.iter().next().unwrap()
    }

    fn describe(&self) -> String {
        "lowest first".to_owned()
    }
}

/// Two threads, released together by a barrier, increment a counter with a load, then a
/// store.
fn lost_update() {
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let counter = counter.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let seen = counter.load(Ordering::SeqCst);
                counter.store(seen + 1, Ordering::SeqCst);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), 2, "an update was lost");
}

/// Checks that `report` found the lost update itself: main's final assertion failing with one
/// increment seen, not some other failure (a deadlock, a panic elsewhere).
fn assert_found_the_lost_update(report: &Report) {
    let failure = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("no failure found: {report}"));
    assert_eq!(failure.kind, FailureKind::Panic, "{report}");
    let thread = failure.thread.as_ref().expect("a panic names its thread");
    assert_eq!(thread.name.as_deref(), Some("main"), "{report}");
    assert!(
        failure
            .message
            .starts_with("assertion `left == right` failed: an update was lost"),
        "{report}"
    );
    assert!(
        failure.message.contains("left: 1\n"),
        "both threads read 0: {report}"
    );
    let location = failure.location.as_ref().expect("a panic has a location");
    assert!(location.file.ends_with("scheduler.rs"), "{report}");
    assert!(
        failure.cycle.is_empty() && failure.blocked.is_empty(),
        "{report}"
    );
}

#[test]
fn a_custom_scheduler_that_interleaves_finds_the_lost_update_at_once() {
    let report = Checker::new()
        .iterations(5)
        .run_with_scheduler(Box::new(AlwaysSwitch), lost_update);
    assert_found_the_lost_update(&report);
    assert_eq!(report.iteration, Some(1));
    assert_eq!(report.strategy, "always switch");
    assert!(report.to_string().contains("always switch"), "{report}");
}

#[test]
fn a_custom_scheduler_that_never_interleaves_finds_nothing() {
    let report = Checker::new()
        .iterations(5)
        .run_with_scheduler(Box::new(LowestFirst), lost_update);
    assert!(!report.found(), "{report}");
    assert_eq!(report.iterations, 5);
    assert_eq!(report.strategy, "lowest first");
}

#[test]
fn a_report_says_how_to_rerun_the_test_that_found_it() {
    let report = Checker::new()
        .iterations(5)
        .run_with_scheduler(Box::new(AlwaysSwitch), lost_update);
    assert_found_the_lost_update(&report);
    assert_eq!(
        report.test_name.as_deref(),
        Some("a_report_says_how_to_rerun_the_test_that_found_it")
    );
    let text = report.to_string();
    assert!(
        text.contains(&format!(
            "REEL_SEED={:#x} REEL_ITERATIONS=1 cargo test \
             a_report_says_how_to_rerun_the_test_that_found_it -- --exact",
            report.seed
        )),
        "{text}"
    );
}
