//! Regressions found by reviewing record and replay: each test is a program that once made
//! a replay or the determinism self-check give a wrong answer.

use std::path::PathBuf;
use std::sync::OnceLock as StdOnceLock;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::SeqCst};

use reel::reel_trace;
use reel::sync::{Arc, LazyLock, Mutex};
use reel::{Checker, FailureKind, Replay, ReplayError, ReplayResult, Runtime};

/// A scratch path for this process and `name`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reel-replay-regressions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Where a program leaves the mutex that a thread-local destructor locks (one per program:
/// tests run in parallel).
type MutexSlot = StdOnceLock<std::sync::Mutex<Option<Arc<Mutex<()>>>>>;

/// A thread-local value whose destructor locks the mutex in its slot.
struct LocksOnDrop(&'static MutexSlot);

impl Drop for LocksOnDrop {
    fn drop(&mut self) {
        let mutex = self.0.get().unwrap().lock().unwrap().clone().unwrap();
        let _guard = mutex.lock();
    }
}

/// Puts `mutex` in `slot`.
fn leave_in(slot: &'static MutexSlot, mutex: &Arc<Mutex<()>>) {
    *slot.get_or_init(Default::default).lock().unwrap() = Some(Arc::clone(mutex));
}

/// The mutex that a thread-local destructor of main locks.
static HELD_BY_WORKER: MutexSlot = StdOnceLock::new();

reel::thread_local! {
    static GUARD: LocksOnDrop = const { LocksOnDrop(&HELD_BY_WORKER) };
}

/// Main panics while a worker holds a lock that main's thread-local destructor then waits
/// for: after the failure, the recording took one more decision, which is not in the trace.
fn panic_then_block_in_a_destructor() {
    let mutex = Arc::new(Mutex::new(()));
    leave_in(&HELD_BY_WORKER, &mutex);
    GUARD.with(|_| {});
    let worker = reel::thread::spawn(move || {
        let _guard = mutex.lock().unwrap();
        reel::thread::yield_now();
        reel::thread::yield_now();
    });
    reel::thread::yield_now();
    drop(worker);
    panic!("main fails while the worker holds the lock");
}

#[test]
fn a_failure_followed_by_a_block_replays() {
    let path = scratch("panic_then_block.reel");
    let recorded = std::panic::catch_unwind(|| {
        Runtime::new()
            .record(&path)
            .run(panic_then_block_in_a_destructor)
    });
    assert!(recorded.is_err());
    let report = Replay::from_file(&path)
        .unwrap()
        .run(panic_then_block_in_a_destructor)
        .unwrap();
    assert!(report.reproduced(), "{report}");
    assert_eq!(report.failure.unwrap().kind, FailureKind::Panic);
}

/// Flips between two call sites of the same operation on the same object, by a std static.
static FLIPS: StdAtomicUsize = StdAtomicUsize::new(0);

fn same_operation_at_two_places() {
    let mutex = Arc::new(Mutex::new(0));
    if FLIPS.fetch_add(1, SeqCst) % 2 == 0 {
        *mutex.lock().unwrap() += 1;
    } else {
        *mutex.lock().unwrap() += 100;
    }
}

#[test]
fn the_determinism_check_sees_another_path_through_the_same_operations() {
    let report = Checker::new()
        .iterations(4)
        .seed(1)
        .trace_dir(scratch("another_path"))
        .check_determinism(true)
        // On one kernel thread: an execution and its re-run take consecutive FLIPS.
        .jobs(1)
        .run(same_operation_at_two_places);
    let failure = report.failure.expect("the other branch is nondeterminism");
    assert_eq!(failure.kind, FailureKind::Nondeterminism);
    assert!(
        failure.message.contains("the first run was at"),
        "{}",
        failure.message
    );
}

static OUTCOME_FLIPS: StdAtomicUsize = StdAtomicUsize::new(0);

/// Panics at one of two lines, alternately.
fn panics_at_one_of_two_places() {
    let message = "one message, two places";
    match OUTCOME_FLIPS.fetch_add(1, SeqCst) % 2 {
        0 => panic!("{message}"),
        _ => panic!("{message}"),
    }
}

#[test]
fn a_failure_at_another_place_is_noted() {
    let path = scratch("outcome_moved.reel");
    let recorded = std::panic::catch_unwind(|| {
        Runtime::new()
            .record(&path)
            .run(panics_at_one_of_two_places)
    });
    assert!(recorded.is_err());
    let recorded_line = reel_trace::read_file(&path)
        .unwrap()
        .outcome
        .unwrap()
        .location
        .unwrap()
        .line;
    let report = Replay::from_file(&path)
        .unwrap()
        .run(panics_at_one_of_two_places)
        .unwrap();
    let moved = report
        .moved
        .iter()
        .find(|moved| moved.recorded.contains(&format!(":{recorded_line}:")))
        .unwrap_or_else(|| panic!("the outcome's new place is noted: {report}"));
    assert_ne!(moved.recorded, moved.now);
    // The determinism check calls it what it is.
    let checked = Checker::new()
        .iterations(2)
        .trace_dir(scratch("outcome_moved_check"))
        .check_determinism(true)
        .run(panics_at_one_of_two_places);
    assert_eq!(checked.failure.unwrap().kind, FailureKind::Nondeterminism);
}

static CONFIG: LazyLock<Mutex<u32>> = LazyLock::new(|| Mutex::new(7));

fn reads_a_static_lazy_lock() {
    let reader = reel::thread::spawn(|| *CONFIG.lock().unwrap() + 1);
    let value = *CONFIG.lock().unwrap();
    assert_eq!(reader.join().unwrap(), value + 1);
}

#[test]
fn a_static_lazy_lock_is_not_nondeterminism() {
    let report = Checker::new()
        .iterations(20)
        .seed(2)
        .trace_dir(scratch("lazy_lock"))
        .check_determinism(true)
        .run(reads_a_static_lazy_lock);
    assert!(!report.found(), "{report}");
}

/// The mutex that a worker's thread-local destructor locks.
static HELD_BY_MAIN: MutexSlot = StdOnceLock::new();

reel::thread_local! {
    static WORKER_GUARD: LocksOnDrop = const { LocksOnDrop(&HELD_BY_MAIN) };
}

/// A worker panics, then its thread-local destructor blocks on a lock main holds.
fn worker_panics_then_blocks() {
    let mutex = Arc::new(Mutex::new(()));
    leave_in(&HELD_BY_MAIN, &mutex);
    let _guard = mutex.lock().unwrap();
    let worker = reel::thread::spawn(move || {
        WORKER_GUARD.with(|_| {});
        panic!("the worker fails");
    });
    let _ = worker.join();
}

#[test]
fn a_deterministic_panic_is_not_nondeterminism() {
    let report = Checker::new()
        .iterations(5)
        .seed(3)
        .trace_dir(scratch("worker_panics"))
        .check_determinism(true)
        .run(worker_panics_then_blocks);
    assert_eq!(report.failure.unwrap().kind, FailureKind::Panic);
}

fn increments() {
    let mutex = Mutex::new(0);
    *mutex.lock().unwrap() += 1;
}

#[test]
fn a_header_with_an_impossible_stack_size_is_refused() {
    let path = scratch("stack_size.reel");
    Runtime::new().record(&path).run(increments);
    let bytes = std::fs::read(&path).unwrap();
    let trace = reel_trace::decode(&bytes).unwrap();
    let original = reel_trace::encode_prologue(&trace.header);
    for stack_bytes in [0, 1 << 62, u64::MAX] {
        let mut header = trace.header.clone();
        header.settings.stack_bytes = stack_bytes;
        let mut crafted = reel_trace::encode_prologue(&header);
        crafted.extend_from_slice(&bytes[original.len()..]);
        match Replay::from_bytes(&crafted) {
            Err(ReplayError::Settings { message, .. }) => {
                assert!(message.contains("stack size"), "{message}");
            }
            other => panic!("stack size {stack_bytes}: {other:?}"),
        }
    }
    let report = Replay::from_bytes(&bytes).unwrap().run(increments).unwrap();
    assert_eq!(report.result, ReplayResult::Reproduced);
}
