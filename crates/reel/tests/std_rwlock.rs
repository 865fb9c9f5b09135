//! std's own `RwLock` tests (`library/std/tests/sync/rwlock.rs` of rust-lang/rust, MIT or
//! Apache-2.0), ported by swapping `std::sync` and `std::thread` for reel's: the bodies are
//! unchanged, and each runs under exploration. std runs its poisoning-lock tests as
//! `poison_*` (and again as `nonpoison_*`): the names here are std's.
//!
//! std has 56 tests here: the 19 that use only API stable in std (rustc 1.95) are ported
//! but one, and all 18 ported pass unchanged. Not ported:
//! - `poison_frob`: it draws from std's own test RNG helper (`common::test_rng`, the `rand`
//!   crate), which is not part of std's API;
//! - `poison_test_get_cloned`, `poison_test_set`, `poison_test_replace`,
//!   `test_get_cloned_poison`, `test_set_poison`, `test_replace_poison`
//!   (`lock_value_accessors`, unstable);
//! - `poison_test_mapped_read_guard_covariance`, `poison_test_mapping_mapped_guard`,
//!   `poison_test_rwlock_try_write`, `test_rw_arc_poison_mapped_w_r`,
//!   `test_rw_arc_poison_mapped_w_w`, `test_rw_arc_no_poison_mapped_r_r`,
//!   `test_rw_arc_no_poison_mapped_r_w`, `panic_while_mapping_read_unlocked_no_poison`,
//!   `panic_while_mapping_write_unlocked_poison` (`mapped_lock_guards`, unstable);
//! - `test_rwlock_with`, `test_rwlock_with_mut`, `test_read_guard_unlocked`,
//!   `test_write_guard_unlocked`, `nonpoison_test_rwlock_try_write` and the 17 other
//!   `nonpoison_*` twins of the `poison_*` tests (`sync_nonpoison`, unstable).

// std's test code, kept as std wrote it.
#![allow(clippy::drop_non_drop)]

mod std_port;

use std::panic::{self, AssertUnwindSafe};
use std::{hint, mem};

use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::mpsc::channel;
use reel::sync::{Arc, RwLock};
use reel::thread;
use std_port::maybe_unwrap;

/// The poisoning locks, as std's tests name them.
mod locks {
    pub use reel::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
}

#[derive(Eq, PartialEq, Debug)]
struct NonCopy(i32);

#[derive(Eq, PartialEq, Debug)]
struct NonCopyNeedsDrop(i32);

impl Drop for NonCopyNeedsDrop {
    fn drop(&mut self) {
        hint::black_box(());
    }
}

#[test]
fn test_needs_drop() {
    assert!(!mem::needs_drop::<NonCopy>());
    assert!(mem::needs_drop::<NonCopyNeedsDrop>());
}

std_test!(explore(20) poison_smoke {
    use locks::RwLock;

    let l = RwLock::new(());
    drop(maybe_unwrap(l.read()));
    drop(maybe_unwrap(l.write()));
    drop((maybe_unwrap(l.read()), maybe_unwrap(l.read())));
    drop(maybe_unwrap(l.write()));
});

std_test!(explore(100) poison_test_rw_arc {
    use locks::RwLock;

    let arc = Arc::new(RwLock::new(0));
    let arc2 = arc.clone();
    let (tx, rx) = channel();

    thread::spawn(move || {
        let mut lock = maybe_unwrap(arc2.write());
        for _ in 0..10 {
            let tmp = *lock;
            *lock = -1;
            thread::yield_now();
            *lock = tmp + 1;
        }
        tx.send(()).unwrap();
    });

    // Readers try to catch the writer in the act
    let mut children = Vec::new();
    for _ in 0..5 {
        let arc3 = arc.clone();
        children.push(thread::spawn(move || {
            let lock = maybe_unwrap(arc3.read());
            assert!(*lock >= 0);
        }));
    }

    // Wait for children to pass their asserts
    for r in children {
        assert!(r.join().is_ok());
    }

    // Wait for writer to finish
    rx.recv().unwrap();
    let lock = maybe_unwrap(arc.read());
    assert_eq!(*lock, 10);
});

std_test!(explore(100) poison_test_rw_arc_access_in_unwind {
    use locks::RwLock;

    let arc = Arc::new(RwLock::new(1));
    let arc2 = arc.clone();
    let _ = thread::spawn(move || -> () {
        struct Unwinder {
            i: Arc<RwLock<isize>>,
        }
        impl Drop for Unwinder {
            fn drop(&mut self) {
                let mut lock = maybe_unwrap(self.i.write());
                *lock += 1;
            }
        }
        let _u = Unwinder { i: arc2 };
        panic!();
    })
    .join();
    let lock = maybe_unwrap(arc.read());
    assert_eq!(*lock, 2);
});

std_test!(explore(20) poison_test_rwlock_unsized {
    use locks::RwLock;

    let rw: &RwLock<[i32]> = &RwLock::new([1, 2, 3]);
    {
        let b = &mut *maybe_unwrap(rw.write());
        b[0] = 4;
        b[2] = 5;
    }
    let comp: &[i32] = &[4, 2, 5];
    assert_eq!(&*maybe_unwrap(rw.read()), comp);
});

std_test!(explore(20) poison_test_into_inner {
    use locks::RwLock;

    let m = RwLock::new(NonCopy(10));
    assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(10));
});

std_test!(explore(20) poison_test_into_inner_drop {
    use locks::RwLock;

    struct Foo(Arc<AtomicUsize>);
    impl Drop for Foo {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let num_drops = Arc::new(AtomicUsize::new(0));
    let m = RwLock::new(Foo(num_drops.clone()));
    assert_eq!(num_drops.load(Ordering::SeqCst), 0);
    {
        let _inner = maybe_unwrap(m.into_inner());
        assert_eq!(num_drops.load(Ordering::SeqCst), 0);
    }
    assert_eq!(num_drops.load(Ordering::SeqCst), 1);
});

std_test!(explore(20) poison_test_get_mut {
    use locks::RwLock;

    let mut m = RwLock::new(NonCopy(10));
    *maybe_unwrap(m.get_mut()) = NonCopy(20);
    assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(20));
});

std_test!(explore(20) poison_test_read_guard_covariance {
    use locks::{RwLock, RwLockReadGuard};

    fn do_stuff<'a>(_: RwLockReadGuard<'_, &'a i32>, _: &'a i32) {}
    let j: i32 = 5;
    let lock = RwLock::new(&j);
    {
        let i = 6;
        do_stuff(maybe_unwrap(lock.read()), &i);
    }
    drop(lock);
});

std_test!(explore(20) poison_test_downgrade_basic {
    use locks::{RwLock, RwLockWriteGuard};

    let r = RwLock::new(());

    let write_guard = maybe_unwrap(r.write());
    let _read_guard = RwLockWriteGuard::downgrade(write_guard);
});

std_test!(explore(3) poison_test_downgrade_observe {
    use locks::{RwLock, RwLockWriteGuard};

    // Inspired by the test `test_rwlock_downgrade` from:
    // https://github.com/Amanieu/parking_lot/blob/master/src/rwlock.rs

    const W: usize = 20;
    const N: usize = if cfg!(miri) { 40 } else { 100 };

    // This test spawns `W` writer threads, where each will increment a counter `N` times,
    // ensuring that the value they wrote has not changed after downgrading.

    let rw = Arc::new(RwLock::new(0));

    // Spawn the writers that will do `W * N` operations and checks.
    let handles: Vec<_> = (0..W)
        .map(|_| {
            let rw = rw.clone();
            thread::spawn(move || {
                for _ in 0..N {
                    // Increment the counter.
                    let mut write_guard = maybe_unwrap(rw.write());
                    *write_guard += 1;
                    let cur_val = *write_guard;

                    // Downgrade the lock to read mode, where the value protected cannot be
                    // modified.
                    let read_guard = RwLockWriteGuard::downgrade(write_guard);
                    assert_eq!(cur_val, *read_guard);
                }
            })
        })
        .collect();

    for handle in handles {
        handle.join().unwrap();
    }

    assert_eq!(*maybe_unwrap(rw.read()), W * N);
});

std_test!(explore(50) poison_test_downgrade_atomic {
    use locks::{RwLock, RwLockWriteGuard};

    const NEW_VALUE: i32 = -1;

    // This test checks that `downgrade` is atomic, meaning as soon as a write lock has been
    // downgraded, the lock must be in read mode and no other threads can take the write lock to
    // modify the protected value.

    // `W` is the number of evil writer threads.
    const W: usize = 20;
    let rwlock = Arc::new(RwLock::new(0));

    // Spawns many evil writer threads that will try and write to the locked value before the
    // initial writer (who has the exclusive lock) can read after it downgrades.
    // If the `RwLock` behaves correctly, then the initial writer should read the value it wrote
    // itself as no other thread should be able to mutate the protected value.

    // Put the lock in write mode, causing all future threads trying to access this go to sleep.
    let mut main_write_guard = maybe_unwrap(rwlock.write());

    // Spawn all of the evil writer threads. They will each increment the protected value by 1.
    let handles: Vec<_> = (0..W)
        .map(|_| {
            let rwlock = rwlock.clone();
            thread::spawn(move || {
                // Will go to sleep since the main thread initially has the write lock.
                let mut evil_guard = maybe_unwrap(rwlock.write());
                *evil_guard += 1;
            })
        })
        .collect();

    // Wait for a good amount of time so that evil threads go to sleep.
    // Note: this is not strictly necessary...
    let eternity = std::time::Duration::from_millis(42);
    thread::sleep(eternity);

    // Once everyone is asleep, set the value to `NEW_VALUE`.
    *main_write_guard = NEW_VALUE;

    // Atomically downgrade the write guard into a read guard.
    let main_read_guard = RwLockWriteGuard::downgrade(main_write_guard);

    // If the above is not atomic, then it would be possible for an evil thread to get in front
    // of this read and change the value to be non-negative.
    assert_eq!(*main_read_guard, NEW_VALUE, "`downgrade` was not atomic");

    // Drop the main read guard and allow the evil writer threads to start incrementing.
    drop(main_read_guard);

    for handle in handles {
        handle.join().unwrap();
    }

    let final_check = maybe_unwrap(rwlock.read());
    assert_eq!(*final_check, W as i32 + NEW_VALUE);
});

/// Creates a rwlock that is immediately poisoned.
fn new_poisoned_rwlock<T>(value: T) -> RwLock<T> {
    let lock = RwLock::new(value);

    let catch_unwind_result = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard = lock.write().unwrap();

        panic!("test panic to poison RwLock");
    }));

    assert!(catch_unwind_result.is_err());
    assert!(lock.is_poisoned());

    lock
}

std_test!(explore(20) test_into_inner_poison {
    let m = new_poisoned_rwlock(NonCopy(10));

    match m.into_inner() {
        Err(e) => assert_eq!(e.into_inner(), NonCopy(10)),
        Ok(x) => panic!("into_inner of poisoned RwLock is Ok: {x:?}"),
    }
});

std_test!(explore(20) test_get_mut_poison {
    let mut m = new_poisoned_rwlock(NonCopy(10));

    match m.get_mut() {
        Err(e) => assert_eq!(*e.into_inner(), NonCopy(10)),
        Ok(x) => panic!("get_mut of poisoned RwLock is Ok: {x:?}"),
    }
});

std_test!(explore(50) test_rw_arc_poison_wr {
    let arc = Arc::new(RwLock::new(1));
    let arc2 = arc.clone();
    let _: Result<(), _> = thread::spawn(move || {
        let _lock = arc2.write().unwrap();
        panic!();
    })
    .join();
    assert!(arc.read().is_err());
});

std_test!(explore(50) test_rw_arc_poison_ww {
    let arc = Arc::new(RwLock::new(1));
    assert!(!arc.is_poisoned());
    let arc2 = arc.clone();
    let _: Result<(), _> = thread::spawn(move || {
        let _lock = arc2.write().unwrap();
        panic!();
    })
    .join();
    assert!(arc.write().is_err());
    assert!(arc.is_poisoned());
});

std_test!(explore(50) test_rw_arc_no_poison_rr {
    let arc = Arc::new(RwLock::new(1));
    let arc2 = arc.clone();
    let _: Result<(), _> = thread::spawn(move || {
        let _lock = arc2.read().unwrap();
        panic!();
    })
    .join();
    let lock = arc.read().unwrap();
    assert_eq!(*lock, 1);
});

std_test!(explore(50) test_rw_arc_no_poison_rw {
    let arc = Arc::new(RwLock::new(1));
    let arc2 = arc.clone();
    let _: Result<(), _> = thread::spawn(move || {
        let _lock = arc2.read().unwrap();
        panic!()
    })
    .join();
    let lock = arc.write().unwrap();
    assert_eq!(*lock, 1);
});
