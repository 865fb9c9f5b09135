//! Abandoned threads: when main returns, threads still running are abandoned as std abandons
//! them at process exit; whatever their stacks hold (even a destructor that would block) must not
//! crash the process. Checked in child processes, since a crash would take the harness down.

use std::cell::RefCell;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use reel::sync::{Arc, Mutex, mpsc};
use reel::thread;

/// Set in a child process to make a test run its program instead of spawning a child.
const CHILD_MARKER: &str = "REEL_TEST_TEARDOWN_CHILD";

/// In a child process, counted with std's atomics (outside reel's steps): how often the
/// abandoned thread got to its receive, got past it, and began dropping its `LockOnDrop`.
static RECEIVING: AtomicUsize = AtomicUsize::new(0);
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
static DROPPING: AtomicUsize = AtomicUsize::new(0);

/// The counts above, as the child prints them on a line of its own.
fn counts() -> String {
    format!(
        "receiving={} received={} dropping={}",
        RECEIVING.load(Ordering::SeqCst),
        RECEIVED.load(Ordering::SeqCst),
        DROPPING.load(Ordering::SeqCst)
    )
}

/// The counts a child printed: (receiving, received, dropping).
fn counts_in(stdout: &str) -> (usize, usize, usize) {
    let line = stdout
        .lines()
        .find(|line| line.starts_with("receiving="))
        .unwrap_or_else(|| panic!("the child printed no counts:\n{stdout}"));
    let count = |key: &str| -> usize {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    (count("receiving"), count("received"), count("dropping"))
}

/// Locks its mutex when dropped, as a pool handing a resource back would.
struct LockOnDrop(Arc<Mutex<()>>);

impl Drop for LockOnDrop {
    fn drop(&mut self) {
        DROPPING.fetch_add(1, Ordering::SeqCst);
        drop(self.0.lock());
    }
}

/// Main leaves behind a thread blocked forever while it owns a `LockOnDrop`, and returns with
/// the mutex locked (its guard forgotten), so that destructor could never finish.
fn abandon_a_thread_whose_destructor_would_block() {
    let mutex = Arc::new(Mutex::new(()));
    let owned = LockOnDrop(mutex.clone());
    let (sender, receiver) = mpsc::channel::<()>();
    thread::Builder::new()
        .name("abandoned".to_string())
        .spawn(move || {
            let _owned = owned;
            RECEIVING.fetch_add(1, Ordering::SeqCst);
            let _ = receiver.recv();
            RECEIVED.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    thread::yield_now();
    std::mem::forget(mutex.lock().unwrap());
    // Keep the sender alive past main's end so the abandoned thread stays blocked.
    std::mem::forget(sender);
}

/// Runs `test_name` of this binary in a child process and returns (success, stdout, stderr).
fn run_child(test_name: &str) -> (bool, String, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_MARKER, "1")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn run_abandons_a_thread_whose_destructor_would_block() {
    const TEST_NAME: &str = "run_abandons_a_thread_whose_destructor_would_block";
    if std::env::var_os(CHILD_MARKER).is_some() {
        let value = reel::run(|| {
            abandon_a_thread_whose_destructor_would_block();
            11
        });
        println!();
        println!("returned={value}");
        println!("{}", counts());
        return;
    }
    let (success, stdout, stderr) = run_child(TEST_NAME);
    assert!(
        success,
        "the process died tearing down an abandoned thread\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("returned=11"), "{stdout}");
    // The thread ran to its receive (main yielded to it) and was abandoned there: it never
    // got past it, and its `LockOnDrop` was never dropped.
    assert_eq!(counts_in(&stdout), (1, 0, 0), "{stdout}");
}

#[test]
fn exploration_abandons_a_thread_whose_destructor_would_block() {
    const TEST_NAME: &str = "exploration_abandons_a_thread_whose_destructor_would_block";
    if std::env::var_os(CHILD_MARKER).is_some() {
        let report = reel::Checker::new()
            .iterations(5)
            .run(abandon_a_thread_whose_destructor_would_block);
        println!();
        println!("found={}", report.found());
        println!("{}", counts());
        return;
    }
    let (success, stdout, stderr) = run_child(TEST_NAME);
    assert!(
        success,
        "the process died tearing down an abandoned thread\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("found=false"), "{stdout}");
    // In some executions the thread got to its receive before main returned; none got past
    // it, and no `LockOnDrop` was dropped.
    let (receiving, received, dropping) = counts_in(&stdout);
    assert!(receiving >= 1, "{stdout}");
    assert_eq!((received, dropping), (0, 0), "{stdout}");
}

#[test]
fn abandoned_threads_holding_locks_and_guards_are_torn_down_cleanly() {
    // Counted with std's atomics, outside reel's steps: how often the parking thread got to
    // its park and past it, and how many of its values were dropped.
    static BEFORE_PARK: AtomicUsize = AtomicUsize::new(0);
    static AFTER_PARK: AtomicUsize = AtomicUsize::new(0);
    static DROPPED: AtomicUsize = AtomicUsize::new(0);

    /// Counts its drop: an abandoned thread's values are leaked, never dropped.
    struct CountsDrop;

    impl Drop for CountsDrop {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }

    reel::thread_local! {
        static LOCAL: RefCell<Option<CountsDrop>> = const { RefCell::new(None) };
    }

    // No destructor blocks here: abandoned threads hold a guard, a sender and a parked state.
    let report = reel::Checker::new().iterations(50).run(|| {
        let mutex = Arc::new(Mutex::new(0));
        let (sender, receiver) = mpsc::channel::<u32>();
        {
            let mutex = mutex.clone();
            thread::spawn(move || {
                let _on_stack = CountsDrop;
                LOCAL.set(Some(CountsDrop));
                let _guard = mutex.lock().unwrap();
                sender.send(1).unwrap();
                BEFORE_PARK.fetch_add(1, Ordering::SeqCst);
                // Nobody unparks it: once here before main returns, it is abandoned here.
                thread::park();
                AFTER_PARK.fetch_add(1, Ordering::SeqCst);
            });
        }
        thread::spawn(move || receiver.recv());
        thread::yield_now();
    });
    assert!(!report.found(), "{report}");
    assert_eq!(report.iterations, 50);
    // Some executions ended with the thread parked (the rest before it got there), and none
    // resumed it, ran its destructors or dropped its thread-local.
    assert!(
        BEFORE_PARK.load(Ordering::SeqCst) > 0,
        "it never got to park"
    );
    assert_eq!(
        AFTER_PARK.load(Ordering::SeqCst),
        0,
        "a parked thread ran on"
    );
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        0,
        "an abandoned value was dropped"
    );
}
