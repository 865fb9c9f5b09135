//! Semantics of `reel::sync::Condvar`, ported from std's `sync/condvar/tests.rs`: notify_one,
//! notify_all, wait_while, and timeouts that expire in virtual time under exploration.

use std::time::Duration;

use reel::sync::{Arc, Condvar, Mutex, PoisonError};
use reel::thread;

#[test]
fn notify_without_waiters_is_harmless() {
    reel::run(|| {
        let condvar = Condvar::new();
        condvar.notify_one();
        condvar.notify_all();
    });
}

#[test]
fn static_condvar_with_const_new() {
    static CONDVAR: Condvar = Condvar::new();
    static READY: Mutex<bool> = Mutex::new(false);
    reel::run(|| {
        let notifier = thread::spawn(|| {
            *READY.lock().unwrap() = true;
            CONDVAR.notify_one();
        });
        let guard = CONDVAR
            .wait_while(READY.lock().unwrap(), |ready| !*ready)
            .unwrap();
        assert!(*guard);
        drop(guard);
        notifier.join().unwrap();
    });
}

#[test]
fn notify_one_wakes_the_waiter() {
    reel::check_random(
        || {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let pair2 = pair.clone();
            let notifier = thread::spawn(move || {
                let (lock, condvar) = &*pair2;
                *lock.lock().unwrap() = true;
                condvar.notify_one();
            });
            let (lock, condvar) = &*pair;
            let mut ready = lock.lock().unwrap();
            while !*ready {
                ready = condvar.wait(ready).unwrap();
            }
            drop(ready);
            notifier.join().unwrap();
        },
        300,
    );
}

#[test]
fn notify_all_wakes_every_waiter() {
    // If notify_all woke only one waiter, the others would stay blocked and exploration would
    // report a deadlock.
    reel::check_random(
        || {
            const WAITERS: usize = 3;
            // (number of waiters that arrived, released)
            let state = Arc::new((Mutex::new((0usize, false)), Condvar::new(), Condvar::new()));
            let waiters: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let state = state.clone();
                    thread::spawn(move || {
                        let (lock, release, arrived) = &*state;
                        let mut guard = lock.lock().unwrap();
                        guard.0 += 1;
                        if guard.0 == WAITERS {
                            arrived.notify_one();
                        }
                        while !guard.1 {
                            guard = release.wait(guard).unwrap();
                        }
                    })
                })
                .collect();
            let (lock, release, arrived) = &*state;
            let mut guard = lock.lock().unwrap();
            while guard.0 < WAITERS {
                guard = arrived.wait(guard).unwrap();
            }
            guard.1 = true;
            release.notify_all();
            drop(guard);
            for waiter in waiters {
                waiter.join().unwrap();
            }
        },
        300,
    );
}

#[test]
fn wait_while_waits_for_the_condition() {
    reel::check_random(
        || {
            let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
            let pair2 = pair.clone();
            let producer = thread::spawn(move || {
                let (lock, condvar) = &*pair2;
                for _ in 0..3 {
                    *lock.lock().unwrap() += 1;
                    condvar.notify_all();
                    thread::yield_now();
                }
            });
            let (lock, condvar) = &*pair;
            let guard = condvar
                .wait_while(lock.lock().unwrap(), |count| *count < 3)
                .unwrap();
            assert_eq!(*guard, 3);
            drop(guard);
            producer.join().unwrap();
        },
        300,
    );
}

#[test]
fn wait_while_with_a_false_condition_returns_at_once() {
    reel::run(|| {
        let lock = Mutex::new(5);
        let condvar = Condvar::new();
        let guard = condvar.wait_while(lock.lock().unwrap(), |_| false).unwrap();
        assert_eq!(*guard, 5);
    });
}

#[test]
fn wait_timeout_times_out_in_virtual_time() {
    reel::check_random(
        || {
            let lock = Mutex::new(());
            let condvar = Condvar::new();
            // An hour of virtual time: nobody notifies, so this must time out.
            let (guard, result) = condvar
                .wait_timeout(lock.lock().unwrap(), Duration::from_secs(3600))
                .unwrap();
            assert!(result.timed_out());
            drop(guard);
            // The mutex was re-acquired and released properly.
            assert!(lock.try_lock().is_ok());
        },
        50,
    );
}

#[test]
fn wait_timeout_times_out_in_real_time() {
    reel::run(|| {
        let lock = Mutex::new(());
        let condvar = Condvar::new();
        let (_guard, result) = condvar
            .wait_timeout(lock.lock().unwrap(), Duration::from_millis(5))
            .unwrap();
        assert!(result.timed_out());
    });
}

#[test]
fn wait_timeout_is_woken_by_a_notify() {
    reel::check_random(
        || {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let pair2 = pair.clone();
            let notifier = thread::spawn(move || {
                let (lock, condvar) = &*pair2;
                *lock.lock().unwrap() = true;
                condvar.notify_one();
            });
            let (lock, condvar) = &*pair;
            let mut guard = lock.lock().unwrap();
            // A very long timeout: the notifier always comes first in virtual time.
            while !*guard {
                let (next, _result) = condvar
                    .wait_timeout(guard, Duration::from_secs(1_000_000))
                    .unwrap();
                guard = next;
            }
            drop(guard);
            notifier.join().unwrap();
        },
        200,
    );
}

#[test]
fn wait_timeout_while_times_out_when_the_condition_stays_true() {
    reel::check_random(
        || {
            let lock = Mutex::new(0);
            let condvar = Condvar::new();
            let (guard, result) = condvar
                .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(60), |n| *n == 0)
                .unwrap();
            assert!(result.timed_out());
            assert_eq!(*guard, 0);
        },
        50,
    );
}

#[test]
fn wait_timeout_while_returns_when_the_condition_clears() {
    reel::check_random(
        || {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let pair2 = pair.clone();
            let notifier = thread::spawn(move || {
                let (lock, condvar) = &*pair2;
                *lock.lock().unwrap() = true;
                condvar.notify_one();
            });
            let (lock, condvar) = &*pair;
            let (guard, result) = condvar
                .wait_timeout_while(
                    lock.lock().unwrap(),
                    Duration::from_secs(1_000_000),
                    |ready| !*ready,
                )
                .unwrap();
            assert!(!result.timed_out());
            assert!(*guard);
            drop(guard);
            notifier.join().unwrap();
        },
        200,
    );
}

#[test]
fn wait_timeout_while_with_a_false_condition_does_not_time_out() {
    reel::run(|| {
        let lock = Mutex::new(1);
        let condvar = Condvar::new();
        let (guard, result) = condvar
            .wait_timeout_while(lock.lock().unwrap(), Duration::from_millis(1), |_| false)
            .unwrap();
        assert!(!result.timed_out());
        assert_eq!(*guard, 1);
    });
}

#[test]
fn waiting_releases_the_mutex() {
    reel::check_random(
        || {
            let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
            let pair2 = pair.clone();
            let waiter = thread::spawn(move || {
                let (lock, condvar) = &*pair2;
                let guard = condvar
                    .wait_while(lock.lock().unwrap(), |n| *n == 0)
                    .unwrap();
                *guard
            });
            thread::yield_now();
            let (lock, condvar) = &*pair;
            // While the waiter waits, its mutex is free for us to take.
            *lock.lock().unwrap() = 9;
            condvar.notify_one();
            assert_eq!(waiter.join().unwrap(), 9);
        },
        200,
    );
}

#[test]
fn a_condvar_wait_inherits_poison() {
    let report = reel::Checker::new()
        .iterations(50)
        .allow_thread_panics(true)
        .run(|| {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let pair2 = pair.clone();
            let panicker = thread::spawn(move || {
                let (lock, condvar) = &*pair2;
                let mut guard = lock.lock().unwrap();
                *guard = true;
                condvar.notify_one();
                panic!("poisoning while a waiter waits");
            });
            let (lock, condvar) = &*pair;
            // If the panicker already ran, the lock is poisoned before we even wait.
            let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let wait_result = condvar.wait_while(guard, |ready| !*ready);
            // The waiter either saw the flag before the panic (lock not poisoned yet) or after it.
            let poisoned_now = lock.is_poisoned();
            match wait_result {
                Ok(guard) => assert!(*guard),
                Err(error) => {
                    assert!(poisoned_now);
                    assert!(*error.into_inner());
                }
            }
            assert!(panicker.join().is_err());
            assert!(lock.is_poisoned());
        });
    assert!(!report.found(), "{report}");
}

#[test]
fn wait_timeout_is_woken_by_a_sleeping_notifier_in_real_time() {
    reel::run(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let pair2 = pair.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(2));
            let (lock, condvar) = &*pair2;
            *lock.lock().unwrap() = true;
            condvar.notify_all();
        });
        let (lock, condvar) = &*pair;
        let (guard, result) = condvar
            .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(30), |ready| {
                !*ready
            })
            .unwrap();
        assert!(*guard);
        assert!(!result.timed_out());
    });
}
