//! A reel primitive shared by two runtimes on two kernel threads: fine one after the other;
//! at once, each explores it with its own state (object ids belong to the execution) and
//! its data is theirs in turns; a channel, whose messages live in it, is refused at once.

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
        let met = std::cell::Cell::new(false);
        Checker::new()
            .seed(index as u64)
            .iterations(200)
            .record(false)
            .run(|| {
                executions.fetch_add(1, KernelOrdering::SeqCst);
                // Both executions use the mutex, then wait for each other: from here on, each
                // uses a mutex the other, running, uses too.
                drop(COUNTED.lock().unwrap());
                if !met.replace(true) {
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
        let met = std::cell::Cell::new(false);
        Checker::new()
            .seed(0x5eed + index as u64)
            .iterations(1_000)
            .record(false)
            .run(|| {
                drop(GUARD.lock().unwrap());
                if !met.replace(true) {
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
