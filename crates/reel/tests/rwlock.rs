//! Semantics of `reel::sync::RwLock`, ported from std's `sync/rwlock/tests.rs`: shared readers,
//! exclusive writers, `try_read`/`try_write`, poisoning rules, `into_inner`/`get_mut`.

use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::{Arc, Barrier, RwLock, TryLockError};
use reel::thread;

#[derive(Debug, PartialEq, Eq)]
struct NonCopy(i32);

#[test]
fn smoke() {
    reel::run(|| {
        let lock = RwLock::new(());
        drop(lock.read().unwrap());
        drop(lock.write().unwrap());
        drop((lock.read().unwrap(), lock.read().unwrap()));
        drop(lock.write().unwrap());
    });
}

#[test]
fn many_readers_hold_the_lock_at_once() {
    // Every reader waits on a barrier while holding its read guard: this only completes if the
    // readers really share the lock.
    reel::check_random(
        || {
            const READERS: usize = 3;
            let lock = Arc::new(RwLock::new(7));
            let barrier = Arc::new(Barrier::new(READERS));
            let readers: Vec<_> = (0..READERS)
                .map(|_| {
                    let lock = lock.clone();
                    let barrier = barrier.clone();
                    thread::spawn(move || {
                        let guard = lock.read().unwrap();
                        barrier.wait();
                        *guard
                    })
                })
                .collect();
            for reader in readers {
                assert_eq!(reader.join().unwrap(), 7);
            }
        },
        200,
    );
}

#[test]
fn a_writer_excludes_readers_and_writers() {
    reel::check_random(
        || {
            let lock = Arc::new(RwLock::new(0u32));
            // Count of writers inside (high part) and readers inside (low part).
            let writers_inside = Arc::new(AtomicUsize::new(0));
            let readers_inside = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..4)
                .map(|n| {
                    let lock = lock.clone();
                    let writers_inside = writers_inside.clone();
                    let readers_inside = readers_inside.clone();
                    thread::spawn(move || {
                        if n % 2 == 0 {
                            let mut guard = lock.write().unwrap();
                            assert_eq!(writers_inside.fetch_add(1, Ordering::SeqCst), 0);
                            assert_eq!(readers_inside.load(Ordering::SeqCst), 0);
                            let seen = *guard;
                            thread::yield_now();
                            *guard = seen + 1;
                            writers_inside.fetch_sub(1, Ordering::SeqCst);
                        } else {
                            let guard = lock.read().unwrap();
                            readers_inside.fetch_add(1, Ordering::SeqCst);
                            assert_eq!(writers_inside.load(Ordering::SeqCst), 0);
                            let first = *guard;
                            thread::yield_now();
                            assert_eq!(*guard, first, "a value changed under a read guard");
                            readers_inside.fetch_sub(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(*lock.read().unwrap(), 2);
        },
        300,
    );
}

#[test]
fn writers_are_exclusive_under_pct() {
    reel::check_pct(
        || {
            let lock = Arc::new(RwLock::new(0u32));
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let lock = lock.clone();
                    thread::spawn(move || {
                        let mut guard = lock.write().unwrap();
                        let seen = *guard;
                        thread::yield_now();
                        *guard = seen + 1;
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(*lock.read().unwrap(), 3);
        },
        200,
        3,
    );
}

#[test]
fn try_write_while_read_held_would_block() {
    reel::run(|| {
        let lock = RwLock::new(0);
        let read_guard = lock.read().unwrap();
        assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
        // Another reader may still join in.
        assert!(lock.try_read().is_ok());
        drop(read_guard);
        assert!(lock.try_write().is_ok());
    });
}

#[test]
fn try_read_and_try_write_while_write_held_would_block() {
    reel::check_random(
        || {
            let lock = Arc::new(RwLock::new(0));
            let write_guard = lock.write().unwrap();
            let other = {
                let lock = lock.clone();
                thread::spawn(move || {
                    (
                        matches!(lock.try_read(), Err(TryLockError::WouldBlock)),
                        matches!(lock.try_write(), Err(TryLockError::WouldBlock)),
                    )
                })
            };
            assert_eq!(other.join().unwrap(), (true, true));
            drop(write_guard);
            let read_ok = lock.try_read().is_ok();
            assert!(read_ok);
        },
        100,
    );
}

#[test]
fn readers_block_a_writer_until_they_leave() {
    reel::check_random(
        || {
            let lock = Arc::new(RwLock::new(0));
            let read_guard = lock.read().unwrap();
            let writer = {
                let lock = lock.clone();
                thread::spawn(move || {
                    *lock.write().unwrap() = 1;
                })
            };
            thread::yield_now();
            assert_eq!(
                *read_guard, 0,
                "a writer got in while a reader held the lock"
            );
            drop(read_guard);
            writer.join().unwrap();
            assert_eq!(*lock.read().unwrap(), 1);
        },
        200,
    );
}

/// Runs `body` in a spawned thread that is expected to panic, and checks that it did.
fn panic_in_thread(body: impl FnOnce() + Send + 'static) {
    assert!(thread::spawn(body).join().is_err());
}

#[test]
fn a_panic_while_writing_poisons() {
    let report = reel::Checker::new()
        .iterations(50)
        .allow_thread_panics(true)
        .run(|| {
            let lock = Arc::new(RwLock::new(1));
            let clone = lock.clone();
            panic_in_thread(move || {
                let _guard = clone.write().unwrap();
                panic!("poisoning the rwlock on purpose");
            });
            assert!(lock.is_poisoned());
            assert!(lock.read().is_err());
            assert!(lock.write().is_err());
            assert!(matches!(lock.try_read(), Err(TryLockError::Poisoned(_))));
            assert_eq!(*lock.read().unwrap_err().into_inner(), 1);
            lock.clear_poison();
            assert!(!lock.is_poisoned());
            assert_eq!(*lock.read().unwrap(), 1);
        });
    assert!(!report.found(), "{report}");
}

#[test]
fn a_panic_while_reading_does_not_poison() {
    reel::run(|| {
        let lock = Arc::new(RwLock::new(1));
        let clone = lock.clone();
        panic_in_thread(move || {
            let _guard = clone.read().unwrap();
            panic!("panicking under a read guard");
        });
        assert!(!lock.is_poisoned());
        assert_eq!(*lock.write().unwrap(), 1);
    });
}

#[test]
fn into_inner_and_get_mut() {
    reel::run(|| {
        let mut lock = RwLock::new(NonCopy(10));
        *lock.get_mut().unwrap() = NonCopy(20);
        assert_eq!(lock.into_inner().unwrap(), NonCopy(20));
    });
}

#[test]
fn into_inner_reports_poison() {
    reel::run(|| {
        let lock = Arc::new(RwLock::new(NonCopy(10)));
        let clone = lock.clone();
        panic_in_thread(move || {
            let _guard = clone.write().unwrap();
            panic!("poisoning before into_inner");
        });
        let lock = Arc::into_inner(lock).expect("the only reference");
        assert_eq!(lock.into_inner().unwrap_err().into_inner(), NonCopy(10));
    });
}

/// Writers are preferred, as in std on Linux: a thread that read-locks again while a writer
/// waits deadlocks, and reel reports the cycle through the waiting writer.
#[test]
fn a_recursive_read_behind_a_waiting_writer_is_a_deadlock() {
    let report = reel::Checker::new().random().iterations(500).run(|| {
        let lock = Arc::new(RwLock::new(0));
        let writer = {
            let lock = Arc::clone(&lock);
            thread::Builder::new()
                .name("writer".to_owned())
                .spawn(move || *lock.write().unwrap() += 1)
                .unwrap()
        };
        let first = lock.read().unwrap();
        thread::yield_now();
        let second = lock.read().unwrap();
        drop((first, second));
        writer.join().unwrap();
    });
    let failure = report
        .failure
        .expect("the writer can wait between the two reads");
    assert_eq!(failure.kind, reel::FailureKind::Deadlock, "{failure}");
    let text = failure.to_string();
    assert!(text.contains("wait-for cycle"), "{text}");
    assert!(
        text.contains("behind waiting writer thread 'writer'"),
        "{text}"
    );
}
