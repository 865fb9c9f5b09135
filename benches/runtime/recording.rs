//! What recording costs reel: the ping-pong recorded to a file against not recorded, the
//! exploration recorded in memory against `.record(false)`, and a trace file's bytes per step.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::Run;
use crate::exploration::{self, LOCKS_PER_EXECUTION, reel_exploration};
use crate::measure::in_executions;
use crate::ping_pong::{self, REEL_ROUND_TRIPS_PER_EXECUTION, reel_round_trips};
use crate::table::{RecordRow, SizeRow, Unit, format_count, format_number};

/// Goal: recording makes reel at most this many times slower (time per unit, on / off).
const GOAL_RECORD_SLOWDOWN: f64 = 1.2;
/// Goal: a trace file takes at most this many bytes per step.
const GOAL_BYTES_PER_STEP: f64 = 4.0;
/// Round trips of the ping-pong run whose trace is measured (`bytes-per-step`) and replayed
/// (`replay`).
pub const TRACE_ROUND_TRIPS: u64 = 100_000;

/// The ping-pong program whose trace is measured and replayed.
pub fn trace_ping_pong() {
    ping_pong::on_reel::ping_pong(TRACE_ROUND_TRIPS);
}

/// An empty program: its trace is the fixed part every trace has.
fn trace_empty() {}

/// The trace files the recording measurements write, in the temporary directory; removed
/// when dropped.
pub struct TraceFiles {
    /// Rewritten by every recorded sample and by the trace-size recordings.
    pub scratch: PathBuf,
    /// The ping-pong trace the replay measurement replays.
    pub replayed: PathBuf,
}

impl TraceFiles {
    pub fn new() -> TraceFiles {
        let directory = std::env::temp_dir();
        let process = std::process::id();
        TraceFiles {
            scratch: directory.join(format!("reel-bench-{process}-scratch.reel")),
            replayed: directory.join(format!("reel-bench-{process}-replayed.reel")),
        }
    }

    /// Deletes the previous recording, untimed: recording over an existing file makes the
    /// file system truncate it (ext4 also flushes a truncated file when it is closed), a cost
    /// of the file system and not of reel.
    pub fn remove_scratch(&self) {
        let _ = std::fs::remove_file(&self.scratch);
    }
}

impl Drop for TraceFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.scratch);
        let _ = std::fs::remove_file(&self.replayed);
    }
}

/// The size of a recorded trace.
pub struct TraceSize {
    pub steps: u64,
    pub file_bytes: u64,
}

impl TraceSize {
    pub fn bytes_per_step(&self) -> f64 {
        self.file_bytes as f64 / self.steps.max(1) as f64
    }
}

/// Records `program` with `Runtime::record(path)`, reads the trace back and replays it (so
/// the figures are those of a trace that reproduces the run), and returns its size.
pub fn record_trace(path: &Path, program: fn()) -> Result<TraceSize, String> {
    panic::catch_unwind(AssertUnwindSafe(|| {
        reel::Runtime::new().record(path).run(program);
        let file_bytes = std::fs::metadata(path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .len();
        let replay = reel::Replay::from_file(path)
            .unwrap_or_else(|error| panic!("cannot read the trace: {error}"));
        let trace = replay.trace();
        assert!(trace.cut.is_none(), "the trace is complete");
        assert_eq!(trace.bytes, file_bytes, "the whole file is read");
        let steps = trace.steps;
        let report = replay
            .run(program)
            .unwrap_or_else(|error| panic!("cannot replay the trace: {error}"));
        assert_eq!(
            report.result,
            reel::ReplayResult::Reproduced,
            "the trace replays:\n{report}"
        );
        TraceSize { steps, file_bytes }
    }))
    .map_err(|_| "panicked; see the message above".to_string())
}

/// `pingpong-record`: reel's bench-form ping-pong unrecorded and recorded to a file.
pub fn measure_ping_pong(run: &mut Run) {
    let group = "pingpong-record";
    let off = run.bench.measure(group, "off", reel_round_trips);
    let files = &run.files;
    let on = run.bench.measure(group, "on", |round_trips| {
        // The same executions as unrecorded, each recorded to a new file.
        in_executions(round_trips, REEL_ROUND_TRIPS_PER_EXECUTION, |round_trips| {
            files.remove_scratch();
            reel::Runtime::new()
                .record(&files.scratch)
                .run(move || ping_pong::on_reel::ping_pong(round_trips))
        })
    });
    run.report.recording.push(RecordRow {
        title: "channel ping-pong round trip, Runtime::record to a file".to_string(),
        unit: Unit::Nanos("round trip"),
        off,
        on,
        max_slowdown: GOAL_RECORD_SLOWDOWN,
    });
    run.report.notes.push(format!(
        "pingpong-record: reel's pingpong as above (<= {REEL_ROUND_TRIPS_PER_EXECUTION} round \
         trips per run, timed inside the run), off: reel::run, on: Runtime::new().record(new \
         file in {}).run; creating the file and writing its last chunk fall outside the timing \
         (see replay for whole runs)",
        std::env::temp_dir().display()
    ));
}

/// `lock-exploration-record`: reel's exploration with `record(false)` and `record(true)`.
pub fn measure_exploration(run: &mut Run) {
    let group = "lock-exploration-record";
    let off = run.bench.measure(group, "off", |iterations| {
        reel_exploration(iterations, Some(false), 1)
    });
    let on = run.bench.measure(group, "on", |iterations| {
        reel_exploration(iterations, Some(true), 1)
    });
    run.report.recording.push(RecordRow {
        title: format!(
            "2-thread {LOCKS_PER_EXECUTION}-lock random exploration, every execution recorded \
             in memory"
        ),
        unit: Unit::PerSecond("execution"),
        off,
        on,
        max_slowdown: GOAL_RECORD_SLOWDOWN,
    });
    run.report.notes.push(
        "lock-exploration-record: reel's exploration as above with record(false) vs \
         record(true) (the default), same seed"
            .to_string(),
    );
}

/// `bytes-per-step`: the size of the traces of an empty program, of the ping-pong and of one
/// execution of the lock test.
pub fn measure_trace_size(run: &mut Run) {
    let scratch = &run.files.scratch;
    let empty = record_trace(scratch, trace_empty);
    match &empty {
        Ok(size) => println!(
            "{:<44} {:>9} steps {:>11} bytes (the fixed part of every trace)",
            "empty program",
            format_count(size.steps),
            format_count(size.file_bytes),
        ),
        Err(error) => println!("{:<44} FAILED: {error}", "empty program"),
    }
    let cases: [(String, fn()); 2] = [
        (
            format!(
                "ping-pong, {} round trips",
                format_number(TRACE_ROUND_TRIPS as f64)
            ),
            trace_ping_pong,
        ),
        (
            format!("2-thread {LOCKS_PER_EXECUTION}-lock test, one execution"),
            exploration::on_reel::two_threads_ten_locks,
        ),
    ];
    for (title, program) in cases {
        let size = record_trace(scratch, program);
        let over_empty = match (&size, &empty) {
            (Ok(size), Ok(empty)) if size.steps > empty.steps => Some(
                size.file_bytes.saturating_sub(empty.file_bytes) as f64
                    / (size.steps - empty.steps) as f64,
            ),
            _ => None,
        };
        match &size {
            Ok(size) => println!(
                "{:<44} {:>9} steps {:>11} bytes = {} bytes/step ({} over the empty program's)",
                title,
                format_count(size.steps),
                format_count(size.file_bytes),
                format_number(size.bytes_per_step()),
                over_empty.map_or_else(|| "-".to_string(), format_number),
            ),
            Err(error) => println!("{title:<44} FAILED: {error}"),
        }
        run.report.sizes.push(SizeRow {
            title,
            size: size.ok(),
            over_empty,
            max_bytes_per_step: GOAL_BYTES_PER_STEP,
        });
    }
    run.report.notes.push(
        "bytes-per-step: Runtime::new().record(file).run(program), one plain run (the lock \
         test under run-until-block scheduling, as exploration records one execution); \
         bytes/step = file size / trace.steps, read back with Replay::from_file and replayed \
         (Reproduced); 'over an empty trace' subtracts the trace of an empty program (header, \
         prologue, outcome)"
            .to_string(),
    );
}
