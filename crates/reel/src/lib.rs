//! reel: a deterministic runtime for concurrent Rust. Green threads on one kernel thread,
//! std-like `thread` and `sync` APIs, and a scheduler that decides every interleaving, so
//! that schedules can be explored in tests and failures reproduced exactly.
//!
//! # Entry points
//! - [`run`] runs a program's main on the runtime (run-until-block scheduling, real time).
//! - [`check_random`], [`check_pct`], [`check_dfs`] explore schedules in a test and panic
//!   with a report on the first failure; [`Checker`] does the same and returns a
//!   [`Report`] (its default strategy is the portfolio, [`Strategy::Portfolio`]). Every execution
//!   is recorded in memory and the failing one's trace saved (`target/reel/traces/`).
//! - [`replay`] and [`Replay`] run a program again with a trace as its scheduler, checking
//!   every step against it; [`Runtime::record`] records a plain run. The environment
//!   variables REEL_REPLAY, REEL_RECORD, REEL_CHECK_DETERMINISM, REEL_TRACE_DIR, REEL_SEED
//!   and REEL_ITERATIONS do the same without code changes. [`reel_trace`] reads traces.
//!
//! # Porting
//! Replace `std::thread` with `reel::thread` and `std::sync` with `reel::sync`; signatures
//! and semantics (poisoning, join results, scoped threads) are those of std. `std::net` and
//! `std::fs` become [`net`] and [`fs`]; a blocking call of your own goes to
//! [`task::spawn_blocking`]. Every I/O result is recorded, and a replay performs no I/O.
//!
//! ```
//! use reel::sync::{Arc, Mutex};
//! use reel::sync::atomic::{AtomicUsize, Ordering};
//!
//! // A lost update: two threads read-modify-write a counter in two steps.
//! let lost_update = || {
//!     let counter = Arc::new(AtomicUsize::new(0));
//!     let handles: Vec<_> = (0..2)
//!         .map(|_| {
//!             let counter = Arc::clone(&counter);
//!             reel::thread::spawn(move || {
//!                 let seen = counter.load(Ordering::SeqCst);
//!                 counter.store(seen + 1, Ordering::SeqCst);
//!             })
//!         })
//!         .collect();
//!     for handle in handles {
//!         handle.join().unwrap();
//!     }
//!     assert_eq!(counter.load(Ordering::SeqCst), 2, "an update was lost");
//! };
//! let report = reel::Checker::new().random().iterations(500).seed(1).run(lost_update);
//! assert!(report.found());
//! // The failing execution's trace was saved; it replays to the same failure.
//! let trace = report.trace.clone().expect("the trace is saved");
//! let replayed = reel::Replay::from_file(&trace).unwrap().run(lost_update).unwrap();
//! assert!(replayed.reproduced());
//! assert_eq!(report.failure.unwrap().kind, reel::FailureKind::Panic);
//!
//! // The same code runs as a plain program too.
//! let total = reel::run(|| {
//!     let data = Arc::new(Mutex::new(0));
//!     let worker = {
//!         let data = Arc::clone(&data);
//!         reel::thread::spawn(move || *data.lock().unwrap() += 1)
//!     };
//!     worker.join().unwrap();
//!     let total = *data.lock().unwrap();
//!     total
//! });
//! assert_eq!(total, 1);
//! ```
//!
//! # Failures
//! An exploration reports: a panic in any thread (message, thread, location, step); a
//! deadlock, with the wait-for cycle and each thread's blocking operation and location; a
//! partial deadlock (a cycle while other threads still run); a thread locking a lock it
//! already holds; and an execution that exceeds its step bound (a likely livelock, naming
//! the spinning thread).

#![deny(unsafe_op_in_unsafe_fn)]

/// The README's Rust examples, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;

mod check;
mod debug;
pub mod fs;
pub mod hash;
pub mod minimize;
pub mod net;
pub mod rand;
mod recording;
mod replay;
mod runtime;
pub mod scheduler;
pub mod signal;
pub mod sync;
pub mod task;
pub mod thread;
pub mod time;

pub use check::{
    Checker, DEFAULT_IO_PATIENCE, DEFAULT_MAX_STEPS, MAX_JOBS, MAX_SHARDS, Report, Shard,
    check_dfs, check_pct, check_random,
};
/// `#[reel::test]`: a `#[test]` that explores its body's schedules with [`Checker`] (the
/// default portfolio unless told otherwise) and fails with the report. Arguments:
/// `strategy = "pct"` (any of [`Strategy`]'s spellings, and `pct` alone), `depth = N`,
/// `preemptions = N`, `iterations = N`, `seed = N`, `jobs = N`, `max_steps = N`.
///
/// ```
/// use reel::sync::atomic::{AtomicUsize, Ordering};
/// use reel::sync::Arc;
///
/// #[reel::test(strategy = "pct", depth = 2, iterations = 50, seed = 1)]
/// fn increments_are_atomic() {
///     let counter = Arc::new(AtomicUsize::new(0));
///     let other = {
///         let counter = Arc::clone(&counter);
///         reel::thread::spawn(move || counter.fetch_add(1, Ordering::SeqCst))
///     };
///     counter.fetch_add(1, Ordering::SeqCst);
///     other.join().unwrap();
///     assert_eq!(counter.load(Ordering::SeqCst), 2);
/// }
/// ```
pub use reel_macros::test;
pub use reel_trace;
pub use replay::{
    Divergence, MovedLocation, Replay, ReplayError, ReplayReport, ReplayResult, replay,
};
pub use runtime::failure::{BlockedThread, Failure, FailureKind, Location, StepRecord, ThreadInfo};
pub use scheduler::Strategy;

use std::panic;
use std::path::PathBuf;
use std::time::Duration;

use runtime::clock::Clock;
use runtime::execution::{self, DEFAULT_STACK_BYTES, ExecutionConfig, PanicPolicy, WatchSettings};
use runtime::seams::{Decider, Observer};
use runtime::watchdog::env_millis;
pub use runtime::watchdog::{DEFAULT_STALL_MS, DEFAULT_TIME_SLICE_MS};
use scheduler::RunUntilBlock;

/// Hints, as `std::hint`.
pub mod hint {
    /// Tells the scheduler the thread is spinning: a scheduling point that lets others run.
    /// Use it in spin loops, where a many-to-one runtime would otherwise spin forever on a
    /// lock whose holder cannot run.
    #[track_caller]
    pub fn spin_loop() {
        crate::runtime::execution::yield_point(crate::runtime::vocabulary::Op::Yield);
        std::hint::spin_loop();
    }
}

/// A plain runtime's settings: `Runtime::new().stack_size(..).run(f)`.
#[derive(Clone, Debug)]
pub struct Runtime {
    stack_bytes: usize,
    max_steps: Option<u64>,
    spin_limit: Option<u64>,
    record: Option<PathBuf>,
    helper_threads: usize,
    io_uring: Option<bool>,
    time_slice: Option<Duration>,
    stall_threshold: Option<Duration>,
}

/// Consecutive identical atomic loads after which a plain run reports a spinning thread.
pub const DEFAULT_SPIN_LIMIT: u64 = 1_000_000;

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime::new()
    }
}

impl Runtime {
    /// Default settings: 256 KiB stacks, no step bound, spin detection on.
    pub fn new() -> Runtime {
        Runtime {
            stack_bytes: DEFAULT_STACK_BYTES,
            max_steps: None,
            spin_limit: Some(DEFAULT_SPIN_LIMIT),
            record: None,
            helper_threads: runtime::io::DEFAULT_HELPER_THREADS,
            io_uring: None,
            time_slice: Some(Duration::from_millis(DEFAULT_TIME_SLICE_MS)),
            stall_threshold: Some(Duration::from_millis(DEFAULT_STALL_MS)),
        }
    }

    /// Sets the time slice (default 10 ms; REEL_TIME_SLICE_MS overrides it, `0` or `off`
    /// turns it off): a thread that has run this long without blocking or yielding is
    /// preempted at its next scheduling point, so that a thread looping over locks,
    /// atomics or non-blocking channel operations cannot starve the others. Every
    /// preemption is in the trace, so a replay preempts at the same step. A thread runs
    /// between one and one and a half slices. `None` turns slicing off (run until block).
    pub fn time_slice(mut self, slice: Option<Duration>) -> Runtime {
        self.time_slice = slice;
        self
    }

    /// Sets the watchdog's stall threshold (default 100 ms; REEL_STALL_MS overrides it,
    /// `0` or `off` turns it off): when one green thread holds the kernel thread this long
    /// without a scheduling point (a blocking system call, a long computation) while others
    /// are ready, reel reports it on stderr (and in the trace) when it ends, naming the
    /// thread, the system call or "computing", and where. `None` turns the watchdog off.
    pub fn stall_threshold(mut self, threshold: Option<Duration>) -> Runtime {
        self.stall_threshold = threshold;
        self
    }

    /// Records the run to a trace file at `path` (created or replaced), written chunk by
    /// chunk as the run goes, so that a run that crashes or is killed leaves a trace readable
    /// up to its last complete chunk. The REEL_RECORD environment variable does the same for
    /// a program that does not set it.
    pub fn record(mut self, path: impl Into<PathBuf>) -> Runtime {
        self.record = Some(path.into());
        self
    }

    /// Default usable stack size of the runtime's green threads, in bytes.
    pub fn stack_size(mut self, stack_bytes: usize) -> Runtime {
        self.stack_bytes = stack_bytes;
        self
    }

    /// Bounds the run's steps; going past panics with a livelock report.
    pub fn max_steps(mut self, max_steps: u64) -> Runtime {
        self.max_steps = Some(max_steps);
        self
    }

    /// Sets the spin detector: after `limit` consecutive identical atomic loads by one
    /// thread while others wait to run, the run panics with a livelock report (in a
    /// many-to-one runtime nothing else can change the value). `None` turns it off.
    pub fn spin_limit(mut self, limit: Option<u64>) -> Runtime {
        self.spin_limit = limit;
        self
    }

    /// The most helper kernel threads the runtime starts for work that cannot be made
    /// non-blocking ([`task::spawn_blocking`], host-name resolution); at least 1, 4 by
    /// default. Further jobs queue.
    pub fn helper_threads(mut self, threads: usize) -> Runtime {
        self.helper_threads = threads.max(1);
        self
    }

    /// Whether file operations (`fs`) may use io_uring where the kernel allows it (the
    /// default; REEL_IO_URING=0 turns it off too). Off, they run on helper threads. Applies
    /// from this runtime's start on, on this kernel thread. [`fs::backend`] says which path
    /// runs.
    pub fn io_uring(mut self, enabled: bool) -> Runtime {
        self.io_uring = Some(enabled);
        self
    }

    /// Runs `f` as the main green thread and returns its result. Threads still running when
    /// it returns are abandoned, as std's are at process exit. If `f` panics, the panic is
    /// resumed here; a deadlock or a re-entrant lock panics with the failure report.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut f = Some(f);
        let mut result = None;
        let mut panic_payload = None;
        let mut body = || {
            let f = f.take().expect("the main closure runs once");
            match execution::run_program(f) {
                Ok(value) => result = Some(value),
                Err(payload) => panic_payload = Some(payload),
            }
        };
        let config = ExecutionConfig {
            max_steps: self.max_steps,
            stack_bytes: self.stack_bytes,
            panic_policy: PanicPolicy::ToJoin,
            spin_limit: self.spin_limit,
            print_panics: true,
            clock: Clock::new_real(),
            signals: execution::SignalSource::Os,
            random_seed: None,
            watch: WatchSettings {
                time_slice: env_millis("REEL_TIME_SLICE_MS").unwrap_or(self.time_slice),
                stall: env_millis("REEL_STALL_MS").unwrap_or(self.stall_threshold),
                replays_slices: false,
            },
            fail_on_stall: false,
            // A plain run waits for I/O as long as it takes.
            io_patience: None,
            io_timing: None,
        };
        runtime::io::set_helper_threads(self.helper_threads);
        if let Some(enabled) = self.io_uring {
            runtime::io::uring::choose(enabled);
        }
        let replayed = env_path("REEL_REPLAY").and_then(|path| replay_run(&mut body, &path));
        let failure = match replayed {
            Some(failure) => failure,
            None => self.record_run(&mut body, config),
        };
        if let Some(payload) = panic_payload {
            panic::resume_unwind(payload);
        }
        if let Some(failure) = failure {
            panic!("reel: the program failed: {failure}");
        }
        result.expect("the main thread returned a value")
    }

    /// A plain run, recorded if asked to.
    fn record_run(&self, body: &mut dyn FnMut(), config: ExecutionConfig) -> Option<Failure> {
        let mut observers: Vec<Box<dyn Observer>> = Vec::new();
        if let Some(path) = self.record.clone().or_else(|| env_path("REEL_RECORD")) {
            let run = recording::program::RunDescription {
                strategy: Strategy::RunUntilBlock.to_string(),
                seed: None,
                iteration: None,
            };
            let header = recording::program::header(run, &config);
            match recording::recorder::Recorder::to_file(header, &path) {
                Ok(recorder) => {
                    let mut recorder = Box::new(recorder);
                    // Boxed, the recorder does not move while the handlers may read it.
                    recorder.begin_emergency();
                    observers.push(recorder);
                }
                Err(error) => {
                    panic!("reel: cannot record the run to {}: {error}", path.display())
                }
            }
        }
        let decider = Decider::RunUntilBlock(RunUntilBlock::new());
        let outcome = execution::run_execution(body, decider, observers, config);
        if let Some(recorder) = outcome.observers.into_iter().next()
            && let Ok(recorder) = recorder
                .into_any()
                .downcast::<recording::recorder::Recorder>()
            && let Some((path, error)) = recorder.file_error()
        {
            eprintln!(
                "reel: writing the trace {} failed: {error}; it holds the run up to that point",
                path.display()
            );
        }
        outcome.failure
    }
}

fn replay_run(body: &mut dyn FnMut(), path: &std::path::Path) -> Option<Option<Failure>> {
    let replay = Replay::from_env_path(path);
    let header = &replay.trace().header;
    let this_test = recording::program::test_name();
    let strategy = Strategy::parse(&header.run.strategy);
    if strategy != Strategy::RunUntilBlock || header.program.entry != this_test {
        eprintln!(
            "reel: REEL_REPLAY={} is a trace of {} ({}); this reel::run runs as usual",
            path.display(),
            header
                .program
                .entry
                .as_deref()
                .unwrap_or("the program's main"),
            header.run.strategy
        );
        return None;
    }
    let mut config = replay.config();
    config.print_panics = true;
    let report = replay.run_body(body, config, debug::attach());
    eprint!("{report}");
    match report.result {
        ReplayResult::Reproduced => Some(report.failure),
        ReplayResult::Diverged(_) | ReplayResult::EndOfTrace => {
            panic!(
                "reel: the replay of {} stopped before the program's end",
                path.display()
            )
        }
    }
}

/// A path from the environment, if set and not empty.
pub(crate) fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// Runs `f` as the main green thread of a fresh runtime; see [`Runtime::run`].
pub fn run<T>(f: impl FnOnce() -> T) -> T {
    Runtime::new().run(f)
}
