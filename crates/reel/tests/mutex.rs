//! Semantics of `reel::sync::Mutex`, ported from std's `sync/mutex/tests.rs`: locking, `try_lock`,
//! poisoning and `clear_poison`, `into_inner`/`get_mut`, and mutual exclusion under exploration.

use reel::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use reel::sync::{Arc, Condvar, Mutex, TryLockError, mpsc};
use reel::thread;

#[derive(Debug, PartialEq, Eq)]
struct NonCopy(i32);

#[test]
fn smoke() {
    reel::run(|| {
        let mutex = Mutex::new(());
        drop(mutex.lock().unwrap());
        drop(mutex.lock().unwrap());
    });
}

#[test]
fn lock_gives_access_to_the_data() {
    reel::run(|| {
        let mutex = Mutex::new(vec![1]);
        mutex.lock().unwrap().push(2);
        assert_eq!(*mutex.lock().unwrap(), vec![1, 2]);
        assert!(!mutex.is_poisoned());
    });
}

#[test]
fn static_mutex_with_const_new() {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    reel::run(|| {
        let workers: Vec<_> = (0..3)
            .map(|_| thread::spawn(|| *COUNTER.lock().unwrap() += 1))
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(*COUNTER.lock().unwrap(), 3);
    });
}

#[test]
fn lots_and_lots_of_increments_are_exact() {
    reel::check_random(
        || {
            let counter = Arc::new(Mutex::new(0u32));
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let counter = counter.clone();
                    thread::spawn(move || {
                        for _ in 0..5 {
                            // A read-modify-write split across a yield is only safe under the lock.
                            let mut guard = counter.lock().unwrap();
                            let seen = *guard;
                            thread::yield_now();
                            *guard = seen + 1;
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(*counter.lock().unwrap(), 15);
        },
        300,
    );
}

#[test]
fn lock_provides_mutual_exclusion_under_pct() {
    reel::check_pct(
        || {
            let mutex = Arc::new(Mutex::new(()));
            let inside = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let mutex = mutex.clone();
                    let inside = inside.clone();
                    thread::spawn(move || {
                        for _ in 0..2 {
                            let _guard = mutex.lock().unwrap();
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                            thread::yield_now();
                            assert_eq!(inside.fetch_sub(1, Ordering::SeqCst), 1);
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
        },
        200,
        3,
    );
}

#[test]
fn try_lock_succeeds_when_free() {
    reel::run(|| {
        let mutex = Mutex::new(5);
        *mutex.try_lock().unwrap() += 1;
        assert_eq!(*mutex.lock().unwrap(), 6);
    });
}

#[test]
fn try_lock_while_held_by_another_thread_would_block() {
    reel::check_random(
        || {
            let mutex = Arc::new(Mutex::new(0));
            let guard = mutex.lock().unwrap();
            let other = {
                let mutex = mutex.clone();
                thread::spawn(move || matches!(mutex.try_lock(), Err(TryLockError::WouldBlock)))
            };
            assert!(
                other.join().unwrap(),
                "try_lock of a held mutex must be WouldBlock"
            );
            drop(guard);
            let other = {
                let mutex = mutex.clone();
                thread::spawn(move || mutex.try_lock().is_ok())
            };
            assert!(
                other.join().unwrap(),
                "try_lock of a free mutex must succeed"
            );
        },
        100,
    );
}

#[test]
fn try_lock_by_the_holder_would_block() {
    // std: try_lock never blocks; on a mutex the caller holds it reports WouldBlock.
    reel::run(|| {
        let mutex = Mutex::new(0);
        let _guard = mutex.lock().unwrap();
        assert!(matches!(mutex.try_lock(), Err(TryLockError::WouldBlock)));
    });
}

#[test]
fn into_inner_returns_the_data() {
    reel::run(|| {
        let mutex = Mutex::new(NonCopy(10));
        assert_eq!(mutex.into_inner().unwrap(), NonCopy(10));
    });
}

#[test]
fn into_inner_drops_the_data_once() {
    struct CountDrops(Arc<AtomicUsize>);
    impl Drop for CountDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    reel::run(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let mutex = Mutex::new(CountDrops(drops.clone()));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        let inner = mutex.into_inner().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(inner);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn get_mut_gives_access_without_locking() {
    reel::run(|| {
        let mut mutex = Mutex::new(NonCopy(10));
        *mutex.get_mut().unwrap() = NonCopy(20);
        assert_eq!(mutex.into_inner().unwrap(), NonCopy(20));
    });
}

/// Poisons `mutex` by panicking in a spawned thread while it holds the guard.
fn poison<T: Send + 'static>(mutex: &Arc<Mutex<T>>) {
    let mutex = mutex.clone();
    let outcome = thread::spawn(move || {
        let _guard = mutex.lock().unwrap();
        panic!("poisoning the mutex on purpose");
    })
    .join();
    assert!(outcome.is_err());
}

#[test]
fn a_panic_while_holding_the_lock_poisons_it() {
    let report = reel::Checker::new()
        .random()
        .iterations(100)
        .allow_thread_panics(true)
        .run(|| {
            let mutex = Arc::new(Mutex::new(1));
            assert!(!mutex.is_poisoned());
            poison(&mutex);
            assert!(mutex.is_poisoned());
            // The data stays reachable through the PoisonError.
            let error = mutex.lock().unwrap_err();
            assert_eq!(**error.get_ref(), 1);
            let mut guard = error.into_inner();
            *guard = 2;
            drop(guard);
            assert!(mutex.is_poisoned());
            assert_eq!(*mutex.lock().unwrap_or_else(|e| e.into_inner()), 2);
            assert!(matches!(mutex.try_lock(), Err(TryLockError::Poisoned(_))));
        });
    assert!(!report.found(), "{report}");
    assert_eq!(report.iterations, 100);
}

#[test]
fn a_panic_without_the_lock_does_not_poison() {
    reel::run(|| {
        let mutex = Arc::new(Mutex::new(1));
        let clone = mutex.clone();
        let outcome = thread::spawn(move || {
            drop(clone.lock().unwrap());
            panic!("panicking after the guard was dropped");
        })
        .join();
        assert!(outcome.is_err());
        assert!(!mutex.is_poisoned());
        assert_eq!(*mutex.lock().unwrap(), 1);
    });
}

#[test]
fn into_inner_and_get_mut_report_poison() {
    reel::run(|| {
        let mutex = Arc::new(Mutex::new(NonCopy(10)));
        poison(&mutex);
        let mut mutex = Arc::into_inner(mutex).expect("the only reference");
        assert_eq!(*mutex.get_mut().unwrap_err().into_inner(), NonCopy(10));
        assert_eq!(mutex.into_inner().unwrap_err().into_inner(), NonCopy(10));
    });
}

#[test]
fn clear_poison_makes_the_mutex_usable_again() {
    reel::run(|| {
        let mutex = Arc::new(Mutex::new(0));
        poison(&mutex);
        assert!(mutex.is_poisoned());
        mutex.clear_poison();
        assert!(!mutex.is_poisoned());
        *mutex.lock().unwrap() += 1;
        assert_eq!(*mutex.lock().unwrap(), 1);
    });
}

#[test]
fn a_guard_dropped_during_unwind_still_unlocks() {
    // std's test_mutex_arc_access_in_unwind: a destructor run while unwinding takes the lock.
    struct IncrementOnDrop(Arc<Mutex<i32>>);
    impl Drop for IncrementOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }
    reel::run(|| {
        let mutex = Arc::new(Mutex::new(1));
        let clone = mutex.clone();
        let outcome = thread::spawn(move || {
            let _increment = IncrementOnDrop(clone);
            panic!("unwinding through a destructor that locks");
        })
        .join();
        assert!(outcome.is_err());
        assert_eq!(*mutex.lock().unwrap(), 2);
        assert!(!mutex.is_poisoned());
    });
}

#[test]
fn nested_arc_mutex() {
    reel::check_random(
        || {
            let inner = Arc::new(Mutex::new(1));
            let outer = Arc::new(Mutex::new(inner));
            let (sender, receiver) = mpsc::channel();
            {
                let outer = outer.clone();
                thread::spawn(move || {
                    let inner = outer.lock().unwrap();
                    let value = *inner.lock().unwrap();
                    sender.send(value).unwrap();
                });
            }
            assert_eq!(receiver.recv().unwrap(), 1);
        },
        100,
    );
}

#[test]
fn mutex_arc_condvar_handoff() {
    // std's test_mutex_arc_condvar: a thread waits on a condvar under a mutex until signalled.
    reel::check_random(
        || {
            let packet = Arc::new((Mutex::new(false), Condvar::new()));
            let packet2 = packet.clone();
            let (sender, receiver) = mpsc::channel();
            thread::spawn(move || {
                receiver.recv().unwrap();
                let (lock, condvar) = &*packet2;
                *lock.lock().unwrap() = true;
                condvar.notify_one();
            });
            let (lock, condvar) = &*packet;
            let mut ready = lock.lock().unwrap();
            sender.send(()).unwrap();
            while !*ready {
                ready = condvar.wait(ready).unwrap();
            }
            assert!(*ready);
        },
        200,
    );
}

#[test]
fn lock_blocks_until_the_holder_releases() {
    reel::check_random(
        || {
            let mutex = Arc::new(Mutex::new(()));
            let released = Arc::new(AtomicBool::new(false));
            let guard = mutex.lock().unwrap();
            let waiter = {
                let mutex = mutex.clone();
                let released = released.clone();
                thread::spawn(move || {
                    let _guard = mutex.lock().unwrap();
                    assert!(released.load(Ordering::SeqCst));
                })
            };
            thread::yield_now();
            released.store(true, Ordering::SeqCst);
            drop(guard);
            waiter.join().unwrap();
        },
        200,
    );
}

#[test]
fn using_a_mutex_outside_a_runtime_panics() {
    let outcome = std::panic::catch_unwind(|| {
        let mutex = Mutex::new(0);
        *mutex.lock().unwrap() += 1;
    });
    let payload = outcome.expect_err("locking outside a reel runtime must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_default();
    assert!(message.contains("reel"), "unclear message: {message:?}");
}

/// A thread that blocks in a destructor while unwinding lets others run with the kernel
/// thread's panic count raised; their guards must not poison as if they panicked.
#[test]
fn a_guard_dropped_while_another_thread_is_blocked_mid_unwind_does_not_poison() {
    let poisoned = reel::run(|| {
        let mutex = Arc::new(Mutex::new(0));
        let holder = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                let guard = mutex.lock().unwrap();
                thread::yield_now(); // the panicking thread runs and blocks in its destructor
                thread::yield_now();
                drop(guard); // not panicking: must not poison
            })
        };
        let panicking = {
            let mutex = Arc::clone(&mutex);
            thread::spawn(move || {
                struct LocksOnDrop(Arc<Mutex<i32>>);
                impl Drop for LocksOnDrop {
                    fn drop(&mut self) {
                        let _guard = self.0.lock();
                    }
                }
                let _locks = LocksOnDrop(mutex);
                panic!("fails while another thread holds the lock");
            })
        };
        assert!(panicking.join().is_err());
        holder.join().unwrap();
        mutex.is_poisoned()
    });
    assert!(!poisoned, "std would not poison here");
}
