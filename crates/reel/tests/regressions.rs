//! Behaviours that were once wrong, each in the smallest program that showed it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reel::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};
use reel::thread;

/// `thread::scope` waits for a scoped thread spawned by another scoped thread, as std does,
/// so nothing outlives the data it borrows.
#[test]
fn a_scope_waits_for_threads_its_threads_spawn() {
    let finished = AtomicBool::new(false);
    reel::run(|| {
        let data = vec![7u64; 4];
        thread::scope(|scope| {
            scope.spawn(|| {
                scope.spawn(|| {
                    thread::yield_now();
                    thread::yield_now();
                    assert_eq!(data, vec![7; 4]);
                    finished.store(true, Ordering::SeqCst);
                });
            });
        });
        assert!(
            finished.load(Ordering::SeqCst),
            "scope returned before its nested thread"
        );
    });
}

/// A waiter that timed out leaves the condvar's queue: a later `notify_one` wakes the thread
/// that waits now, not the stale entry.
#[test]
fn notify_one_after_a_timed_out_wait_wakes_the_current_waiter() {
    let program = || {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let (lock, condvar) = &*pair;
        let (guard, result) = condvar
            .wait_timeout(lock.lock().unwrap(), Duration::from_millis(1))
            .unwrap();
        assert!(result.timed_out());
        drop(guard);
        let waiter = {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                let (lock, condvar) = &*pair;
                let mut ready = lock.lock().unwrap();
                while !*ready {
                    ready = condvar.wait(ready).unwrap();
                }
            })
        };
        thread::sleep(Duration::from_millis(1));
        *lock.lock().unwrap() = true;
        condvar.notify_one();
        waiter.join().unwrap();
    };
    reel::run(program);
    reel::check_random(program, 100);
}

/// A `static OnceLock` keeps its value in later executions: a `&'static` it handed out must
/// stay valid, so the initialiser never runs twice.
#[test]
fn a_static_once_lock_keeps_its_value_across_executions() {
    static NAME: OnceLock<String> = OnceLock::new();
    let first: &'static str = reel::run(|| NAME.get_or_init(|| "first".to_owned()).as_str());
    let second = reel::run(|| NAME.get_or_init(|| "second".to_owned()).clone());
    assert_eq!(first, "first");
    assert_eq!(second, "first");
    reel::check_random(
        || assert_eq!(NAME.get().map(String::as_str), Some("first")),
        20,
    );
}

/// A spawn that fails drops its closure like std: here that drops the last sender, and the
/// blocked receiver sees the channel disconnect.
#[test]
fn a_failed_spawn_drops_its_closure_and_what_it_captured() {
    reel::run(|| {
        let (sender, receiver) = mpsc::channel::<u32>();
        let receiving = thread::spawn(move || receiver.recv());
        thread::yield_now();
        let spawned = thread::Builder::new()
            .stack_size(1 << 50)
            .spawn(move || drop(sender));
        assert!(spawned.is_err(), "a 1 PiB stack cannot be mapped");
        assert!(
            receiving.join().unwrap().is_err(),
            "the channel disconnected"
        );
    });
}

/// A report blames the panic that failed the execution, not one the program caught earlier.
#[test]
fn a_caught_panic_is_not_blamed_for_a_later_failure() {
    let report = reel::Checker::new().iterations(1).run(|| {
        thread::spawn(|| {
            let _ = std::panic::catch_unwind(|| panic!("harmless, caught and handled"));
        })
        .join()
        .unwrap();
        std::panic::resume_unwind(Box::new("the real failure"));
    });
    let failure = report.failure.expect("main failed");
    assert_eq!(failure.message, "the real failure");
    assert!(
        failure.location.is_none(),
        "resume_unwind has no location: {failure}"
    );
}

/// A deadlock found when the last runnable thread exits is not blamed on that thread, and no
/// report points into reel's own sources.
#[test]
fn a_deadlock_found_at_an_exit_blames_no_finished_thread() {
    // Lowest id first: main blocks on the channel before the worker runs and exits.
    struct LowestFirst;
    impl reel::scheduler::Scheduler for LowestFirst {
        fn begin_execution(&mut self, _iteration: usize) {}
        fn next_thread(&mut self, decision: &reel::scheduler::Decision<'_>) -> thread::ThreadId {
            decision.runnable.iter().next().unwrap()
        }
        fn describe(&self) -> String {
            "lowest first".to_owned()
        }
    }
    let report =
        reel::Checker::new()
            .iterations(1)
            .run_with_scheduler(Box::new(LowestFirst), || {
                let (_sender, receiver) = mpsc::channel::<u32>();
                thread::Builder::new()
                    .name("worker".to_owned())
                    .spawn(|| {})
                    .unwrap();
                let _ = receiver.recv();
            });
    let failure = report.failure.expect("main waits forever");
    assert_eq!(failure.kind, reel::FailureKind::Deadlock);
    assert!(failure.thread.is_none(), "{failure}");
    let text = failure.to_string();
    assert!(!text.contains("crates/reel/src"), "{text}");
    assert!(text.contains("receive on Channel#0"), "{text}");
    let last = failure.last_steps.last().expect("the steps that led here");
    assert_eq!(last.operation, "exit", "{text}");
    assert_eq!(last.thread.name.as_deref(), Some("worker"), "{text}");
}

/// Senders may be cloned and dropped on kernel threads outside any runtime, as std's can;
/// the sender count stays exact.
#[test]
fn senders_cloned_and_dropped_on_other_kernel_threads_keep_an_exact_count() {
    let (sender, receiver) = mpsc::channel::<u32>();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..100_000 {
                    drop(sender.clone());
                }
            });
        }
    });
    drop(sender);
    let received = reel::run(move || receiver.try_recv());
    assert_eq!(received, Err(mpsc::TryRecvError::Disconnected));
}
