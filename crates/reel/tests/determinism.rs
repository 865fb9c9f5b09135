//! Determinism of exploration: the same seed gives the same report and the same schedules,
//! different seeds give different schedules, the default seed comes from the test thread's name,
//! and the REEL_SEED / REEL_ITERATIONS environment variables override a check's settings.

use std::process::Command;
use std::sync::Mutex as StdMutex;

use reel::sync::Arc;
use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::thread;
use reel::{Checker, FailureKind, Report};

/// Schedules observed by `logged_program`, as (iteration marker or thread, step) entries.
type ScheduleLog = Arc<StdMutex<Vec<(usize, usize)>>>;

/// Three threads each record three steps into `log` (a std mutex outside reel, only observed),
/// yielding between steps, so the log is the interleaving the scheduler chose.
fn logged_program(log: &ScheduleLog) {
    log.lock().unwrap().push((usize::MAX, 0));
    let workers: Vec<_> = (0..3)
        .map(|who| {
            let log = log.clone();
            thread::spawn(move || {
                for step in 0..3 {
                    log.lock().unwrap().push((who, step));
                    thread::yield_now();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

/// Runs `logged_program` under a random checker with `seed` and returns everything it logged.
fn random_schedules(seed: u64, iterations: usize) -> Vec<(usize, usize)> {
    let log: ScheduleLog = Arc::new(StdMutex::new(Vec::new()));
    let report = {
        let log = log.clone();
        // One kernel thread: the log is in the order of the executions, which parallel
        // explorers would run (and log) at once.
        Checker::new()
            .random()
            .seed(seed)
            .iterations(iterations)
            .jobs(1)
            .run(move || logged_program(&log))
    };
    assert!(!report.found(), "{report}");
    assert_eq!(report.seed, seed);
    log.lock().unwrap().clone()
}

/// Runs `logged_program` under a PCT checker with `seed` and returns everything it logged.
fn pct_schedules(seed: u64, iterations: usize) -> Vec<(usize, usize)> {
    let log: ScheduleLog = Arc::new(StdMutex::new(Vec::new()));
    let report = {
        let log = log.clone();
        // One kernel thread, as in `random_schedules`.
        Checker::new()
            .pct(3)
            .seed(seed)
            .iterations(iterations)
            .jobs(1)
            .run(move || logged_program(&log))
    };
    assert!(!report.found(), "{report}");
    log.lock().unwrap().clone()
}

/// A lost-update race that exploration finds after some iterations.
fn lost_update_program() {
    let counter = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let counter = counter.clone();
            thread::spawn(move || {
                let seen = counter.load(Ordering::SeqCst);
                thread::yield_now();
                counter.store(seen + 1, Ordering::SeqCst);
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), 3, "lost update");
}

/// Checks that `report` found the lost update itself: main's final assertion, one or two of
/// the three increments lost (not a deadlock or another panic).
fn assert_found_the_lost_update(report: &Report) {
    let failure = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("the lost update was never found: {report}"));
    assert_eq!(failure.kind, FailureKind::Panic, "{report}");
    assert_eq!(
        failure
            .thread
            .as_ref()
            .and_then(|thread| thread.name.as_deref()),
        Some("main"),
        "{report}"
    );
    assert!(
        failure
            .message
            .starts_with("assertion `left == right` failed: lost update"),
        "{report}"
    );
    assert!(
        failure.message.contains("left: 1\n") || failure.message.contains("left: 2\n"),
        "{report}"
    );
}

/// Checks that two reports describe the same failure at the same point.
fn assert_same_report(first: &Report, second: &Report) {
    assert!(first.found() && second.found(), "{first}\n{second}");
    assert_eq!(first.seed, second.seed);
    assert_eq!(first.iteration, second.iteration);
    assert_eq!(first.iterations, second.iterations);
    let (a, b) = (
        first.failure.as_ref().unwrap(),
        second.failure.as_ref().unwrap(),
    );
    assert_eq!(
        std::mem::discriminant(&a.kind),
        std::mem::discriminant(&b.kind)
    );
    assert_eq!(a.step, b.step);
    assert_eq!(a.message, b.message);
    assert_eq!(
        a.thread.as_ref().map(|t| t.name.clone()),
        b.thread.as_ref().map(|t| t.name.clone())
    );
    assert_eq!(first.to_string(), second.to_string());
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let run = || {
        Checker::new()
            .random()
            .seed(0xfeed)
            .iterations(1000)
            .run(lost_update_program)
    };
    let first = run();
    let second = run();
    assert_found_the_lost_update(&first);
    assert_same_report(&first, &second);
}

#[test]
fn the_same_seed_gives_the_same_report_under_pct() {
    let run = || {
        Checker::new()
            .pct(2)
            .seed(99)
            .iterations(1000)
            .run(lost_update_program)
    };
    let first = run();
    let second = run();
    assert_found_the_lost_update(&first);
    assert_same_report(&first, &second);
}

#[test]
fn a_reported_seed_replays_the_failure() {
    // The default seed is whatever the checker chose; the report's seed must reproduce it.
    let first = Checker::new().iterations(1000).run(lost_update_program);
    assert_found_the_lost_update(&first);
    let replay = Checker::new()
        .seed(first.seed)
        .iterations(1000)
        .run(lost_update_program);
    assert_same_report(&first, &replay);
}

#[test]
fn the_same_seed_gives_the_same_schedules() {
    assert_eq!(random_schedules(7, 30), random_schedules(7, 30));
    assert_eq!(pct_schedules(7, 30), pct_schedules(7, 30));
}

#[test]
fn different_seeds_give_different_schedules() {
    let baseline = random_schedules(1, 10);
    assert!(
        (2..10).any(|seed| random_schedules(seed, 10) != baseline),
        "eight other seeds all produced exactly the schedules of seed 1"
    );
    let pct_baseline = pct_schedules(1, 10);
    assert!(
        (2..10).any(|seed| pct_schedules(seed, 10) != pct_baseline),
        "eight other seeds all produced exactly the PCT schedules of seed 1"
    );
}

#[test]
fn iterations_within_one_check_explore_different_schedules() {
    let entries = random_schedules(3, 20);
    let executions: Vec<&[(usize, usize)]> = entries
        .split(|entry| entry.0 == usize::MAX)
        .filter(|execution| !execution.is_empty())
        .collect();
    assert_eq!(executions.len(), 20);
    assert!(
        executions
            .iter()
            .any(|execution| *execution != executions[0]),
        "twenty executions all had the same interleaving"
    );
}

/// The seed a default-seeded checker picks when run on a std thread called `name`.
fn default_seed_on_thread_named(name: &str) -> u64 {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(|| Checker::new().iterations(1).run(|| {}).seed)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn the_default_seed_is_derived_from_the_test_thread_name() {
    let first = default_seed_on_thread_named("some_module::some_test");
    let again = default_seed_on_thread_named("some_module::some_test");
    let other = default_seed_on_thread_named("some_module::another_test");
    assert_eq!(first, again);
    assert_ne!(first, other);
    // Within one test the default is stable too.
    let here = Checker::new().iterations(1).run(|| {}).seed;
    assert_eq!(here, Checker::new().iterations(1).run(|| {}).seed);
}

/// Set in a child process to make `reel_seed_and_iterations_are_read_from_the_environment` act as
/// the child instead of spawning one.
const CHILD_MARKER: &str = "REEL_TEST_DETERMINISM_CHILD";

/// Runs this very test in a child process with the given environment and returns its stdout.
fn run_child(test_name: &str, environment: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_MARKER, "1")
        .env_remove("REEL_SEED")
        .env_remove("REEL_ITERATIONS");
    for (key, value) in environment {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// The value printed by the child after `key=` on a line of its own.
fn child_value<'a>(stdout: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("child printed no {key}:\n{stdout}"))
}

#[test]
fn reel_seed_and_iterations_are_read_from_the_environment() {
    const TEST_NAME: &str = "reel_seed_and_iterations_are_read_from_the_environment";
    if std::env::var_os(CHILD_MARKER).is_some() {
        // Child: report what the checker actually used, each fact on a line of its own (the
        // first line would otherwise share the test harness's "test ... " line).
        println!();
        let log: ScheduleLog = Arc::new(StdMutex::new(Vec::new()));
        let report = {
            let log = log.clone();
            // One kernel thread, as in `random_schedules`, whose log this one is compared to.
            Checker::new()
                .random()
                .iterations(3)
                .jobs(1)
                .run(move || logged_program(&log))
        };
        println!("seed={}", report.seed);
        println!("iterations={}", report.iterations);
        println!("schedules={:?}", log.lock().unwrap());
        let explicit = Checker::new().seed(1).iterations(2).run(|| {});
        println!("explicit_seed={}", explicit.seed);
        println!("explicit_iterations={}", explicit.iterations);
        return;
    }

    let decimal = run_child(TEST_NAME, &[("REEL_SEED", "12345")]);
    assert_eq!(child_value(&decimal, "seed"), "12345", "{decimal}");
    assert_eq!(child_value(&decimal, "iterations"), "3", "{decimal}");
    // The environment overrides even an explicitly chosen seed.
    assert_eq!(child_value(&decimal, "explicit_seed"), "12345", "{decimal}");
    // The child's schedules are those of seed 12345 chosen in code.
    let expected = format!("{:?}", random_schedules(12345, 3));
    assert_eq!(child_value(&decimal, "schedules"), expected);

    let hex = run_child(TEST_NAME, &[("REEL_SEED", "0x3039")]);
    assert_eq!(child_value(&hex, "seed"), "12345", "{hex}");
    assert_eq!(
        child_value(&hex, "schedules"),
        child_value(&decimal, "schedules")
    );

    let iterations = run_child(TEST_NAME, &[("REEL_ITERATIONS", "7")]);
    assert_eq!(child_value(&iterations, "iterations"), "7", "{iterations}");
    assert_eq!(
        child_value(&iterations, "explicit_iterations"),
        "7",
        "{iterations}"
    );
}

/// Set in a child process to make `a_failure_replays_in_a_new_process` act as the child.
const REPLAY_CHILD_MARKER: &str = "REEL_TEST_REPLAY_CHILD";

/// Explores `lost_update_program` with whatever seed and iterations the environment gives.
fn explore_lost_update() -> Report {
    Checker::new().random().run(lost_update_program)
}

#[test]
fn a_failure_replays_in_a_new_process() {
    const TEST_NAME: &str = "a_failure_replays_in_a_new_process";
    if std::env::var_os(REPLAY_CHILD_MARKER).is_some() {
        let report = explore_lost_update();
        let failure = report.failure.as_ref().expect("the replay must fail too");
        println!();
        println!("iteration={}", report.iteration.unwrap());
        println!("step={}", failure.step);
        println!("message={}", failure.message.lines().next().unwrap_or(""));
        return;
    }

    // Record: find the failure in this process with a chosen seed.
    let recorded = Checker::new()
        .random()
        .seed(0x5eed)
        .iterations(1000)
        .run(lost_update_program);
    assert_found_the_lost_update(&recorded);
    let failure = recorded.failure.as_ref().unwrap();
    let iteration = recorded.iteration.unwrap();

    // Replay in a fresh process, as the report's "reproduce:" line says.
    let seed = format!("{:#x}", recorded.seed);
    let iterations = iteration.to_string();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(REPLAY_CHILD_MARKER, "1")
        .env("REEL_SEED", &seed)
        .env("REEL_ITERATIONS", &iterations);
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "replay failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(child_value(&stdout, "iteration"), iterations, "{stdout}");
    assert_eq!(
        child_value(&stdout, "step"),
        failure.step.to_string(),
        "{stdout}"
    );
    assert_eq!(
        child_value(&stdout, "message"),
        failure.message.lines().next().unwrap_or(""),
        "{stdout}"
    );
    // The report's own reproduction hint names the same seed and iteration.
    let text = recorded.to_string();
    assert!(text.contains(&seed), "{text}");
}
