//! What a clock read and a random draw cost on reel, unrecorded and recorded to a file,
//! against their plain counterparts: `std::time::Instant::now`, and a draw from a plain
//! `rand_pcg::Pcg64` (the generator each of reel's green threads draws from).

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand_core::{Rng, SeedableRng};

use crate::Run;
use crate::measure::in_executions;
use crate::table::{Goal, RecordRow, Unit, VersusRow};

/// Reads or draws per execution of reel (a `reel::run` each).
const PER_EXECUTION: u64 = 100_000;

/// Goal: an unrecorded clock read, which is a scheduling point, costs at most this.
const GOAL_CLOCK_READ_NS: f64 = 60.0;
/// Goal: an unrecorded random draw costs at most this.
const GOAL_DRAW_NS: f64 = 10.0;
/// Goal: recording makes a clock read at most this many times as slow (a step and a reading
/// are encoded).
const GOAL_CLOCK_RECORD_SLOWDOWN: f64 = 2.5;
/// Goal: recording makes a draw at most this many times as slow (only the seed is recorded).
const GOAL_DRAW_RECORD_SLOWDOWN: f64 = 1.2;

/// `reads` clock reads in `reel::run`s (recorded to `record` if given); the time inside them.
fn reel_clock_reads(reads: u64, record: Option<&std::path::Path>) -> Duration {
    in_executions(reads, PER_EXECUTION, |reads| {
        let runtime = match record {
            Some(path) => {
                let _ = std::fs::remove_file(path);
                reel::Runtime::new().record(path)
            }
            None => reel::Runtime::new(),
        };
        runtime.run(move || {
            let start = Instant::now();
            for _ in 0..reads {
                black_box(reel::time::Instant::now());
            }
            start.elapsed()
        })
    })
}

/// `draws` 64-bit draws in `reel::run`s (recorded to `record` if given).
fn reel_draws(draws: u64, record: Option<&std::path::Path>) -> Duration {
    in_executions(draws, PER_EXECUTION, |draws| {
        let runtime = match record {
            Some(path) => {
                let _ = std::fs::remove_file(path);
                reel::Runtime::new().record(path)
            }
            None => reel::Runtime::new(),
        };
        runtime.run(move || {
            let mut rng = reel::rand::rng();
            black_box(rng.next_u64()); // The seed, drawn once, outside the timing.
            let start = Instant::now();
            for _ in 0..draws {
                black_box(rng.next_u64());
            }
            start.elapsed()
        })
    })
}

/// `clock-and-random`: reel's clock read and random draw against std's and a plain PRNG's,
/// unrecorded and recorded.
pub fn measure(run: &mut Run) {
    let group = "clock-read";
    let std_read = run.bench.measure(group, "std", |reads| {
        let start = Instant::now();
        for _ in 0..reads {
            black_box(Instant::now());
        }
        start.elapsed()
    });
    let off = run
        .bench
        .measure(group, "reel", |reads| reel_clock_reads(reads, None));
    let scratch = run.files.scratch.clone();
    let on = run.bench.measure(group, "reel-recorded", |reads| {
        reel_clock_reads(reads, Some(&scratch))
    });
    run.report.versus.push(VersusRow {
        title: "clock read: reel::time::Instant::now (a step) vs std::time::Instant::now"
            .to_string(),
        unit: Unit::Nanos("read"),
        reel: off,
        shuttle: None,
        std: std_read,
        goal: Goal::ReelAtMost {
            limit: GOAL_CLOCK_READ_NS,
            unit: "ns",
        },
    });
    run.report.recording.push(RecordRow {
        title: "clock read, Runtime::record to a file".to_string(),
        unit: Unit::Nanos("read"),
        off,
        on,
        max_slowdown: GOAL_CLOCK_RECORD_SLOWDOWN,
    });

    let group = "random-draw";
    let plain = run.bench.measure(group, "plain-pcg64", |draws| {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(black_box(7));
        let start = Instant::now();
        for _ in 0..draws {
            black_box(rng.next_u64());
        }
        start.elapsed()
    });
    let off = run
        .bench
        .measure(group, "reel", |draws| reel_draws(draws, None));
    let on = run.bench.measure(group, "reel-recorded", |draws| {
        reel_draws(draws, Some(&scratch))
    });
    run.report.versus.push(VersusRow {
        title: "random u64: reel::rand::rng() vs a plain Pcg64 (in the std column)".to_string(),
        unit: Unit::Nanos("draw"),
        reel: off,
        shuttle: None,
        std: plain,
        goal: Goal::ReelAtMost {
            limit: GOAL_DRAW_NS,
            unit: "ns",
        },
    });
    run.report.recording.push(RecordRow {
        title: "random u64 draw, Runtime::record to a file".to_string(),
        unit: Unit::Nanos("draw"),
        off,
        on,
        max_slowdown: GOAL_DRAW_RECORD_SLOWDOWN,
    });
}
