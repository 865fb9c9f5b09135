//! Parallel and sharded exploration: on several kernel threads, or split among processes,
//! an exploration reports what a serial one does (the same first failure, its trace and its
//! report), and the shards together run exactly the serial run's iterations.

mod child;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex as StdMutex;

use reel::reel_trace::{self, Event, Trace};
use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::{Arc, Mutex};
use reel::{Checker, Report, Strategy, thread};

/// A fresh directory for one test's traces.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("parallel")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A lost update that needs one thread's read and write to straddle the other's, among
/// enough unrelated steps that few schedules find it.
fn rare_lost_update() {
    let counter = Arc::new(AtomicUsize::new(0));
    let noise = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let counter = Arc::clone(&counter);
            let noise = Arc::clone(&noise);
            thread::spawn(move || {
                for _ in 0..6 {
                    noise.fetch_add(1, Ordering::Relaxed);
                }
                let seen = counter.load(Ordering::SeqCst);
                noise.fetch_add(1, Ordering::Relaxed);
                counter.store(seen + 1, Ordering::SeqCst);
                for _ in 0..6 {
                    noise.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), 2, "an update was lost");
}

/// Two threads take two locks in opposite orders, after some work of their own.
fn lock_order_deadlock() {
    let first = Arc::new(Mutex::new(0));
    let second = Arc::new(Mutex::new(0));
    let other = {
        let (first, second) = (Arc::clone(&first), Arc::clone(&second));
        thread::spawn(move || {
            for _ in 0..4 {
                thread::yield_now();
            }
            let _second = second.lock().unwrap();
            *first.lock().unwrap() += 1;
        })
    };
    for _ in 0..4 {
        thread::yield_now();
    }
    let _first = first.lock().unwrap();
    *second.lock().unwrap() += 1;
    drop(_first);
    other.join().unwrap();
}

/// What a trace says, without what differs between any two recordings (the time, the
/// process and kernel thread ids): the run's strategy, seed and iteration, the threads, the
/// objects and every event, with each step's location spelt out.
fn essence(trace: &Trace) -> String {
    let run = &trace.header.run;
    let mut text = format!(
        "{} seed {:?} iteration {:?}\nthreads {:?}\nobjects {:?}\n",
        run.strategy, run.seed, run.iteration, trace.threads, trace.objects
    );
    for event in &trace.events {
        match event {
            Event::Step(step) => {
                let (file, line, column) = trace.location(step.location);
                text.push_str(&format!(
                    "T{} {:?} {:?} at {file}:{line}:{column}\n",
                    step.thread, step.op, step.object
                ));
            }
            other => text.push_str(&format!("{other:?}\n")),
        }
    }
    text.push_str(&format!("{:?}\n", trace.outcome));
    text
}

/// Explores `program` with `checker` and returns the report, its text and, when it found a
/// failure, its trace.
fn explore(checker: &Checker, program: fn()) -> (Report, String, Option<Trace>) {
    let report = checker.run(program);
    let trace = report.failure.as_ref().map(|_| {
        let path = report
            .trace
            .as_ref()
            .expect("the failing execution's trace is saved");
        reel_trace::read_file(path).unwrap()
    });
    let text = report.to_string();
    (report, text, trace)
}

#[test]
fn parallel_exploration_reports_the_serial_runs_first_failure() {
    let dir = scratch("same_failure");
    let programs: [(&str, fn()); 2] = [
        ("lost update", rare_lost_update),
        ("deadlock", lock_order_deadlock),
    ];
    let strategies = [
        Strategy::Random,
        Strategy::Pct { depth: 3 },
        Strategy::Urw,
        Strategy::Surw,
        Strategy::Pos,
        Strategy::Portfolio,
    ];
    let mut latest = 0;
    let mut found = 0;
    for (name, program) in programs {
        for strategy in &strategies {
            for seed in [1, 7] {
                let checker = Checker::new()
                    .strategy(strategy.clone())
                    .seed(seed)
                    .iterations(2_000)
                    .trace_dir(&dir);
                let (serial, serial_text, serial_trace) =
                    explore(&checker.clone().jobs(1), program);
                found += usize::from(serial.found());
                latest = latest.max(serial.iteration.unwrap_or(0));
                for jobs in [2, 3] {
                    let (parallel, text, trace) = explore(&checker.clone().jobs(jobs), program);
                    let what = format!("{name}, {strategy}, seed {seed}, {jobs} threads");
                    assert_eq!(parallel.iteration, serial.iteration, "{what}");
                    assert_eq!(parallel.iterations, serial.iterations, "{what}");
                    assert_eq!(text, serial_text, "{what}");
                    assert_eq!(
                        trace.as_ref().map(essence),
                        serial_trace.as_ref().map(essence),
                        "{what}"
                    );
                }
            }
        }
    }
    // Most explorations fail, some late enough that the threads shared out executions
    // before finding the failure.
    assert!(
        found >= 18,
        "only {found} of 24 explorations found their bug"
    );
    assert!(latest > 6, "every failure was found by execution {latest}");
}

/// The schedules an exploration ran, each as the order in which two threads appended to a
/// list, with how often each appeared: a fingerprint of each execution's schedule.
fn fingerprints(checker: &Checker) -> (Report, BTreeMap<Vec<usize>, usize>) {
    let seen = StdMutex::new(BTreeMap::new());
    let report = checker.run(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..3)
            .map(|worker| {
                let order = Arc::clone(&order);
                thread::spawn(move || {
                    for _ in 0..3 {
                        order.lock().unwrap().push(worker);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let order = order.lock().unwrap().clone();
        *seen.lock().unwrap().entry(order).or_insert(0) += 1;
    });
    assert!(!report.found(), "{report}");
    (report, seen.into_inner().unwrap())
}

#[test]
fn shards_together_run_exactly_the_serial_runs_executions() {
    for strategy in [Strategy::Random, Strategy::Pos] {
        let checker = Checker::new()
            .strategy(strategy.clone())
            .seed(3)
            .iterations(101);
        let (serial, expected) = fingerprints(&checker.clone().jobs(1));
        assert_eq!(serial.iterations, 101);
        assert!(
            expected.len() > 10,
            "{strategy}: too few distinct schedules to tell"
        );
        for count in [1, 2, 4] {
            let mut union = BTreeMap::new();
            let mut total = 0;
            for index in 1..=count {
                for jobs in [1, 2] {
                    let checker = checker.clone().shard(index, count).jobs(jobs);
                    let (report, seen) = fingerprints(&checker);
                    // Shard K of N runs the iterations K, K + N, K + 2N, ... up to 101.
                    let share = (101 - index) / count + 1;
                    assert_eq!(report.iterations, share, "{strategy} shard {index}/{count}");
                    assert_eq!(seen.values().sum::<usize>(), share);
                    if jobs == 1 {
                        total += share;
                        for (order, times) in seen {
                            *union.entry(order).or_insert(0) += times;
                        }
                    }
                }
            }
            assert_eq!(total, 101);
            assert_eq!(union, expected, "{strategy}: the shards of {count}");
        }
    }
}

#[test]
fn each_shard_reports_the_failures_of_its_own_iterations() {
    let dir = scratch("shard_failures");
    for strategy in [
        Strategy::Urw,
        Strategy::Portfolio,
        Strategy::Pct { depth: 3 },
    ] {
        let checker = Checker::new()
            .strategy(strategy.clone())
            .seed(11)
            .iterations(3_000)
            .trace_dir(&dir);
        let (serial, _, serial_trace) = explore(&checker.clone().jobs(1), rare_lost_update);
        let first = serial
            .iteration
            .expect("the serial exploration finds the lost update");
        let serial_trace = serial_trace.unwrap();
        let count = 3;
        let mut lowest = usize::MAX;
        for index in 1..=count {
            let report = checker.clone().shard(index, count).run(rare_lost_update);
            let Some(iteration) = report.iteration else {
                continue;
            };
            assert_eq!((iteration - 1) % count + 1, index, "{strategy}: {report}");
            let text = report.to_string();
            assert!(text.contains(&format!("shard {index}/{count}")), "{text}");
            assert!(
                text.contains(&format!("REEL_SHARD={index}/{count}")),
                "{text}"
            );
            assert!(text.contains("reel replay "), "{text}");
            assert!(text.contains("REEL_REPLAY="), "{text}");
            if iteration == first {
                // A shard that calibrated on execution 1 without running it as its own
                // explores its iterations exactly as the serial run does.
                let trace = reel_trace::read_file(report.trace.as_ref().unwrap()).unwrap();
                assert_eq!(essence(&trace), essence(&serial_trace), "{strategy}");
            }
            lowest = lowest.min(iteration);
        }
        assert_eq!(
            lowest, first,
            "{strategy}: the shards' lowest failure is the serial one"
        );
    }
}

#[test]
fn dfs_is_explored_whole_by_the_first_shard() {
    let checker = Checker::new().dfs(Some(1));
    let serial = checker.clone().jobs(2).run(rare_lost_update);
    assert!(serial.found(), "{serial}");
    let first = checker.clone().shard(1, 2).run(rare_lost_update);
    assert_eq!(first.iteration, serial.iteration);
    let second = checker.clone().shard(2, 2).run(rare_lost_update);
    assert!(!second.found());
    assert_eq!(second.iterations, 0);
    assert!(second.to_string().contains("to shard 1/2"), "{second}");
}

const CHILD_MARKER: &str = "REEL_PARALLEL_CHILD";

#[test]
#[ignore = "a child process of the tests below"]
fn child_explores() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        return;
    }
    let report = Checker::new().iterations(10).run(|| thread::yield_now());
    println!("@{report}");
}

/// Runs the child with `variable=value`; returns whether it succeeded and its output.
fn child_with(variable: &str, value: &str) -> (bool, String) {
    let output = child::child_test("child_explores", CHILD_MARKER)
        .env(variable, value)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn bad_jobs_and_shards_are_clear_errors() {
    for jobs in ["0", "x", "-1", ""] {
        let (success, text) = child_with("REEL_JOBS", jobs);
        assert!(!success, "REEL_JOBS={jobs:?}: {text}");
        assert!(text.contains("REEL_JOBS="), "{text}");
        assert!(text.contains("whole number from 1"), "{text}");
    }
    for shard in ["3/2", "0/2", "x", "1/0"] {
        let (success, text) = child_with("REEL_SHARD", shard);
        assert!(!success, "REEL_SHARD={shard:?}: {text}");
        assert!(text.contains("REEL_SHARD="), "{text}");
        assert!(text.contains("K/N"), "{text}");
    }
    let (success, text) = child_with("REEL_JOBS", "2");
    assert!(success, "{text}");
    assert!(text.contains("explored 10 executions"), "{text}");
    let (success, text) = child_with("REEL_SHARD", "2/4");
    assert!(success, "{text}");
    // Iterations 2, 6 and 10 of 10.
    assert!(text.contains("explored 3 executions"), "{text}");
    assert!(text.contains("shard 2/4"), "{text}");
}

#[test]
fn bad_builder_settings_panic_with_the_reason() {
    let jobs = std::panic::catch_unwind(|| Checker::new().jobs(0)).unwrap_err();
    let message = jobs.downcast_ref::<String>().unwrap();
    assert!(message.contains("Checker::jobs(0)"), "{message}");
    let shard = std::panic::catch_unwind(|| Checker::new().shard(3, 2)).unwrap_err();
    let message = shard.downcast_ref::<String>().unwrap();
    assert!(message.contains("3/2 is not a shard"), "{message}");
}
