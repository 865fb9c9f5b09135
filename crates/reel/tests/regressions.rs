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

/// An abandoned thread's thread-local values are leaked with it, not dropped after the
/// execution ended (their destructors could no longer use reel).
#[test]
fn an_abandoned_threads_thread_locals_are_not_dropped() {
    static DROPPED: AtomicBool = AtomicBool::new(false);
    struct YieldsOnDrop;
    impl Drop for YieldsOnDrop {
        fn drop(&mut self) {
            DROPPED.store(true, Ordering::SeqCst);
            thread::yield_now();
        }
    }
    reel::thread_local! {
        static VALUE: std::cell::RefCell<Option<YieldsOnDrop>> = const { std::cell::RefCell::new(None) };
    }
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel::<()>();
            thread::spawn(move || {
                VALUE.set(Some(YieldsOnDrop));
                let _ = receiver.recv();
            });
            thread::yield_now();
            thread::yield_now();
            std::mem::forget(sender);
        },
        20,
    );
    assert!(
        !DROPPED.load(Ordering::SeqCst),
        "an abandoned thread's value was dropped"
    );
}

/// A thread-local initialiser that reaches its own key: as in std, the outer value wins and
/// the inner one is dropped, outside reel's borrow (its destructor may use reel).
#[test]
fn a_thread_local_initialiser_that_reaches_its_own_key() {
    static DEPTH: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    struct Numbered(u32);
    impl Drop for Numbered {
        fn drop(&mut self) {
            thread::yield_now();
        }
    }
    fn make() -> Numbered {
        let depth = DEPTH.fetch_add(1, Ordering::SeqCst);
        if depth == 0 {
            KEY.with(|inner| assert_eq!(inner.0, 1));
        }
        Numbered(depth)
    }
    reel::thread_local! {
        static KEY: Numbered = make();
    }
    let outer = reel::run(|| thread::spawn(|| KEY.with(|value| value.0)).join().unwrap());
    assert_eq!(outer, 0);
}

/// A thread-local destructor may read another key that is not destroyed yet, as in std.
#[test]
fn a_thread_local_destructor_reads_another_live_key() {
    static SEEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    struct ReadsOther;
    impl Drop for ReadsOther {
        fn drop(&mut self) {
            if let Ok(value) = OTHER.try_with(std::cell::Cell::get) {
                SEEN.store(value, Ordering::SeqCst);
            }
        }
    }
    reel::thread_local! {
        static FIRST: std::cell::RefCell<Option<ReadsOther>> = const { std::cell::RefCell::new(None) };
        static OTHER: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    reel::run(|| {
        thread::spawn(|| {
            FIRST.set(Some(ReadsOther));
            OTHER.set(7);
        })
        .join()
        .unwrap();
    });
    assert_eq!(SEEN.load(Ordering::SeqCst), 7);
}

/// A guard dropped while unwinding from `resume_unwind` (which runs no panic hook) poisons
/// its lock, as in std.
#[test]
fn resume_unwind_with_a_guard_held_poisons() {
    let poisoned = reel::run(|| {
        let mutex = Arc::new(Mutex::new(0));
        let holder = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let _guard = mutex.lock().unwrap();
                std::panic::resume_unwind(Box::new("propagated"));
            })
        };
        assert!(holder.join().is_err());
        mutex.is_poisoned()
    });
    assert!(poisoned);
}

/// While one thread is blocked in the middle of an unwind, the others are scheduled as
/// usual (a spin-yield loop waiting for a third thread must not livelock).
#[test]
fn threads_run_while_another_is_blocked_mid_unwind() {
    struct LocksOnDrop(Arc<Mutex<()>>);
    impl Drop for LocksOnDrop {
        fn drop(&mut self) {
            let _guard = self.0.lock();
        }
    }
    let report = reel::Checker::new()
        .iterations(200)
        .allow_thread_panics(true)
        .run(|| {
            let lock = Arc::new(Mutex::new(()));
            let flag = Arc::new(ReelAtomicBool::new(false));
            let guard = lock.lock().unwrap();
            let unwinding = {
                let (lock, flag) = (Arc::clone(&lock), Arc::clone(&flag));
                thread::spawn(move || {
                    thread::spawn(move || flag.store(true, reel::sync::atomic::Ordering::SeqCst));
                    let _locks = LocksOnDrop(lock);
                    panic!("the unwind blocks on the lock main holds");
                })
            };
            while !flag.load(reel::sync::atomic::Ordering::SeqCst) {
                thread::yield_now();
            }
            drop(guard);
            let _ = unwinding.join();
        });
    assert!(!report.found(), "{report}");
}

/// reel's AtomicBool (std's is imported above, for observing from outside).
type ReelAtomicBool = reel::sync::atomic::AtomicBool;

/// Two runtimes (parallel tests) may read one completed `static LazyLock` at once: it is
/// immutable, so sharing it is not the error that sharing a lock is.
#[test]
fn parallel_runtimes_read_one_completed_static_lazy_lock() {
    static CONFIG: reel::sync::LazyLock<Vec<u32>> = reel::sync::LazyLock::new(|| vec![1, 2, 3]);
    // Initialised first: two runtimes racing to run one initialiser would share a lock.
    reel::run(|| assert_eq!(CONFIG.len(), 3));
    let runners: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                reel::Checker::new()
                    .iterations(2_000)
                    .run(|| assert_eq!(CONFIG.len(), 3))
            })
        })
        .collect();
    for runner in runners {
        let report = runner.join().unwrap();
        assert!(!report.found(), "{report}");
    }
}
