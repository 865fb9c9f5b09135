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

/// Runs the lowest runnable thread, and has only `left` schedules to give.
struct Countdown {
    left: usize,
}

impl Scheduler for Countdown {
    fn begin_execution(&mut self, _iteration: usize) {
        self.left -= 1;
    }

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        decision.runnable.iter().next().unwrap()
    }

    fn describe(&self) -> String {
        "countdown".to_owned()
    }

    fn exhausted(&self) -> bool {
        self.left == 0
    }
}

#[test]
fn a_scheduler_that_runs_out_of_schedules_ends_the_exploration() {
    let report =
        Checker::new()
            .iterations(100)
            .run_with_scheduler(Box::new(Countdown { left: 3 }), || {
                thread::spawn(|| {}).join().unwrap();
            });
    assert!(!report.found(), "{report}");
    assert!(report.exhausted);
    assert_eq!(report.iterations, 3);
    assert_eq!(report.strategy, "countdown");
    let text = report.to_string();
    assert!(
        text.contains("explored all 3 schedules (strategy countdown)"),
        "{text}"
    );
}

/// Notes, at each decision, what every runnable thread is about to do.
struct Watcher {
    seen: std::rc::Rc<std::cell::RefCell<Vec<Vec<reel::scheduler::Step>>>>,
}

impl Scheduler for Watcher {
    fn begin_execution(&mut self, _iteration: usize) {}

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        let next: Vec<_> = decision
            .runnable
            .iter()
            .map(|thread| {
                decision
                    .next_step(thread)
                    .expect("a runnable thread exists")
            })
            .collect();
        self.seen.borrow_mut().push(next);
        // Hold back threads paused at a lock while another can run: both workers get to
        // their lock before either takes it.
        let at_lock = |thread: ThreadId| {
            decision
                .next_step(thread)
                .is_some_and(|step| step.op == reel::scheduler::Op::Lock)
        };
        decision
            .runnable
            .iter()
            .find(|&thread| !at_lock(thread))
            .or_else(|| decision.runnable.iter().next())
            .unwrap()
    }

    fn describe(&self) -> String {
        "watcher".to_owned()
    }
}

#[test]
fn a_decision_shows_what_each_runnable_thread_is_about_to_do() {
    use reel::scheduler::Op;
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let report = Checker::new().iterations(1).run_with_scheduler(
        Box::new(Watcher { seen: seen.clone() }),
        || {
            let lock = Arc::new(reel::sync::Mutex::new(0));
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let lock = lock.clone();
                    thread::spawn(move || *lock.lock().unwrap() += 1)
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
        },
    );
    assert!(!report.found(), "{report}");
    let seen = seen.borrow();
    // A thread not started yet is about to start: a spawn with no object.
    assert!(
        seen.iter()
            .flatten()
            .any(|step| step.op == Op::Spawn && step.object.is_none()),
        "{seen:?}"
    );
    // At some decision both workers are paused at their lock of the same mutex: a race a
    // strategy can see (same object, and a lock writes).
    let racing = seen.iter().find(|next| {
        let locks: Vec<_> = next.iter().filter(|step| step.op == Op::Lock).collect();
        locks.len() == 2 && locks[0].object.is_some() && locks[0].object == locks[1].object
    });
    assert!(
        racing.is_some(),
        "no decision saw both workers at the lock: {seen:?}"
    );
    assert!(Op::Lock.writes() && !Op::AtomicLoad.writes());
}
