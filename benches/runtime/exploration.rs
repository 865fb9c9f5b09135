//! Random exploration of a small test, two threads each taking ten locks: executions per
//! second of reel's `Checker` (recording, the default) on one kernel thread,
//! `shuttle::check_random`, and the same test called in a loop on std threads; and reel's
//! exploration on one kernel thread against two (`Checker::jobs`), with the speed-up.

use std::time::Duration;

use crate::Run;
use crate::measure::timed;
use crate::table::{Goal, Unit, VersusRow, format_number, format_ratio};

/// Mutexes each of the two threads locks in one execution.
pub const LOCKS_PER_EXECUTION: usize = 10;
/// The seed of reel's explorations, so that every sample explores the same executions.
const SEED: u64 = 1;
/// Goal: reel, recording, runs at least this many times as many executions per second as
/// shuttle.
const GOAL_SPEEDUP_OVER_SHUTTLE: f64 = 8.0;

for_each_runtime! {
    use runtime::sync::{Arc, Mutex};
    use runtime::thread;

    use super::LOCKS_PER_EXECUTION;

    /// One execution of the test: two threads each lock and unlock `LOCKS_PER_EXECUTION`
    /// distinct mutexes in the same order, incrementing each; main joins both.
    pub fn two_threads_ten_locks() {
        let locks: Vec<Arc<Mutex<u64>>> = (0..LOCKS_PER_EXECUTION)
            .map(|_| Arc::new(Mutex::new(0)))
            .collect();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let locks = locks.clone();
                thread::spawn(move || {
                    for lock in &locks {
                        *lock.lock().expect("no thread panics holding a lock") += 1;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("a worker does not panic");
        }
        for lock in locks {
            let count = Arc::into_inner(lock)
                .expect("the workers dropped their clones")
                .into_inner()
                .expect("no thread panicked holding the lock");
            assert_eq!(count, 2, "each worker incremented each counter once");
        }
    }
}

/// The time reel's random exploration of `iterations` executions of the test takes on `jobs`
/// kernel threads, with recording as `record` says (None: the default, recording on).
pub fn reel_exploration(iterations: u64, record: Option<bool>, jobs: usize) -> Duration {
    let asked = usize::try_from(iterations).expect("sample sizes fit in usize");
    let mut checker = reel::Checker::new()
        .random()
        .iterations(asked)
        .seed(SEED)
        .jobs(jobs);
    if let Some(record) = record {
        checker = checker.record(record);
    }
    let mut report = None;
    let elapsed = timed(|| report = Some(checker.run(on_reel::two_threads_ten_locks)));
    let report = report.expect("the exploration ran");
    assert!(
        !report.found(),
        "reel reported a failure in a correct program:\n{report}"
    );
    // REEL_ITERATIONS may override the count asked for: scale to what was asked.
    elapsed.mul_f64(iterations as f64 / report.iterations.max(1) as f64)
}

/// `lock-exploration`: executions per second on each runtime.
pub fn measure(run: &mut Run) {
    let group = "lock-exploration";
    let reel = run.bench.measure(group, "reel", |iterations| {
        reel_exploration(iterations, None, 1)
    });
    let shuttle = run.bench.measure(group, "shuttle", |iterations| {
        let iterations = usize::try_from(iterations).expect("sample sizes fit in usize");
        timed(|| shuttle::check_random(on_shuttle::two_threads_ten_locks, iterations))
    });
    let std = run.bench.measure(group, "std", |iterations| {
        timed(|| {
            for _ in 0..iterations {
                on_std::two_threads_ten_locks();
            }
        })
    });
    run.report.versus.push(VersusRow {
        title: format!(
            "2-thread {LOCKS_PER_EXECUTION}-lock random exploration (reel recording, the default)"
        ),
        unit: Unit::PerSecond("execution"),
        reel,
        shuttle,
        std,
        goal: Goal::ReelTimesShuttle(GOAL_SPEEDUP_OVER_SHUTTLE),
    });
    run.report.notes.push(format!(
        "lock-exploration: 2 threads x {LOCKS_PER_EXECUTION} mutexes per execution; reel: \
         Checker::new().random().iterations(N).seed({SEED}).jobs(1).run(f), every execution \
         recorded in memory (the default), on one kernel thread as shuttle's; shuttle: check_random(f, N); std: f called N times"
    ));
}

/// `lock-exploration-jobs`: reel's exploration on one kernel thread and on two, and the
/// speed-up (executions per second on two over those on one).
pub fn measure_jobs(run: &mut Run) {
    let group = "lock-exploration-jobs";
    let one = run.bench.measure(group, "1", |iterations| {
        reel_exploration(iterations, None, 1)
    });
    let two = run.bench.measure(group, "2", |iterations| {
        reel_exploration(iterations, None, 2)
    });
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let line = match (one, two) {
        (Some(one), Some(two)) => {
            // Nanoseconds per execution on one thread over those on two: the speed-up.
            let speedup = one.over(two);
            format!(
                "lock-exploration-jobs: {} exec/s on 1 kernel thread, {} on 2: a speed-up of \
                 {} ({} to {}) on {cores} CPUs (Checker::jobs(1) vs jobs(2), recording, same \
                 seed; a loaded machine lowers it)",
                format_number(one.inverse(1e9).point),
                format_number(two.inverse(1e9).point),
                format_ratio(speedup.point),
                format_ratio(speedup.low),
                format_ratio(speedup.high),
            )
        }
        _ => "lock-exploration-jobs: not measured (a routine failed)".to_owned(),
    };
    println!("{line}");
    run.report.notes.push(line);
}
