//! Spawning and joining an empty thread, one after the other, on each runtime.

use crate::Run;
use crate::measure::{in_executions, in_one_shuttle_execution};
use crate::table::{Goal, Unit, VersusRow};

/// Threads spawned and joined inside one reel or shuttle execution at most.
const SPAWNS_PER_EXECUTION: u64 = 1_000;

for_each_runtime! {
    use std::time::{Duration, Instant};

    use runtime::thread;

    /// Spawns `count` threads one after the other, each returning at once, and joins each
    /// before spawning the next. Returns the time taken.
    pub fn spawn_join(count: u64) -> Duration {
        let start = Instant::now();
        let mut sum = 0u64;
        for index in 0..count {
            sum += thread::spawn(move || index)
                .join()
                .expect("an empty thread does not panic");
        }
        let elapsed = start.elapsed();
        assert_eq!(
            sum,
            count * count.saturating_sub(1) / 2,
            "every thread returned"
        );
        elapsed
    }
}

/// `spawn-join`: the time of one spawn and join on each runtime.
pub fn measure(run: &mut Run) {
    let group = "spawn-join";
    let reel = run.bench.measure(group, "reel", |count| {
        in_executions(count, SPAWNS_PER_EXECUTION, |count| {
            reel::run(move || on_reel::spawn_join(count))
        })
    });
    let shuttle = run.bench.measure(group, "shuttle", |count| {
        in_executions(count, SPAWNS_PER_EXECUTION, |count| {
            in_one_shuttle_execution(move || on_shuttle::spawn_join(count))
        })
    });
    let std = run.bench.measure(group, "std", on_std::spawn_join);
    run.report.versus.push(VersusRow {
        title: "spawn + join of an empty thread".to_string(),
        unit: Unit::Nanos("thread"),
        reel,
        shuttle,
        std,
        goal: Goal::None,
    });
    run.report.notes.push(format!(
        "spawn-join: sequential spawn + join, timed inside the execution, <= \
         {SPAWNS_PER_EXECUTION} per execution (reel: reel::run; shuttle: check_random(.., 1))"
    ));
}
