//! Random exploration of a small test, two threads each taking ten locks: executions per
//! second of reel's `Checker` (recording, the default), `shuttle::check_random`, and the
//! same test called in a loop on std threads.

use std::time::Duration;

use crate::Run;
use crate::measure::timed;
use crate::table::{Goal, Unit, VersusRow};

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

/// The time reel's random exploration of `iterations` executions of the test takes, with
/// recording as `record` says (None: the default, recording on).
pub fn reel_exploration(iterations: u64, record: Option<bool>) -> Duration {
    let asked = usize::try_from(iterations).expect("sample sizes fit in usize");
    let mut checker = reel::Checker::new().random().iterations(asked).seed(SEED);
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
        reel_exploration(iterations, None)
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
         Checker::new().random().iterations(N).seed({SEED}).run(f), every execution recorded \
         in memory (the default); shuttle: check_random(f, N); std: f called N times"
    ));
}
