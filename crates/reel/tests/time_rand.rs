//! Clock and random reads as recorded inputs: a recorded plain run prints the same times and
//! random numbers when replayed in a new process; exploration gives the same values for the
//! same seed; a replay that reads what the trace does not have stops with a divergence; a
//! `HashMap` keyed by reel's `RandomState` replays where std's is caught by the determinism
//! self-check; and the timed waits keep std's semantics on reel's clock.
//!
//! The tests marked `#[ignore]` are child processes of the others: each parent runs one of
//! them with `--exact NAME --ignored` and the environment (CHILD_MARKER, REEL_*) it needs,
//! and reads the `@key=value` lines it prints.

mod child;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Mutex as StdMutex;

use reel::reel_trace::{self, ClockSource, Event, OpKind};
use reel::sync::atomic::{AtomicBool, Ordering};
use reel::sync::mpsc::{self, RecvTimeoutError};
use reel::sync::{Arc, Condvar, Mutex};
use reel::thread;
use reel::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use reel::{Checker, FailureKind, Replay, ReplayResult};

/// Set in a child process; the `#[ignore]`d child tests do nothing without it.
const CHILD_MARKER: &str = "REEL_TIME_RAND_CHILD";

// ---------------------------------------------------------------------------------------------
// A program that reads clocks and draws random numbers
// ---------------------------------------------------------------------------------------------

/// Reads both clocks, sleeps, waits with a timeout, and draws random numbers in two threads
/// and through a `HashMap`; returns what it saw, one `key=value` per line.
fn times_and_numbers() -> Vec<String> {
    let start = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    let worker = thread::Builder::new()
        .name("drawer".to_owned())
        .spawn(|| {
            let drawn: Vec<u64> = (0..3).map(|_| reel::rand::random::<u64>()).collect();
            thread::sleep(Duration::from_millis(3));
            drawn
        })
        .unwrap();
    let mine: (u32, bool, f64) = (
        reel::rand::random(),
        reel::rand::random(),
        reel::rand::random(),
    );
    let mut bytes = [0u8; 12];
    reel::rand::fill(&mut bytes);
    let theirs = worker.join().unwrap();
    let (sender, receiver) = mpsc::channel::<()>();
    let waited = receiver.recv_timeout(Duration::from_millis(2));
    drop(sender);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(3), "{elapsed:?}");
    assert!((0.0..1.0).contains(&mine.2));
    let map: HashMap<u32, (), reel::hash::RandomState> = (0..12).map(|key| (key, ())).collect();
    let order: Vec<u32> = map.keys().copied().collect();
    vec![
        format!("start={start:?}"),
        format!("wall={wall:?}"),
        format!("elapsed={elapsed:?}"),
        format!("waited={waited:?}"),
        format!("mine={mine:?}"),
        format!("bytes={bytes:?}"),
        format!("theirs={theirs:?}"),
        format!("order={order:?}"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

fn is_child() -> bool {
    std::env::var_os(CHILD_MARKER).is_some()
}

/// A plain run of the program (recorded or replayed as REEL_RECORD / REEL_REPLAY say) that
/// prints what it saw as `@` lines.
#[test]
#[ignore = "a child process of a_recorded_run_prints_the_same_values_when_replayed_in_a_new_process"]
fn child_prints_times_and_numbers() {
    if !is_child() {
        return;
    }
    let lines = reel::run(times_and_numbers);
    println!();
    for line in lines {
        println!("@{line}");
    }
}

/// Runs the child with `variable` set to `trace`; returns its `@` lines.
fn run_child(variable: &str, trace: &Path) -> Vec<String> {
    let output = child::child_test("child_prints_times_and_numbers", CHILD_MARKER)
        .env(variable, trace)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix('@'))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 8, "{stdout}");
    lines
}

/// A fresh directory under the target directory.
fn scratch_dir(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .unwrap()
        .join("time-rand-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_recorded_run_prints_the_same_values_when_replayed_in_a_new_process() {
    let dir = scratch_dir("replay");
    let trace_path = dir.join("times.reel");
    let recorded = run_child("REEL_RECORD", &trace_path);
    let trace = reel_trace::read_file(&trace_path).unwrap();
    let readings: Vec<_> = trace
        .events
        .iter()
        .filter_map(|event| match event {
            Event::ClockRead(reading) => Some(reading.source),
            _ => None,
        })
        .collect();
    // Instant::now, SystemTime::now, elapsed.
    assert_eq!(
        readings,
        [
            ClockSource::Monotonic,
            ClockSource::System,
            ClockSource::Monotonic
        ]
    );
    let seeds = trace
        .events
        .iter()
        .filter(|event| matches!(event, Event::RandomSeed { .. }))
        .count();
    assert_eq!(seeds, 1, "one seed per run");
    assert!(
        trace
            .step_events()
            .any(|step| step.op == OpKind::RandomSeed),
        "the seed is drawn at a step"
    );

    // A new process, replaying: every time and number is the recorded one.
    let replayed = run_child("REEL_REPLAY", &trace_path);
    assert_eq!(replayed, recorded);

    // And they do come from the trace: another recorded run sees other ones.
    let other = run_child("REEL_RECORD", &dir.join("other.reel"));
    let differing = |key: &str| {
        let pick = |lines: &[String]| {
            lines
                .iter()
                .find(|line| line.starts_with(key))
                .cloned()
                .unwrap()
        };
        pick(&other) != pick(&recorded)
    };
    assert!(differing("start=") && differing("mine=") && differing("theirs="));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Exploration
// ---------------------------------------------------------------------------------------------

/// What each execution of an exploration saw.
static SEEN: StdMutex<Vec<Vec<String>>> = StdMutex::new(Vec::new());

fn explore(seed: u64) -> Vec<Vec<String>> {
    SEEN.lock().unwrap().clear();
    // On one kernel thread: SEEN keeps the executions' values in the order they ran.
    let report = Checker::new()
        .random()
        .seed(seed)
        .iterations(8)
        .jobs(1)
        .run(|| {
            let seen = times_and_numbers();
            SEEN.lock().unwrap().push(seen);
        });
    assert!(!report.found(), "{report}");
    std::mem::take(&mut *SEEN.lock().unwrap())
}

#[test]
fn exploration_gives_the_same_times_and_numbers_for_the_same_seed() {
    let _serial = EXPLORATIONS
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let first = explore(11);
    assert_eq!(first.len(), 8);
    assert_eq!(explore(11), first, "the same seed, the same values");
    // Virtual time: a three-millisecond sleep took no real time but three virtual ones.
    let other = explore(12);
    assert_ne!(other, first, "another seed draws other numbers");
    // Each execution draws its own numbers.
    let mine = |execution: &Vec<String>| execution[4].clone();
    assert_ne!(mine(&first[0]), mine(&first[1]));
    // The virtual system clock starts at a made-up date.
    assert!(
        first[0][1].starts_with("wall=1000000000."),
        "{:?}",
        first[0]
    );
}

/// Serializes the tests that use `SEEN`.
static EXPLORATIONS: StdMutex<()> = StdMutex::new(());

#[test]
fn a_failing_exploration_with_clock_and_random_reads_replays() {
    let _serial = EXPLORATIONS
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let dir = scratch_dir("failing");
    let report = Checker::new()
        .random()
        .seed(3)
        .iterations(50)
        .trace_dir(&dir)
        .run(|| {
            let lines = times_and_numbers();
            // Fails in about one execution of two: on a random bit.
            assert!(!lines[4].contains("true"), "unlucky: {}", lines[4]);
        });
    let trace = report.trace.clone().expect("a failure was found and saved");
    let replayed = Replay::from_file(&trace)
        .unwrap()
        .run(|| {
            let lines = times_and_numbers();
            assert!(!lines[4].contains("true"), "unlucky: {}", lines[4]);
        })
        .unwrap();
    assert!(replayed.reproduced(), "{replayed}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_replay_that_reads_a_clock_the_trace_does_not_have_diverges() {
    let dir = scratch_dir("diverges");
    let report = Checker::new()
        .random()
        .iterations(1)
        .trace_dir(&dir)
        .run(|| panic!("no clock read"));
    let trace = report.trace.clone().expect("the failure's trace");
    let replayed = Replay::from_file(&trace)
        .unwrap()
        .run(|| {
            let _ = Instant::now();
            panic!("no clock read");
        })
        .unwrap();
    let ReplayResult::Diverged(divergence) = &replayed.result else {
        panic!("expected a divergence: {replayed}");
    };
    assert!(divergence.actual.contains("clock read"), "{divergence}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------------

/// Takes a lock or loads an atomic for each key, in the map's iteration order: the schedule
/// follows the hasher's keys.
fn steps_in_map_order<S: BuildHasher + Default>() {
    let map: HashMap<u32, (), S> = (0..32).map(|key| (key, ())).collect();
    let lock = Mutex::new(());
    let flag = AtomicBool::new(false);
    for key in map.keys() {
        if key % 2 == 0 {
            drop(lock.lock().unwrap());
        } else {
            flag.load(Ordering::SeqCst);
        }
    }
}

#[test]
fn reels_random_state_replays_and_stds_is_caught_by_the_determinism_check() {
    let checker = Checker::new()
        .random()
        .seed(5)
        .iterations(3)
        .record(false)
        .check_determinism(true);
    let report = checker.run(steps_in_map_order::<reel::hash::RandomState>);
    assert!(!report.found(), "{report}");
    let report = checker.run(steps_in_map_order::<std::collections::hash_map::RandomState>);
    let failure = report.failure.expect("std's RandomState is outside reel");
    assert_eq!(failure.kind, FailureKind::Nondeterminism, "{failure}");
}

// ---------------------------------------------------------------------------------------------
// Timed waits keep std's semantics, in real time (a plain run) and virtual time
// ---------------------------------------------------------------------------------------------

/// Runs `f` in a plain run (real time) and under exploration (virtual time).
fn in_both_clocks(f: fn()) {
    reel::run(f);
    let report = Checker::new().random().seed(1).iterations(4).run(f);
    assert!(!report.found(), "{report}");
}

#[test]
fn sleep_and_sleep_until_wait_at_least_their_time() {
    in_both_clocks(|| {
        let start = Instant::now();
        thread::sleep(Duration::from_millis(2));
        assert!(start.elapsed() >= Duration::from_millis(2));
        let deadline = Instant::now() + Duration::from_millis(1);
        thread::sleep_until(deadline);
        assert!(Instant::now() >= deadline);
        // A deadline in the past returns at once.
        thread::sleep_until(start);
        thread::sleep(Duration::ZERO);
    });
}

#[test]
fn park_timeout_returns_after_its_timeout_or_an_unpark() {
    in_both_clocks(|| {
        let start = Instant::now();
        thread::park_timeout(Duration::from_millis(2));
        assert!(start.elapsed() >= Duration::from_millis(2));
        thread::current().unpark();
        let start = Instant::now();
        thread::park_timeout(Duration::from_secs(3_600));
        assert!(
            start.elapsed() < Duration::from_secs(3_600),
            "the token was there"
        );
    });
}

#[test]
fn condvar_timed_waits_say_whether_they_timed_out() {
    in_both_clocks(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let start = Instant::now();
        let (lock, condvar) = &*pair;
        let guard = lock.lock().unwrap();
        let (guard, result) = condvar
            .wait_timeout(guard, Duration::from_millis(2))
            .unwrap();
        assert!(result.timed_out());
        assert!(start.elapsed() >= Duration::from_millis(2));
        drop(guard);
        // Notified before the timeout: not timed out.
        let setter = {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                *pair.0.lock().unwrap() = true;
                pair.1.notify_all();
            })
        };
        let mut checks = 0;
        let (guard, result) = condvar
            .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(3_600), |ready| {
                checks += 1;
                !*ready
            })
            .unwrap();
        assert!(*guard && !result.timed_out());
        assert!(checks <= 2, "the condition is checked once per wake-up");
        drop(guard);
        setter.join().unwrap();
        // Never set: timed out, with the condition checked once after the timeout, as std.
        let flag = Mutex::new(false);
        let mut checks = 0;
        let (_guard, result) = condvar
            .wait_timeout_while(flag.lock().unwrap(), Duration::from_millis(1), |set| {
                checks += 1;
                !*set
            })
            .unwrap();
        assert!(result.timed_out());
        assert_eq!(checks, 2, "before the wait and after its timeout");
    });
}

#[test]
fn channel_timeouts_and_deadlines() {
    in_both_clocks(|| {
        let (sender, receiver) = mpsc::channel::<u32>();
        let start = Instant::now();
        assert_eq!(
            receiver.recv_timeout(Duration::from_millis(2)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(2));
        let deadline = Instant::now() + Duration::from_millis(1);
        assert_eq!(
            receiver.recv_deadline(deadline),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(Instant::now() >= deadline);
        sender.send(7).unwrap();
        assert_eq!(
            receiver.recv_deadline(start),
            Ok(7),
            "a waiting message first"
        );
        drop(sender);
        assert_eq!(
            receiver.recv_timeout(Duration::from_secs(1)),
            Err(RecvTimeoutError::Disconnected)
        );
    });
}

#[test]
fn clocks_outside_a_runtime_panic_with_a_clear_message() {
    let panic = std::panic::catch_unwind(Instant::now).unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_default();
    assert!(message.contains("inside a reel runtime"), "{message}");
}
