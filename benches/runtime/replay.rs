//! Replay speed: whole runs of a recorded ping-pong, replayed from its trace file, against the
//! same run recorded and unrecorded, in steps per second.

use std::time::{Duration, Instant};

use crate::Run;
use crate::measure::timed;
use crate::recording::{TRACE_ROUND_TRIPS, TraceFiles, record_trace, trace_ping_pong};
use crate::table::{ReplayRow, format_count, format_number};

/// One whole replay of the trace at `files.replayed`, timed from reading the file to the
/// program's end, then checked: it reproduced the recording, in `steps` steps.
fn replay_once(files: &TraceFiles, steps: u64) -> Duration {
    let start = Instant::now();
    let replay = reel::Replay::from_file(&files.replayed)
        .unwrap_or_else(|error| panic!("cannot read the recorded trace: {error}"));
    let report = replay
        .run(trace_ping_pong)
        .unwrap_or_else(|error| panic!("cannot replay the recorded trace: {error}"));
    let elapsed = start.elapsed();
    assert_eq!(
        report.result,
        reel::ReplayResult::Reproduced,
        "the replay follows the recorded trace:\n{report}"
    );
    assert_eq!(report.steps, steps, "the replay takes the recorded steps");
    elapsed
}

/// The total of `count` runs, each timed by `one`.
fn runs(count: u64, mut one: impl FnMut() -> Duration) -> Duration {
    (0..count).map(|_| one()).sum()
}

/// `replay`: records the ping-pong once, then times whole runs of it unrecorded, recorded and
/// replayed; one unit of criterion's is one run, shown per step of the trace.
pub fn measure(run: &mut Run) {
    let title = format!(
        "ping-pong run of {} round trips",
        format_number(TRACE_ROUND_TRIPS as f64)
    );
    let steps = match record_trace(&run.files.replayed, trace_ping_pong) {
        Ok(size) => {
            println!(
                "trace to replay: {} steps, {} bytes in {}",
                format_count(size.steps),
                format_count(size.file_bytes),
                run.files.replayed.display()
            );
            size.steps
        }
        Err(error) => {
            println!("FAILED to record the trace to replay: {error}");
            run.report.replay = Some(ReplayRow {
                title,
                unrecorded: None,
                recorded: None,
                replay: None,
            });
            return;
        }
    };
    let group = "replay";
    let files = &run.files;
    let unrecorded = run.bench.measure(group, "unrecorded", |count| {
        runs(count, || timed(|| reel::run(trace_ping_pong)))
    });
    let recorded = run.bench.measure(group, "recorded", |count| {
        runs(count, || {
            files.remove_scratch();
            timed(|| {
                reel::Runtime::new()
                    .record(&files.scratch)
                    .run(trace_ping_pong)
            })
        })
    });
    let replay = run.bench.measure(group, "replay", |count| {
        runs(count, || replay_once(files, steps))
    });
    let per_step = 1.0 / steps.max(1) as f64;
    run.report.replay = Some(ReplayRow {
        title,
        unrecorded: unrecorded.map(|figure| figure.scaled(per_step)),
        recorded: recorded.map(|figure| figure.scaled(per_step)),
        replay: replay.map(|figure| figure.scaled(per_step)),
    });
    run.report.notes.push(format!(
        "replay: whole runs of pingpong({TRACE_ROUND_TRIPS}) timed from outside: reel::run \
         (unrecorded), Runtime::new().record(new file).run (recorded; the previous file is \
         deleted untimed), Replay::from_file(file)?.run (replay, reading and decoding the file \
         included; checked Reproduced with the recorded step count); steps/s = trace steps / \
         time of a run ({} steps)",
        format_count(steps)
    ));
}
