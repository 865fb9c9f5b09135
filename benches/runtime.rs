//! Runtime benchmarks: reel, shuttle and std threads measured side by side in one process.
//!
//! Run with `cargo bench --bench runtime [-- [FILTER] [--quick]]`. FILTER keeps the measurements
//! whose name contains it (`pingpong`, `pingpong-record`, `lock-exploration`,
//! `lock-exploration-record`, `spawn-join`, `replay`, `bytes-per-step`, `memory`; so `record`
//! keeps both recording overheads); `--quick` takes fewer and shorter samples and holds ten
//! times fewer threads in the memory cases. Unknown arguments (cargo passes `--bench`) are
//! ignored.
//!
//! Every program is written once against std's API and instantiated for each runtime by changing
//! its imports (see `programs_for!`), so the three contenders run the same code.
//!
//! Each timed measurement warms up while calibrating how much work one sample does (about
//! `sample_target` of wall time); then the contenders take their samples in turn (round-robin,
//! so that load from elsewhere falls on all of them alike) and the median is reported. Memory is
//! measured in a child process per case: the binary re-executes itself with the hidden arguments
//! `--memory-child CASE`, so one case's allocations never count in another's.
//!
//! Recording and replay are measured against reel itself: the same program with recording off
//! and on (`pingpong-record`, `lock-exploration-record`), the size of a trace file per step
//! (`bytes-per-step`), and a replay of a recorded run against the recording and an unrecorded
//! run (`replay`). Trace files go to the temporary directory and are removed at the end.

use std::io::Read;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Mutexes each of the two threads locks in one execution of the exploration test.
const LOCKS_PER_EXECUTION: usize = 10;
/// Threads spawned and joined inside one execution of the spawn+join measurement.
const SPAWNS_PER_EXECUTION: u64 = 1_000;
/// Round trips inside one reel execution; a sample that needs more runs several executions, so
/// that no sample comes near a step bound.
const REEL_ROUND_TRIPS_PER_EXECUTION: u64 = 100_000;
/// Round trips inside one shuttle execution: shuttle's default step bound is 1,000,000 steps.
const SHUTTLE_ROUND_TRIPS_PER_EXECUTION: u64 = 50_000;
/// Upper limit on the units of work of one sample, whatever the calibration says.
const MAX_UNITS_PER_SAMPLE: u64 = 50_000_000;
/// Green threads held alive at once in the reel memory cases (divided by ten under `--quick`).
const REEL_MEMORY_THREADS: usize = 100_000;
/// OS threads (std) and shuttle threads held alive at once in their memory cases: OS limits
/// (pid_max, vm.max_map_count) keep std well below reel's count.
const OTHER_MEMORY_THREADS: usize = 10_000;
/// Stack size of the small-stack reel memory case.
const REEL_SMALL_STACK_BYTES: usize = 16 * 1024;
/// How long a memory child may run before it is killed and reported as failed.
const MEMORY_CHILD_TIMEOUT: Duration = Duration::from_secs(90);
/// Goal: reel's ping-pong round trip takes at most this many nanoseconds.
const GOAL_ROUND_TRIP_NS: f64 = 100.0;
/// Goal: reel runs at least this many times as many executions per second as shuttle.
const GOAL_EXPLORATION_SPEEDUP: f64 = 5.0;
/// Goal: one blocked reel green thread costs at most this much resident memory.
const GOAL_KIB_PER_THREAD: f64 = 16.0;
/// Round trips of the ping-pong run whose trace is measured (`bytes-per-step`) and replayed
/// (`replay`).
const TRACE_ROUND_TRIPS: u64 = 100_000;
/// Goal: recording makes reel at most this many times slower (time per unit, on / off).
const GOAL_RECORD_SLOWDOWN: f64 = 1.3;
/// Goal: a trace file takes at most this many bytes per step.
const GOAL_BYTES_PER_STEP: f64 = 4.0;

/// Defines the benchmark programs in module `$module` against the runtime crate `$runtime`
/// (`reel`, `shuttle` or `std`): only the imports differ, as when porting code to reel.
macro_rules! programs_for {
    ($module:ident, $runtime:ident) => {
        #[doc = concat!("The benchmark programs built on `", stringify!($runtime), "`.")]
        mod $module {
            use super::{Duration, Instant, LOCKS_PER_EXECUTION, resident_kib};
            use $runtime::sync::atomic::{AtomicUsize, Ordering};
            use $runtime::sync::{Arc, Barrier, Mutex, mpsc};
            use $runtime::thread;

            /// Main sends a number to a partner thread, which sends it back plus one:
            /// `round_trips` times. Returns the time taken by the round trips alone.
            pub fn ping_pong(round_trips: u64) -> Duration {
                let (to_partner, from_main) = mpsc::channel::<u64>();
                let (to_main, from_partner) = mpsc::channel::<u64>();
                let partner = thread::spawn(move || {
                    for value in from_main.iter() {
                        if to_main.send(value + 1).is_err() {
                            break;
                        }
                    }
                });
                let start = Instant::now();
                for round_trip in 0..round_trips {
                    to_partner
                        .send(round_trip)
                        .expect("the partner thread outlives the round trips");
                    let reply = from_partner
                        .recv()
                        .expect("the partner thread replies to every message");
                    assert_eq!(reply, round_trip + 1, "the partner answers value + 1");
                }
                let elapsed = start.elapsed();
                drop(to_partner);
                partner.join().expect("the partner thread does not panic");
                elapsed
            }

            /// One execution of the exploration test: two threads each lock and unlock
            /// `LOCKS_PER_EXECUTION` distinct mutexes in the same order, incrementing each; main
            /// joins both.
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

            /// Spawns `count` threads one after the other, each returning at once, and joins
            /// each before spawning the next. Returns the time taken.
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

            /// Spawns `count` threads (with `stack_bytes` each, or the runtime's default) that
            /// all block on one barrier, reads the resident set before the first spawn and once
            /// every thread has arrived, then releases and joins them all.
            /// Returns (resident KiB before, resident KiB with all threads blocked).
            pub fn hold_blocked_threads(count: usize, stack_bytes: Option<usize>) -> (u64, u64) {
                let arrived = Arc::new(AtomicUsize::new(0));
                let release = Arc::new(Barrier::new(count + 1));
                let mut handles = Vec::with_capacity(count);
                let before_kib = resident_kib();
                for _ in 0..count {
                    let arrived = Arc::clone(&arrived);
                    let release = Arc::clone(&release);
                    let mut builder = thread::Builder::new();
                    if let Some(bytes) = stack_bytes {
                        builder = builder.stack_size(bytes);
                    }
                    let handle = builder
                        .spawn(move || {
                            arrived.fetch_add(1, Ordering::SeqCst);
                            release.wait();
                        })
                        .expect("the runtime can spawn this many threads");
                    handles.push(handle);
                }
                while arrived.load(Ordering::SeqCst) < count {
                    thread::yield_now();
                }
                let after_kib = resident_kib();
                release.wait();
                for handle in handles {
                    handle.join().expect("a blocked thread does not panic");
                }
                (before_kib, after_kib)
            }
        }
    };
}

programs_for!(reel_programs, reel);
programs_for!(shuttle_programs, shuttle);
programs_for!(std_programs, std);

/// What a measurement compares: the three runtimes, and reel recording or replaying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contender {
    /// reel without recording (`reel::run`, `Checker::record(false)`).
    Reel,
    /// reel recording: `Runtime::record(file)`, `Checker::record(true)`.
    ReelRecording,
    /// reel replaying a trace file: `Replay::from_file(..).run(..)`.
    ReelReplay,
    Shuttle,
    Std,
}

impl Contender {
    /// The runtimes compared side by side.
    const RUNTIMES: [Contender; 3] = [Contender::Reel, Contender::Shuttle, Contender::Std];

    fn name(self) -> &'static str {
        match self {
            Contender::Reel => "reel",
            Contender::ReelRecording => "reel+record",
            Contender::ReelReplay => "reel replay",
            Contender::Shuttle => "shuttle",
            Contender::Std => "std",
        }
    }
}

/// The timed measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimedMeasurement {
    PingPong,
    /// reel's ping-pong with recording off and on.
    PingPongRecord,
    LockExploration,
    /// reel's exploration with `Checker::record(false)` and `record(true)`.
    LockExplorationRecord,
    SpawnJoin,
    /// A whole ping-pong run: unrecorded, recorded, and replayed from a trace.
    Replay,
}

impl TimedMeasurement {
    const ALL: [TimedMeasurement; 6] = [
        TimedMeasurement::PingPong,
        TimedMeasurement::PingPongRecord,
        TimedMeasurement::LockExploration,
        TimedMeasurement::LockExplorationRecord,
        TimedMeasurement::SpawnJoin,
        TimedMeasurement::Replay,
    ];

    /// The name the filter argument is matched against.
    fn name(self) -> &'static str {
        match self {
            TimedMeasurement::PingPong => "pingpong",
            TimedMeasurement::PingPongRecord => "pingpong-record",
            TimedMeasurement::LockExploration => "lock-exploration",
            TimedMeasurement::LockExplorationRecord => "lock-exploration-record",
            TimedMeasurement::SpawnJoin => "spawn-join",
            TimedMeasurement::Replay => "replay",
        }
    }

    fn title(self) -> String {
        match self {
            TimedMeasurement::PingPong => "channel ping-pong round trip".to_string(),
            TimedMeasurement::PingPongRecord => {
                "channel ping-pong round trip, recording off/on".to_string()
            }
            TimedMeasurement::LockExploration => {
                "2-thread 10-lock random exploration (reel: record(false))".to_string()
            }
            TimedMeasurement::LockExplorationRecord => {
                "2-thread 10-lock random exploration, record(false/true)".to_string()
            }
            TimedMeasurement::SpawnJoin => "spawn + join of an empty thread".to_string(),
            TimedMeasurement::Replay => format!(
                "ping-pong run of {} round trips: replay vs record",
                format_number(TRACE_ROUND_TRIPS as f64)
            ),
        }
    }

    /// Who is measured, in the order samples are taken.
    fn contenders(self) -> &'static [Contender] {
        match self {
            TimedMeasurement::PingPong
            | TimedMeasurement::LockExploration
            | TimedMeasurement::SpawnJoin => &Contender::RUNTIMES,
            TimedMeasurement::PingPongRecord | TimedMeasurement::LockExplorationRecord => {
                &[Contender::Reel, Contender::ReelRecording]
            }
            TimedMeasurement::Replay => &[
                Contender::Reel,
                Contender::ReelRecording,
                Contender::ReelReplay,
            ],
        }
    }

    /// How a figure of this measurement is shown; all are measured as nanoseconds per unit.
    fn figure(self) -> Figure {
        match self {
            TimedMeasurement::PingPong
            | TimedMeasurement::PingPongRecord
            | TimedMeasurement::SpawnJoin => Figure::NanosPerUnit,
            TimedMeasurement::LockExploration
            | TimedMeasurement::LockExplorationRecord
            | TimedMeasurement::Replay => Figure::UnitsPerSecond,
        }
    }

    fn unit_name(self) -> &'static str {
        match self {
            TimedMeasurement::PingPong | TimedMeasurement::PingPongRecord => "round trip",
            TimedMeasurement::LockExploration | TimedMeasurement::LockExplorationRecord => {
                "execution"
            }
            TimedMeasurement::SpawnJoin => "thread",
            TimedMeasurement::Replay => "step",
        }
    }

    /// Runs about `units` units of work for `contender` and returns what was actually done.
    fn run_sample(self, contender: Contender, units: u64, files: &TraceFiles) -> Sample {
        match (self, contender) {
            (TimedMeasurement::PingPong | TimedMeasurement::PingPongRecord, Contender::Reel) => {
                in_executions(units, REEL_ROUND_TRIPS_PER_EXECUTION, |round_trips| {
                    reel::run(move || reel_programs::ping_pong(round_trips))
                })
            }
            (TimedMeasurement::PingPongRecord, Contender::ReelRecording) => {
                // The same executions as unrecorded, each recorded to a new file.
                in_executions(units, REEL_ROUND_TRIPS_PER_EXECUTION, |round_trips| {
                    files.remove_scratch();
                    reel::Runtime::new()
                        .record(&files.scratch)
                        .run(move || reel_programs::ping_pong(round_trips))
                })
            }
            (TimedMeasurement::PingPong, Contender::Shuttle) => {
                in_executions(units, SHUTTLE_ROUND_TRIPS_PER_EXECUTION, |round_trips| {
                    in_one_shuttle_execution(move || shuttle_programs::ping_pong(round_trips))
                })
            }
            (TimedMeasurement::PingPong, Contender::Std) => Sample {
                elapsed: std_programs::ping_pong(units),
                units,
            },
            (
                TimedMeasurement::LockExploration | TimedMeasurement::LockExplorationRecord,
                Contender::Reel,
            ) => reel_exploration(units, false),
            (TimedMeasurement::LockExplorationRecord, Contender::ReelRecording) => {
                reel_exploration(units, true)
            }
            (TimedMeasurement::LockExploration, Contender::Shuttle) => {
                let iterations = usize::try_from(units).expect("sample sizes fit in usize");
                let start = Instant::now();
                shuttle::check_random(shuttle_programs::two_threads_ten_locks, iterations);
                Sample {
                    elapsed: start.elapsed(),
                    units,
                }
            }
            (TimedMeasurement::LockExploration, Contender::Std) => {
                let start = Instant::now();
                for _ in 0..units {
                    std_programs::two_threads_ten_locks();
                }
                Sample {
                    elapsed: start.elapsed(),
                    units,
                }
            }
            (TimedMeasurement::SpawnJoin, Contender::Reel) => {
                in_whole_executions(units, SPAWNS_PER_EXECUTION, |count| {
                    reel::run(move || reel_programs::spawn_join(count))
                })
            }
            (TimedMeasurement::SpawnJoin, Contender::Shuttle) => {
                in_whole_executions(units, SPAWNS_PER_EXECUTION, |count| {
                    in_one_shuttle_execution(move || shuttle_programs::spawn_join(count))
                })
            }
            (TimedMeasurement::SpawnJoin, Contender::Std) => {
                in_whole_executions(units, SPAWNS_PER_EXECUTION, std_programs::spawn_join)
            }
            (TimedMeasurement::Replay, contender) => {
                // Units are steps; every run is the whole program, timed from outside, and
                // takes the recorded trace's number of steps (the replay checks it does).
                in_whole_executions(units, files.replayed_steps.max(1), |_| {
                    whole_ping_pong_run(contender, files)
                })
            }
            (measurement, contender) => unreachable!(
                "{} does not measure {}",
                measurement.name(),
                contender.name()
            ),
        }
    }

    /// A note printed under the table about how this measurement is taken.
    fn note(self) -> String {
        match self {
            TimedMeasurement::PingPong => format!(
                "pingpong: two mpsc channels, N round trips timed inside one execution \
                 (reel: reel::run, unrecorded, <= {REEL_ROUND_TRIPS_PER_EXECUTION} per run; \
                 shuttle: check_random(.., 1), <= {SHUTTLE_ROUND_TRIPS_PER_EXECUTION} per \
                 execution)"
            ),
            TimedMeasurement::PingPongRecord => format!(
                "pingpong-record: reel's pingpong as above (<= {REEL_ROUND_TRIPS_PER_EXECUTION} \
                 round trips per run, timed inside the run), off: reel::run, on: \
                 Runtime::new().record(new file in {}).run; creating the file and writing its \
                 last chunk fall outside the timing (see replay for whole runs)",
                std::env::temp_dir().display()
            ),
            TimedMeasurement::LockExploration => format!(
                "lock-exploration: 2 threads x {LOCKS_PER_EXECUTION} mutexes per execution; reel: \
                 Checker::new().random().iterations(N).record(false).run(f); shuttle: \
                 check_random(f, N); std: f called N times"
            ),
            TimedMeasurement::LockExplorationRecord => {
                "lock-exploration-record: reel's exploration as above with record(false) vs \
                 record(true) (the default: every execution recorded in memory), same seed"
                    .to_string()
            }
            TimedMeasurement::SpawnJoin => format!(
                "spawn-join: {SPAWNS_PER_EXECUTION} sequential spawn+join per execution, timed \
                 inside it (reel: reel::run; shuttle: check_random(.., 1))"
            ),
            TimedMeasurement::Replay => format!(
                "replay: whole runs of pingpong({TRACE_ROUND_TRIPS}) timed from outside: reel::run \
                 (unrecorded), Runtime::new().record(new file).run (recorded; the previous \
                 file is deleted untimed), \
                 Replay::from_file(file)?.run (replay, reading and decoding the file included; \
                 asserted Reproduced with the recorded step count); steps/s = trace steps / time"
            ),
        }
    }
}

/// A sample of reel's exploration of the lock test, recording each execution or not.
fn reel_exploration(units: u64, record: bool) -> Sample {
    let iterations = usize::try_from(units).expect("sample sizes fit in usize");
    let start = Instant::now();
    let report = reel::Checker::new()
        .random()
        .iterations(iterations)
        .record(record)
        .run(reel_programs::two_threads_ten_locks);
    let elapsed = start.elapsed();
    assert!(
        !report.found(),
        "reel reported a failure in a correct program:\n{report}"
    );
    Sample {
        elapsed,
        // REEL_ITERATIONS may override the count asked for: count what ran.
        units: report.iterations as u64,
    }
}

/// The ping-pong program whose trace is measured and replayed.
fn trace_ping_pong() {
    reel_programs::ping_pong(TRACE_ROUND_TRIPS);
}

/// One whole run of [`trace_ping_pong`] for the replay measurement, timed from outside.
fn whole_ping_pong_run(contender: Contender, files: &TraceFiles) -> Duration {
    if contender == Contender::ReelRecording {
        files.remove_scratch();
    }
    let start = Instant::now();
    match contender {
        Contender::Reel => reel::run(trace_ping_pong),
        Contender::ReelRecording => reel::Runtime::new()
            .record(&files.scratch)
            .run(trace_ping_pong),
        Contender::ReelReplay => {
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
            assert_eq!(
                report.steps, files.replayed_steps,
                "the replay takes the recorded steps"
            );
            return elapsed;
        }
        Contender::Shuttle | Contender::Std => {
            unreachable!("the replay measurement is reel's own")
        }
    }
    start.elapsed()
}

/// The trace files the recording measurements write, in the temporary directory; removed
/// when dropped.
struct TraceFiles {
    /// Rewritten by every recorded sample and by the trace-size recordings.
    scratch: PathBuf,
    /// The ping-pong trace the replay measurement replays.
    replayed: PathBuf,
    /// The steps of that trace, once recorded.
    replayed_steps: u64,
}

impl TraceFiles {
    fn new() -> TraceFiles {
        let directory = std::env::temp_dir();
        let process = std::process::id();
        TraceFiles {
            scratch: directory.join(format!("reel-bench-{process}-scratch.reel")),
            replayed: directory.join(format!("reel-bench-{process}-replayed.reel")),
            replayed_steps: 0,
        }
    }

    /// Deletes the previous recording, untimed: recording over an existing file makes the
    /// file system truncate it (ext4 also flushes a truncated file when it is closed), a cost
    /// of the file system and not of reel.
    fn remove_scratch(&self) {
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
struct TraceSize {
    steps: u64,
    file_bytes: u64,
}

impl TraceSize {
    fn bytes_per_step(&self) -> f64 {
        self.file_bytes as f64 / self.steps.max(1) as f64
    }
}

/// Records `program` with `Runtime::record(path)`, reads the trace back and replays it (so
/// the figures are those of a trace that reproduces the run), and returns its size.
fn record_trace(path: &Path, program: fn()) -> Result<TraceSize, String> {
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

/// An empty program: its trace is the fixed part every trace has.
fn trace_empty() {}

/// How a measurement's figure is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Figure {
    /// Nanoseconds per unit; lower is better.
    NanosPerUnit,
    /// Units per second; higher is better.
    UnitsPerSecond,
    /// Resident KiB per live thread; lower is better.
    KibPerThread,
}

impl Figure {
    fn unit(self, unit_name: &str) -> String {
        match self {
            Figure::NanosPerUnit => format!("ns/{unit_name}"),
            Figure::UnitsPerSecond => format!("{unit_name}s/s"),
            Figure::KibPerThread => "KiB/thread".to_string(),
        }
    }

    fn better(self) -> &'static str {
        match self {
            Figure::NanosPerUnit | Figure::KibPerThread => "lower",
            Figure::UnitsPerSecond => "higher",
        }
    }
}

/// What one sample did and how long it took.
struct Sample {
    elapsed: Duration,
    units: u64,
}

impl Sample {
    fn nanos_per_unit(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.units.max(1) as f64
    }
}

/// Median and spread of the samples of one (measurement, contender) pair, in ns per unit.
struct Stats {
    median_ns: f64,
    min_ns: f64,
    max_ns: f64,
    units_per_sample: u64,
    samples: usize,
    /// Time spent calibrating and sampling this contender.
    busy: Duration,
    /// Wall time from this contender's calibration to the end of the measurement.
    wall: Duration,
}

/// Runs `units` units of work in as many executions as needed, at most `per_execution` each.
fn in_executions(
    units: u64,
    per_execution: u64,
    mut execution: impl FnMut(u64) -> Duration,
) -> Sample {
    let mut elapsed = Duration::ZERO;
    let mut remaining = units.max(1);
    let mut done = 0;
    while remaining > 0 {
        let chunk = remaining.min(per_execution);
        elapsed += execution(chunk);
        done += chunk;
        remaining -= chunk;
    }
    Sample {
        elapsed,
        units: done,
    }
}

/// Runs at least `units` units of work in executions of exactly `per_execution` units each.
fn in_whole_executions(
    units: u64,
    per_execution: u64,
    mut execution: impl FnMut(u64) -> Duration,
) -> Sample {
    let executions = units.div_ceil(per_execution).max(1);
    let mut elapsed = Duration::ZERO;
    for _ in 0..executions {
        elapsed += execution(per_execution);
    }
    Sample {
        elapsed,
        units: executions * per_execution,
    }
}

/// Runs `f` as the single execution of `shuttle::check_random(.., 1)` and returns its result.
fn in_one_shuttle_execution<T: Send + 'static>(f: impl Fn() -> T + Send + Sync + 'static) -> T {
    let result = std::sync::Arc::new(std::sync::Mutex::new(None));
    let result_in_execution = std::sync::Arc::clone(&result);
    shuttle::check_random(
        move || {
            let value = f();
            *result_in_execution.lock().expect("not poisoned") = Some(value);
        },
        1,
    );
    let value = result.lock().expect("not poisoned").take();
    value.expect("check_random(.., 1) runs the closure once")
}

/// How many samples to take and how long each should be.
struct Settings {
    samples: usize,
    sample_target: Duration,
    quick: bool,
}

impl Settings {
    fn new(quick: bool) -> Settings {
        if quick {
            Settings {
                samples: 3,
                sample_target: Duration::from_millis(40),
                quick,
            }
        } else {
            Settings {
                samples: 11,
                sample_target: Duration::from_millis(150),
                quick,
            }
        }
    }

    fn memory_threads(&self, contender: Contender) -> usize {
        let threads = match contender {
            Contender::Reel | Contender::ReelRecording | Contender::ReelReplay => {
                REEL_MEMORY_THREADS
            }
            Contender::Shuttle | Contender::Std => OTHER_MEMORY_THREADS,
        };
        if self.quick { threads / 10 } else { threads }
    }
}

/// Warms up while calibrating: grows the work until one sample takes half the target, and
/// returns how many units make one sample of about `sample_target`.
fn calibrate(settings: &Settings, run_sample: &mut dyn FnMut(u64) -> Sample) -> u64 {
    let warm_up_target = settings.sample_target / 2;
    let mut units = 1u64;
    let nanos_per_unit = loop {
        let sample = run_sample(units);
        if sample.elapsed >= warm_up_target || units >= MAX_UNITS_PER_SAMPLE {
            break sample.nanos_per_unit();
        }
        let growth = if sample.elapsed.is_zero() {
            16.0
        } else {
            (warm_up_target.as_secs_f64() / sample.elapsed.as_secs_f64()).clamp(2.0, 16.0)
        };
        units = ((sample.units.max(units) as f64 * growth) as u64).min(MAX_UNITS_PER_SAMPLE);
    };
    let target_ns = settings.sample_target.as_nanos() as f64;
    ((target_ns / nanos_per_unit.max(0.001)) as u64).clamp(1, MAX_UNITS_PER_SAMPLE)
}

/// Where one contender is in a measurement.
enum Progress {
    /// Calibrated: takes samples of `units` units.
    Sampling {
        units: u64,
        nanos_per_unit: Vec<f64>,
        units_per_sample: u64,
        started: Instant,
        busy: Duration,
    },
    /// Panicked (the panic message was printed by the hook); no figure.
    Failed,
}

/// Measures `measurement` for every contender. Each is calibrated first; then the samples are
/// taken round-robin (reel, shuttle, std, reel, ...) so that a burst of load from elsewhere on
/// the machine falls on all contenders alike rather than on one of them, which keeps the
/// ratios honest on shared cores.
fn measure_all(
    settings: &Settings,
    measurement: TimedMeasurement,
    files: &TraceFiles,
) -> Vec<(Contender, Option<Stats>)> {
    let mut progress: Vec<(Contender, Progress)> = measurement
        .contenders()
        .iter()
        .map(|&contender| {
            let started = Instant::now();
            let calibrated = panic::catch_unwind(AssertUnwindSafe(|| {
                calibrate(settings, &mut |units| {
                    measurement.run_sample(contender, units, files)
                })
            }));
            let state = match calibrated {
                Ok(units) => Progress::Sampling {
                    units,
                    nanos_per_unit: Vec::with_capacity(settings.samples),
                    units_per_sample: units,
                    started,
                    busy: started.elapsed(),
                },
                Err(_) => Progress::Failed,
            };
            (contender, state)
        })
        .collect();
    for _ in 0..settings.samples {
        for (contender, state) in &mut progress {
            let Progress::Sampling {
                units,
                nanos_per_unit,
                units_per_sample,
                busy,
                ..
            } = state
            else {
                continue;
            };
            let sample_started = Instant::now();
            let sample = panic::catch_unwind(AssertUnwindSafe(|| {
                measurement.run_sample(*contender, *units, files)
            }));
            *busy += sample_started.elapsed();
            match sample {
                Ok(sample) => {
                    *units_per_sample = sample.units;
                    nanos_per_unit.push(sample.nanos_per_unit());
                    // Calibration can catch a fast moment (std's wake-ups vary tenfold on
                    // shared cores): shrink samples that run far past the target, so the
                    // whole bench stays within its time budget.
                    if sample.elapsed > settings.sample_target * 4 {
                        let shrink =
                            settings.sample_target.as_secs_f64() / sample.elapsed.as_secs_f64();
                        *units = ((*units as f64 * shrink) as u64).max(1);
                    }
                }
                Err(_) => *state = Progress::Failed,
            }
        }
    }
    progress
        .into_iter()
        .map(|(contender, state)| {
            let stats = match state {
                Progress::Sampling {
                    mut nanos_per_unit,
                    units_per_sample,
                    started,
                    busy,
                    ..
                } if !nanos_per_unit.is_empty() => {
                    nanos_per_unit.sort_by(f64::total_cmp);
                    Some(Stats {
                        median_ns: median(&nanos_per_unit),
                        min_ns: nanos_per_unit[0],
                        max_ns: nanos_per_unit[nanos_per_unit.len() - 1],
                        units_per_sample,
                        samples: nanos_per_unit.len(),
                        busy,
                        wall: started.elapsed(),
                    })
                }
                _ => None,
            };
            (contender, stats)
        })
        .collect()
}

/// The median of sorted, non-empty `values`.
fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "a median needs at least one value");
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// The resident set of this process in KiB (VmRSS of /proc/self/status).
fn resident_kib() -> u64 {
    let status =
        std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("/proc/self/status has a VmRSS line");
    line.trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmRSS is a number of kB")
}

/// One memory case, run in its own child process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MemoryCase {
    ReelDefaultStack,
    ReelSmallStack,
    Shuttle,
    Std,
}

impl MemoryCase {
    const ALL: [MemoryCase; 4] = [
        MemoryCase::ReelDefaultStack,
        MemoryCase::ReelSmallStack,
        MemoryCase::Shuttle,
        MemoryCase::Std,
    ];

    /// The argument that names this case to the child process.
    fn argument(self) -> &'static str {
        match self {
            MemoryCase::ReelDefaultStack => "reel-default-stack",
            MemoryCase::ReelSmallStack => "reel-small-stack",
            MemoryCase::Shuttle => "shuttle",
            MemoryCase::Std => "std",
        }
    }

    fn from_argument(argument: &str) -> Option<MemoryCase> {
        MemoryCase::ALL
            .into_iter()
            .find(|case| case.argument() == argument)
    }

    fn contender(self) -> Contender {
        match self {
            MemoryCase::ReelDefaultStack | MemoryCase::ReelSmallStack => Contender::Reel,
            MemoryCase::Shuttle => Contender::Shuttle,
            MemoryCase::Std => Contender::Std,
        }
    }

    fn stack_description(self) -> String {
        match self {
            // 256 KiB is the default documented on `reel::Runtime::new`.
            MemoryCase::ReelDefaultStack => "default 256 KiB stack".to_string(),
            MemoryCase::ReelSmallStack => format!("{} KiB stack", REEL_SMALL_STACK_BYTES / 1024),
            MemoryCase::Shuttle => format!(
                "shuttle's default {} KiB stack",
                shuttle::Config::new().stack_size / 1024
            ),
            MemoryCase::Std => "std's default stack (2 MiB reserved)".to_string(),
        }
    }

    /// Runs the case in this (child) process and returns (threads, KiB before, KiB after).
    fn run_here(self, settings: &Settings) -> (usize, u64, u64) {
        let threads = settings.memory_threads(self.contender());
        let (before_kib, after_kib) = match self {
            MemoryCase::ReelDefaultStack => {
                reel::run(move || reel_programs::hold_blocked_threads(threads, None))
            }
            MemoryCase::ReelSmallStack => reel::run(move || {
                reel_programs::hold_blocked_threads(threads, Some(REEL_SMALL_STACK_BYTES))
            }),
            MemoryCase::Shuttle => in_one_shuttle_execution(move || {
                shuttle_programs::hold_blocked_threads(threads, None)
            }),
            MemoryCase::Std => std_programs::hold_blocked_threads(threads, None),
        };
        (threads, before_kib, after_kib)
    }
}

/// The prefix of the line a memory child prints its result on.
const MEMORY_RESULT_PREFIX: &str = "memory-result";

/// What a memory child measured.
struct MemoryResult {
    threads: usize,
    before_kib: u64,
    after_kib: u64,
}

impl MemoryResult {
    fn kib_per_thread(&self) -> f64 {
        self.after_kib.saturating_sub(self.before_kib) as f64 / self.threads.max(1) as f64
    }
}

/// Re-executes this binary to run `case` in a fresh process; Err says why no figure came back.
fn run_memory_child(case: MemoryCase, settings: &Settings) -> Result<MemoryResult, String> {
    let executable = std::env::current_exe().map_err(|error| format!("current_exe: {error}"))?;
    let mut command = Command::new(executable);
    command.args(["--memory-child", case.argument()]);
    if settings.quick {
        command.arg("--quick");
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("could not start the child: {error}"))?;
    // Read both pipes on their own threads so that a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > MEMORY_CHILD_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(error) => return Err(format!("waiting for the child: {error}")),
        }
    };
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr = stderr_reader.join().unwrap_or_default();
    let last_stderr_line = stderr.lines().rev().find(|line| !line.trim().is_empty());
    let Some(status) = status else {
        return Err(format!("killed after {} s", MEMORY_CHILD_TIMEOUT.as_secs()));
    };
    if !status.success() {
        return Err(format!(
            "child failed ({status}): {}",
            last_stderr_line.unwrap_or("no message")
        ));
    }
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(MEMORY_RESULT_PREFIX))
        .ok_or_else(|| "the child printed no result".to_string())?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("malformed child result {line:?}: {error}"))?;
    let [threads, before_kib, after_kib] = fields[..] else {
        return Err(format!(
            "malformed child result {line:?}: expected 3 numbers"
        ));
    };
    Ok(MemoryResult {
        threads: usize::try_from(threads).map_err(|error| error.to_string())?,
        before_kib,
        after_kib,
    })
}

/// Command-line options.
struct Options {
    filter: Option<String>,
    quick: bool,
    memory_child: Option<MemoryCase>,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            filter: None,
            quick: false,
            memory_child: None,
        };
        let mut arguments = std::env::args().skip(1);
        while let Some(argument) = arguments.next() {
            match argument.as_str() {
                "--quick" => options.quick = true,
                "--memory-child" => {
                    let case = arguments.next().unwrap_or_default();
                    match MemoryCase::from_argument(&case) {
                        Some(case) => options.memory_child = Some(case),
                        None => {
                            eprintln!("unknown memory case {case:?}");
                            std::process::exit(2);
                        }
                    }
                }
                // Cargo passes `--bench`; other harness flags mean nothing here either.
                flag if flag.starts_with('-') => {}
                filter => {
                    if options.filter.is_none() {
                        options.filter = Some(filter.to_string());
                    }
                }
            }
        }
        options
    }

    fn selects(&self, name: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|filter| name.contains(filter))
    }
}

/// One line of the results table: a figure for each contender (None when it failed).
struct Row {
    title: String,
    figure: Figure,
    unit: String,
    reel: Option<f64>,
    shuttle: Option<f64>,
    std: Option<f64>,
}

/// A number with about four significant digits and thousands separators.
fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= 1000.0 {
        let digits = format!("{:.0}", value.abs());
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        if value < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else if value.abs() >= 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A count, with thousands separators.
fn format_count(count: u64) -> String {
    if count >= 1000 {
        format_number(count as f64)
    } else {
        count.to_string()
    }
}

/// A ratio with three significant digits, e.g. `0.00712x`, `1.25x`, `312x`.
fn format_ratio(numerator: Option<f64>, denominator: Option<f64>) -> String {
    match (numerator, denominator) {
        (Some(numerator), Some(denominator)) if denominator > 0.0 => {
            let ratio = numerator / denominator;
            if ratio >= 100.0 {
                format!("{ratio:.0}x")
            } else if ratio > 0.0 {
                let decimals = (2 - ratio.log10().floor() as i32).max(0) as usize;
                format!("{ratio:.decimals$}x")
            } else {
                format!("{ratio}x")
            }
        }
        _ => "-".to_string(),
    }
}

/// A slowdown with three decimals, so that one next to its goal reads as met or not.
fn format_slowdown(slowdown: Option<f64>) -> String {
    slowdown.map_or_else(|| "-".to_string(), |slowdown| format!("{slowdown:.3}x"))
}

/// A duration given in nanoseconds, in a unit a reader takes in at a glance.
fn format_nanos(nanos: f64) -> String {
    if nanos >= 1e6 {
        format!("{:.2} ms", nanos / 1e6)
    } else if nanos >= 1e3 {
        format!("{:.2} µs", nanos / 1e3)
    } else {
        format!("{nanos:.1} ns")
    }
}

fn format_cell(value: Option<f64>) -> String {
    value.map_or_else(|| "FAILED".to_string(), format_number)
}

/// How many times better `a` is than `b` for a figure where `better` says which way is good.
fn advantage(figure: Figure, a: f64, b: f64) -> f64 {
    match figure {
        Figure::NanosPerUnit | Figure::KibPerThread => b / a,
        Figure::UnitsPerSecond => a / b,
    }
}

fn goal_status(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "unknown (failed)",
    }
}

/// A line of the recording table: reel's figure with recording off and on.
struct RecordRow {
    title: String,
    figure: Figure,
    unit: String,
    off: Option<f64>,
    on: Option<f64>,
}

impl RecordRow {
    /// How many times longer a unit takes with recording on.
    fn slowdown(&self) -> Option<f64> {
        let (off, on) = self.off.zip(self.on)?;
        (off > 0.0 && on > 0.0).then(|| advantage(self.figure, off, on))
    }
}

/// The line of the replay table: steps per second of whole runs.
struct ReplayRow {
    title: String,
    unrecorded: Option<f64>,
    recorded: Option<f64>,
    replay: Option<f64>,
}

/// A line of the trace-size table.
struct SizeRow {
    title: String,
    size: Option<TraceSize>,
    /// Bytes per step over the trace of an empty program (the fixed header and prologue).
    over_empty: Option<f64>,
}

impl SizeRow {
    /// The goal on the file's bytes per step, and on those over an empty trace if that differs.
    fn goal(&self) -> String {
        let met = |bytes_per_step: f64| bytes_per_step <= GOAL_BYTES_PER_STEP;
        let whole = self.size.as_ref().map(|size| met(size.bytes_per_step()));
        let over_empty = self.over_empty.map(met);
        let mut goal = format!("<= {GOAL_BYTES_PER_STEP} B/step: {}", goal_status(whole));
        if over_empty.is_some() && over_empty != whole {
            goal.push_str(&format!(" (over empty: {})", goal_status(over_empty)));
        }
        goal
    }
}

/// Prints one contender's statistics in a measurement's section.
fn print_stats(measurement: TimedMeasurement, contender: Contender, stats: Option<&Stats>) {
    let Some(stats) = stats else {
        println!(
            "  {:<12} FAILED (panicked; see the message above)",
            contender.name()
        );
        return;
    };
    println!(
        "  {:<12} median {:>12} ns/{}  (min {}, max {}; {} samples x {} {}s; {:.1} s of {:.1} s)",
        contender.name(),
        format_number(stats.median_ns),
        measurement.unit_name(),
        format_number(stats.min_ns),
        format_number(stats.max_ns),
        stats.samples,
        stats.units_per_sample,
        measurement.unit_name(),
        stats.busy.as_secs_f64(),
        stats.wall.as_secs_f64(),
    );
}

fn main() {
    let options = Options::parse();
    let settings = Settings::new(options.quick);

    if let Some(case) = options.memory_child {
        let (threads, before_kib, after_kib) = case.run_here(&settings);
        println!("{MEMORY_RESULT_PREFIX} {threads} {before_kib} {after_kib}");
        return;
    }

    println!(
        "reel runtime benchmarks: {} mode, {} samples of ~{} ms each (median reported), {} CPUs",
        if settings.quick { "quick" } else { "full" },
        settings.samples,
        settings.sample_target.as_millis(),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    for variable in ["REEL_RECORD", "REEL_REPLAY", "REEL_ITERATIONS", "REEL_SEED"] {
        if std::env::var_os(variable).is_some_and(|value| !value.is_empty()) {
            println!("warning: {variable} is set; it changes what reel's figures measure");
        }
    }
    let bench_started = Instant::now();
    let mut files = TraceFiles::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut record_rows: Vec<RecordRow> = Vec::new();
    let mut replay_row: Option<ReplayRow> = None;
    let mut size_rows: Vec<SizeRow> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut ping_pong_row = None;
    let mut exploration_row = None;
    let mut spawn_join_row = None;

    for measurement in TimedMeasurement::ALL {
        if !options.selects(measurement.name()) {
            continue;
        }
        println!("\n== {} ({})", measurement.title(), measurement.name());
        if measurement == TimedMeasurement::Replay {
            match record_trace(&files.replayed, trace_ping_pong) {
                Ok(size) => {
                    files.replayed_steps = size.steps;
                    println!(
                        "  trace: {} steps, {} bytes in {}",
                        format_count(size.steps),
                        format_count(size.file_bytes),
                        files.replayed.display()
                    );
                }
                Err(error) => {
                    println!("  FAILED to record the trace to replay: {error}");
                    replay_row = Some(ReplayRow {
                        title: measurement.title(),
                        unrecorded: None,
                        recorded: None,
                        replay: None,
                    });
                    notes.push(measurement.note());
                    continue;
                }
            }
        }
        let figure = measurement.figure();
        let mut values: Vec<(Contender, Option<f64>)> = Vec::new();
        for (contender, stats) in measure_all(&settings, measurement, &files) {
            print_stats(measurement, contender, stats.as_ref());
            let value = stats.map(|stats| match figure {
                Figure::UnitsPerSecond => 1e9 / stats.median_ns,
                Figure::NanosPerUnit | Figure::KibPerThread => stats.median_ns,
            });
            values.push((contender, value));
        }
        let value_of = |wanted: Contender| {
            values
                .iter()
                .find(|(contender, _)| *contender == wanted)
                .and_then(|(_, value)| *value)
        };
        notes.push(measurement.note());
        let unit = figure.unit(measurement.unit_name());
        match measurement {
            TimedMeasurement::PingPong
            | TimedMeasurement::LockExploration
            | TimedMeasurement::SpawnJoin => {
                match measurement {
                    TimedMeasurement::PingPong => ping_pong_row = Some(rows.len()),
                    TimedMeasurement::LockExploration => exploration_row = Some(rows.len()),
                    _ => spawn_join_row = Some(rows.len()),
                }
                rows.push(Row {
                    title: measurement.title(),
                    figure,
                    unit,
                    reel: value_of(Contender::Reel),
                    shuttle: value_of(Contender::Shuttle),
                    std: value_of(Contender::Std),
                });
            }
            TimedMeasurement::PingPongRecord | TimedMeasurement::LockExplorationRecord => {
                let title = match measurement {
                    TimedMeasurement::PingPongRecord => {
                        "channel ping-pong round trip (Runtime::record to a file)".to_string()
                    }
                    _ => "2-thread 10-lock random exploration (Checker::record)".to_string(),
                };
                record_rows.push(RecordRow {
                    title,
                    figure,
                    unit,
                    off: value_of(Contender::Reel),
                    on: value_of(Contender::ReelRecording),
                });
            }
            TimedMeasurement::Replay => {
                replay_row = Some(ReplayRow {
                    title: measurement.title(),
                    unrecorded: value_of(Contender::Reel),
                    recorded: value_of(Contender::ReelRecording),
                    replay: value_of(Contender::ReelReplay),
                });
            }
        }
    }

    if options.selects("bytes-per-step") {
        println!("\n== trace file size per step (bytes-per-step)");
        let empty = record_trace(&files.scratch, trace_empty);
        match &empty {
            Ok(size) => println!(
                "  {:<44} {:>9} steps {:>11} bytes (the fixed part of every trace)",
                "empty program",
                format_count(size.steps),
                format_count(size.file_bytes),
            ),
            Err(error) => println!("  {:<44} FAILED: {error}", "empty program"),
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
                "2-thread 10-lock test, one execution".to_string(),
                reel_programs::two_threads_ten_locks,
            ),
        ];
        for (title, program) in cases {
            let size = record_trace(&files.scratch, program);
            let over_empty = match (&size, &empty) {
                (Ok(size), Ok(empty)) if size.steps > empty.steps => Some(
                    size.file_bytes.saturating_sub(empty.file_bytes) as f64
                        / (size.steps - empty.steps) as f64,
                ),
                _ => None,
            };
            match &size {
                Ok(size) => println!(
                    "  {:<44} {:>9} steps {:>11} bytes = {} bytes/step ({} over the empty program's)",
                    title,
                    format_count(size.steps),
                    format_count(size.file_bytes),
                    format_number(size.bytes_per_step()),
                    over_empty.map_or_else(|| "-".to_string(), format_number),
                ),
                Err(error) => println!("  {title:<44} FAILED: {error}"),
            }
            size_rows.push(SizeRow {
                title,
                size: size.ok(),
                over_empty,
            });
        }
        notes.push(
            "bytes-per-step: Runtime::new().record(file).run(program), one plain run (the lock \
             test under run-until-block scheduling, as exploration records one execution); \
             bytes/step = file size / trace.steps, read back with Replay::from_file and replayed \
             (Reproduced); 'over empty' subtracts the trace of an empty program (header, \
             prologue, outcome)"
                .to_string(),
        );
    }

    let mut memory_rows: Vec<(MemoryCase, usize)> = Vec::new();
    if options.selects("memory") {
        println!(
            "\n== resident memory per live blocked thread (memory), one child process per case"
        );
        let mut results: Vec<(MemoryCase, Option<MemoryResult>)> = Vec::new();
        for case in MemoryCase::ALL {
            let started = Instant::now();
            match run_memory_child(case, &settings) {
                Ok(result) => {
                    println!(
                        "  {:<20} {:>7} threads, {}: RSS {} KiB -> {} KiB = {} KiB/thread ({:.1} s)",
                        case.argument(),
                        result.threads,
                        case.stack_description(),
                        result.before_kib,
                        result.after_kib,
                        format_number(result.kib_per_thread()),
                        started.elapsed().as_secs_f64(),
                    );
                    results.push((case, Some(result)));
                }
                Err(error) => {
                    println!("  {:<20} FAILED: {error}", case.argument());
                    results.push((case, None));
                }
            }
        }
        let per_thread = |wanted: MemoryCase| {
            results
                .iter()
                .find(|(case, _)| *case == wanted)
                .and_then(|(_, result)| result.as_ref().map(MemoryResult::kib_per_thread))
        };
        for reel_case in [MemoryCase::ReelDefaultStack, MemoryCase::ReelSmallStack] {
            memory_rows.push((reel_case, rows.len()));
            rows.push(Row {
                title: format!(
                    "RSS per blocked thread (reel: {})",
                    reel_case.stack_description()
                ),
                figure: Figure::KibPerThread,
                unit: Figure::KibPerThread.unit("thread"),
                reel: per_thread(reel_case),
                shuttle: per_thread(MemoryCase::Shuttle),
                std: per_thread(MemoryCase::Std),
            });
        }
        notes.push(format!(
            "memory: threads held blocked on one Barrier: reel {}, shuttle {} ({}), std {} ({}); \
             KiB/thread = (VmRSS with all blocked - VmRSS before spawning) / threads",
            settings.memory_threads(Contender::Reel),
            settings.memory_threads(Contender::Shuttle),
            MemoryCase::Shuttle.stack_description(),
            settings.memory_threads(Contender::Std),
            MemoryCase::Std.stack_description(),
        ));
    }

    if rows.is_empty() && record_rows.is_empty() && replay_row.is_none() && size_rows.is_empty() {
        println!(
            "no measurement matches the filter {:?}; names: pingpong, pingpong-record, \
             lock-exploration, lock-exploration-record, spawn-join, replay, bytes-per-step, memory",
            options.filter.as_deref().unwrap_or("")
        );
        return;
    }

    if !rows.is_empty() {
        println!("\n== results (medians)");
        println!(
            "{:<58} {:<18} {:>13} {:>13} {:>13} {:>13} {:>10}  better",
            "measurement", "unit", "reel", "shuttle", "std", "reel/shuttle", "reel/std"
        );
        for row in &rows {
            println!(
                "{:<58} {:<18} {:>13} {:>13} {:>13} {:>13} {:>10}  {}",
                row.title,
                row.unit,
                format_cell(row.reel),
                format_cell(row.shuttle),
                format_cell(row.std),
                format_ratio(row.reel, row.shuttle),
                format_ratio(row.reel, row.std),
                row.figure.better(),
            );
        }
    }
    if !record_rows.is_empty() {
        println!("\n== recording overhead (medians; slowdown = time per unit, on / off)");
        println!(
            "{:<58} {:<18} {:>13} {:>13} {:>10}  {:<22} better",
            "measurement", "unit", "record off", "record on", "slowdown", "goal"
        );
        for row in &record_rows {
            let slowdown = row.slowdown();
            println!(
                "{:<58} {:<18} {:>13} {:>13} {:>10}  {:<22} {}",
                row.title,
                row.unit,
                format_cell(row.off),
                format_cell(row.on),
                format_slowdown(slowdown),
                format!(
                    "<= {GOAL_RECORD_SLOWDOWN}x: {}",
                    goal_status(slowdown.map(|slowdown| slowdown <= GOAL_RECORD_SLOWDOWN))
                ),
                row.figure.better(),
            );
        }
    }
    if let Some(row) = &replay_row {
        println!("\n== replay (medians of whole runs)");
        println!(
            "{:<58} {:<18} {:>13} {:>13} {:>13} {:>15} {:>17}  better",
            "measurement",
            "unit",
            "unrecorded",
            "recorded",
            "replay",
            "replay/recorded",
            "replay/unrecorded"
        );
        println!(
            "{:<58} {:<18} {:>13} {:>13} {:>13} {:>15} {:>17}  {}",
            row.title,
            Figure::UnitsPerSecond.unit("step"),
            format_cell(row.unrecorded),
            format_cell(row.recorded),
            format_cell(row.replay),
            format_ratio(row.replay, row.recorded),
            format_ratio(row.replay, row.unrecorded),
            Figure::UnitsPerSecond.better(),
        );
    }
    if !size_rows.is_empty() {
        println!("\n== trace size");
        println!(
            "{:<58} {:>11} {:>13} {:>11} {:>17}  {:<38} better",
            "trace", "steps", "file bytes", "bytes/step", "over empty trace", "goal"
        );
        for row in &size_rows {
            let count =
                |count: Option<u64>| count.map_or_else(|| "FAILED".to_string(), format_count);
            println!(
                "{:<58} {:>11} {:>13} {:>11} {:>17}  {:<38} lower",
                row.title,
                count(row.size.as_ref().map(|size| size.steps)),
                count(row.size.as_ref().map(|size| size.file_bytes)),
                format_cell(row.size.as_ref().map(TraceSize::bytes_per_step)),
                row.over_empty
                    .map_or_else(|| "-".to_string(), format_number),
                row.goal(),
            );
        }
    }
    for note in &notes {
        println!("  * {note}");
    }

    // The summary block, in Markdown, for README.md.
    println!("\n== summary (for README.md)");
    let versus = |row: &Row, other: Option<f64>| match (row.reel, other) {
        (Some(reel), Some(other)) if reel > 0.0 && other > 0.0 => {
            let times = advantage(row.figure, reel, other);
            if times >= 1.0 {
                format!("{} better", format_ratio(Some(times), Some(1.0)))
            } else {
                format!("{} worse", format_ratio(Some(1.0 / times), Some(1.0)))
            }
        }
        _ => "-".to_string(),
    };
    let nanos_cell = |value: Option<f64>| value.map_or_else(|| "FAILED".to_string(), format_nanos);
    let per_second_cell = |value: Option<f64>, unit: &str| {
        value.map_or_else(
            || "FAILED".to_string(),
            |value| format!("{} {unit}", format_number(value)),
        )
    };
    if !rows.is_empty() {
        println!("| measurement | reel | shuttle | std | reel vs shuttle | reel vs std | goal |");
        println!("| --- | --- | --- | --- | --- | --- | --- |");
    }
    if let Some(index) = ping_pong_row {
        let row = &rows[index];
        let met = row.reel.map(|reel| reel <= GOAL_ROUND_TRIP_NS);
        println!(
            "| channel ping-pong round trip | {} | {} | {} | {} | {} | reel <= {GOAL_ROUND_TRIP_NS} ns: {} |",
            nanos_cell(row.reel),
            nanos_cell(row.shuttle),
            nanos_cell(row.std),
            versus(row, row.shuttle),
            versus(row, row.std),
            goal_status(met),
        );
    }
    if let Some(index) = exploration_row {
        let row = &rows[index];
        let speedup = row
            .reel
            .zip(row.shuttle)
            .map(|(reel, shuttle)| reel / shuttle);
        println!(
            "| 2-thread 10-lock random exploration (reel: record(false)) | {} | {} | {} | {} | {} | reel >= {GOAL_EXPLORATION_SPEEDUP}x shuttle: {} |",
            per_second_cell(row.reel, "exec/s"),
            per_second_cell(row.shuttle, "exec/s"),
            per_second_cell(row.std, "exec/s"),
            versus(row, row.shuttle),
            versus(row, row.std),
            goal_status(speedup.map(|speedup| speedup >= GOAL_EXPLORATION_SPEEDUP)),
        );
    }
    if let Some(index) = spawn_join_row {
        let row = &rows[index];
        println!(
            "| spawn + join of an empty thread | {} | {} | {} | {} | {} | - |",
            nanos_cell(row.reel),
            nanos_cell(row.shuttle),
            nanos_cell(row.std),
            versus(row, row.shuttle),
            versus(row, row.std),
        );
    }
    for (case, index) in &memory_rows {
        let row = &rows[*index];
        let kib_cell = |value: Option<f64>| {
            value.map_or_else(
                || "FAILED".to_string(),
                |value| format!("{} KiB", format_number(value)),
            )
        };
        let met = row.reel.map(|reel| reel <= GOAL_KIB_PER_THREAD);
        println!(
            "| RSS per blocked thread (reel: {} threads, {}; shuttle, std: {} threads) | {} | {} | {} | {} | {} | reel <= {GOAL_KIB_PER_THREAD} KiB: {} |",
            format_number(settings.memory_threads(Contender::Reel) as f64),
            case.stack_description(),
            format_number(settings.memory_threads(Contender::Std) as f64),
            kib_cell(row.reel),
            kib_cell(row.shuttle),
            kib_cell(row.std),
            versus(row, row.shuttle),
            versus(row, row.std),
            goal_status(met),
        );
    }
    if !record_rows.is_empty() {
        println!();
        println!("| reel, recording | off | on | slowdown | goal |");
        println!("| --- | --- | --- | --- | --- |");
        for row in &record_rows {
            let cell = |value: Option<f64>| match row.figure {
                Figure::UnitsPerSecond => per_second_cell(value, "exec/s"),
                Figure::NanosPerUnit | Figure::KibPerThread => nanos_cell(value),
            };
            let slowdown = row.slowdown();
            println!(
                "| {} | {} | {} | {} | <= {GOAL_RECORD_SLOWDOWN}x: {} |",
                row.title,
                cell(row.off),
                cell(row.on),
                format_slowdown(slowdown),
                goal_status(slowdown.map(|slowdown| slowdown <= GOAL_RECORD_SLOWDOWN)),
            );
        }
    }
    if let Some(row) = &replay_row {
        println!();
        println!(
            "| reel, whole run | unrecorded | recorded | replay | replay vs recorded | replay vs unrecorded |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.title,
            per_second_cell(row.unrecorded, "steps/s"),
            per_second_cell(row.recorded, "steps/s"),
            per_second_cell(row.replay, "steps/s"),
            format_ratio(row.replay, row.recorded),
            format_ratio(row.replay, row.unrecorded),
        );
    }
    if !size_rows.is_empty() {
        println!();
        println!("| trace | steps | file size | bytes/step | over an empty trace | goal |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for row in &size_rows {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                row.title,
                row.size
                    .as_ref()
                    .map_or_else(|| "FAILED".to_string(), |size| format_count(size.steps)),
                row.size.as_ref().map_or_else(
                    || "FAILED".to_string(),
                    |size| format!("{} B", format_count(size.file_bytes))
                ),
                format_cell(row.size.as_ref().map(TraceSize::bytes_per_step)),
                row.over_empty
                    .map_or_else(|| "-".to_string(), format_number),
                row.goal(),
            );
        }
    }
    println!(
        "\nMeasured by `cargo bench --bench runtime{}` (benches/runtime.rs): medians of {} samples; \
         {} CPUs. Total bench time {:.0} s.",
        if settings.quick { " -- --quick" } else { "" },
        settings.samples,
        std::thread::available_parallelism().map_or(0, usize::from),
        bench_started.elapsed().as_secs_f64(),
    );
}
