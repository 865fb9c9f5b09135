//! A reel primitive shared by two runtimes on two kernel threads: fine one after the other;
//! at once, each explores it with its own state (object ids belong to the execution) and
//! its data is theirs in turns; a channel, whose messages live in it, is refused at once.
//! Every exploration here runs on one kernel thread (`jobs(1)`): the tests put explorations
//! side by side on threads of their own, meeting at barriers and counting in statics.

use std::sync::Barrier as StdBarrier;
use std::sync::Barrier as KernelBarrier;

use std::sync::atomic::{AtomicUsize, Ordering as KernelOrdering};

use reel::sync::atomic::{AtomicUsize as GreenAtomic, Ordering};
use reel::sync::{Arc, Mutex};
use reel::{Checker, FailureKind, thread};

static SHARED: Mutex<u64> = Mutex::new(0);
static SEQUENTIAL: Mutex<u64> = Mutex::new(0);

#[test]
fn two_runtimes_using_one_static_mutex_at_once_take_turns_with_its_data() {
    let both_inside = StdBarrier::new(2);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            reel::run(|| {
                let mut guard = SHARED.lock().unwrap();
                both_inside.wait();
                // The other runtime locks now; its thread must not get the data until this
                // guard is gone.
                std::thread::sleep(std::time::Duration::from_millis(50));
                *guard += 1;
            });
        });
        let second = scope.spawn(|| {
            reel::Runtime::new().run(|| {
                both_inside.wait();
                *SHARED.lock().unwrap()
            })
        });
        assert_eq!(
            second.join().unwrap(),
            1,
            "the second runtime read the data before the first let go of it"
        );
    });
}

#[test]
fn a_channel_used_by_two_runtimes_at_once_is_a_clear_error() {
    let (hand_over, handed) = std::sync::mpsc::channel();
    let done = StdBarrier::new(2);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            reel::run(|| {
                let (sender, receiver) = reel::sync::mpsc::channel::<u32>();
                sender.send(1).unwrap();
                hand_over.send(sender).unwrap();
                done.wait();
                drop(receiver);
            });
        });
        let done = &done;
        let second = scope.spawn(move || {
            let sender = handed.recv().unwrap();
            let attempt = reel::run(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sender.send(2)))
                    .map(|_| ())
                    .map_err(|payload| {
                        payload
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
                            .unwrap_or_else(|| "a panic without a message".to_owned())
                    })
            });
            done.wait();
            attempt
        });
        let message = second
            .join()
            .unwrap()
            .expect_err("the second runtime must be refused");
        assert!(
            message.contains("in use by another reel execution"),
            "{message}"
        );
    });
}

#[test]
fn runtimes_may_use_one_static_one_after_the_other() {
    for _ in 0..3 {
        std::thread::spawn(|| {
            reel::check_random(
                || {
                    *SEQUENTIAL.lock().unwrap() += 1;
                },
                20,
            );
        })
        .join()
        .unwrap();
    }
    let total = reel::run(|| *SEQUENTIAL.lock().unwrap());
    assert_eq!(total, 60);
}

/// Runs `explore` on two kernel threads, each released when the other has reached the same
/// point (`meet`), and returns both results.
fn on_two_kernel_threads<R: Send>(explore: impl Fn(usize, &KernelBarrier) -> R + Sync) -> Vec<R> {
    let meet = KernelBarrier::new(2);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|index| {
                let explore = &explore;
                let meet = &meet;
                scope.spawn(move || explore(index, meet))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("an exploration does not panic"))
            .collect()
    })
}

static COUNTED: Mutex<u64> = Mutex::new(0);

#[test]
fn two_explorations_share_a_static_mutex_at_the_same_time() {
    let executions = AtomicUsize::new(0);
    let reports = on_two_kernel_threads(|index, meet| {
        let met = std::sync::atomic::AtomicBool::new(false);
        Checker::new()
            .jobs(1)
            .seed(index as u64)
            .iterations(200)
            .record(false)
            .run(|| {
                executions.fetch_add(1, KernelOrdering::SeqCst);
                // Both executions use the mutex, then wait for each other: from here on, each
                // uses a mutex the other, running, uses too.
                drop(COUNTED.lock().unwrap());
                if !met.swap(true, KernelOrdering::SeqCst) {
                    meet.wait();
                }
                let helper = thread::spawn(|| *COUNTED.lock().unwrap() += 1);
                *COUNTED.lock().unwrap() += 1;
                helper.join().unwrap();
            })
    });
    for report in &reports {
        assert!(!report.found(), "{report}");
        assert_eq!(report.iterations, 200);
    }
    assert_eq!(executions.load(KernelOrdering::SeqCst), 400);
    // Every increment of both explorations happened under the lock, none lost.
    assert_eq!(COUNTED.lock_outside(), 800);
}

/// `Mutex::lock` needs a runtime; the test reads the total after both explorations ended.
trait LockOutside<T> {
    fn lock_outside(&self) -> T;
}

impl LockOutside<u64> for Mutex<u64> {
    fn lock_outside(&self) -> u64 {
        reel::run(|| *self.lock().unwrap())
    }
}

static GUARD: Mutex<()> = Mutex::new(());

/// A lost update behind a lock that is let go between the read and the write.
fn lost_update_behind_a_static_lock() {
    let counter = Arc::new(GreenAtomic::new(0));
    let helper = {
        let counter = counter.clone();
        thread::spawn(move || increment_badly(&counter))
    };
    increment_badly(&counter);
    helper.join().unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 2, "an update was lost");
}

fn increment_badly(counter: &GreenAtomic) {
    let seen = {
        let _guard = GUARD.lock().unwrap();
        counter.load(Ordering::SeqCst)
    };
    let _guard = GUARD.lock().unwrap();
    counter.store(seen + 1, Ordering::SeqCst);
}

#[test]
fn two_explorations_of_one_static_lock_each_find_the_bug() {
    let reports = on_two_kernel_threads(|index, meet| {
        let met = std::sync::atomic::AtomicBool::new(false);
        Checker::new()
            .jobs(1)
            .seed(0x5eed + index as u64)
            .iterations(1_000)
            .record(false)
            .run(|| {
                drop(GUARD.lock().unwrap());
                if !met.swap(true, KernelOrdering::SeqCst) {
                    meet.wait();
                }
                lost_update_behind_a_static_lock();
            })
    });
    for report in &reports {
        let failure = report.failure.as_ref().expect("the lost update is found");
        assert_eq!(failure.kind, FailureKind::Panic, "{report}");
        assert!(failure.message.contains("an update was lost"), "{report}");
    }
}

static FIRST: Mutex<u32> = Mutex::new(0);
static SECOND: Mutex<u32> = Mutex::new(0);

/// Each execution takes the two statics in one order, but its two threads interleave: one
/// execution may hold FIRST's data while the other holds SECOND's and each waits for the
/// other's. That is found at once and ends one execution with a message that says what it
/// is (it is not a deadlock of the program); it never hangs.
#[test]
fn executions_that_wait_for_each_others_statics_are_told_so_at_once() {
    let started = std::time::Instant::now();
    let reports = on_two_kernel_threads(|index, _meet| {
        Checker::new()
            .jobs(1)
            .seed(index as u64)
            .iterations(2_000)
            .record(false)
            .run(|| {
                let nested = thread::spawn(|| {
                    let first = FIRST.lock().unwrap();
                    let second = SECOND.lock().unwrap();
                    drop(second);
                    drop(first);
                });
                {
                    let _second = SECOND.lock().unwrap();
                    thread::yield_now();
                }
                drop(FIRST.lock().unwrap());
                nested.join().unwrap();
            })
    });
    for report in &reports {
        if let Some(failure) = &report.failure {
            assert_eq!(failure.kind, FailureKind::Panic, "{report}");
            assert!(
                failure.message.contains("not a deadlock of the program"),
                "{report}"
            );
        }
    }
    // The execution that closed the cycle ended; the other one went on to its end.
    assert!(
        reports.iter().filter(|report| report.found()).count() <= 1,
        "{reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|report| report.iterations == 2_000 && !report.found()),
        "{reports:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

/// A primitive that an execution shared with another running one is known to it by a
/// serial number, not by where it lives: a new primitive at the freed one's address is a new
/// object.
#[test]
fn a_new_primitive_where_a_shared_one_was_is_a_new_object() {
    let (to_second, from_first) = std::sync::mpsc::channel::<std::sync::Arc<Mutex<u32>>>();
    let first_used = KernelBarrier::new(2);
    let second_used = KernelBarrier::new(2);
    let first_dropped = KernelBarrier::new(2);
    let (first_used, second_used, first_dropped) = (&first_used, &second_used, &first_dropped);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            reel::run(move || {
                let shared = std::sync::Arc::new(Mutex::new(0u32));
                drop(shared.lock().unwrap());
                to_second.send(shared.clone()).unwrap();
                first_used.wait();
                second_used.wait();
                drop(shared);
                first_dropped.wait();
            })
        });
        let second = scope.spawn(move || {
            let old = from_first.recv().unwrap();
            reel::run(move || {
                first_used.wait();
                // Used while the first runtime runs: the shared path. Poisoned here.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _guard = old.lock().unwrap();
                    panic!("poison it");
                }));
                assert!(old.is_poisoned());
                second_used.wait();
                first_dropped.wait();
                drop(old);
                // Likely at the same address as the one just freed.
                let fresh = std::sync::Arc::new(Mutex::new(7u32));
                fresh.lock().is_err()
            })
        });
        assert!(
            !second.join().unwrap(),
            "a fresh Mutex was taken for the freed one and is poisoned"
        );
    });
}

static ABANDONED: Mutex<u32> = Mutex::new(0);

/// An execution that ends with a guard held by an abandoned thread: the next execution on
/// the same kernel thread, and one on another, take the data over.
#[test]
fn an_abandoned_guard_is_taken_over() {
    reel::run(|| {
        thread::spawn(|| {
            let _guard = ABANDONED.lock().unwrap();
            thread::park(); // Never unparked: abandoned holding the guard.
        });
        thread::yield_now();
    });
    assert_eq!(reel::run(|| *ABANDONED.lock().unwrap()), 0);
    let other = std::thread::spawn(|| reel::run(|| *ABANDONED.lock().unwrap()));
    assert_eq!(other.join().unwrap(), 0);
}
