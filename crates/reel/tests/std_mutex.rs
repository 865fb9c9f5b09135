//! std's own `Mutex` tests (`library/std/tests/sync/mutex.rs` of rust-lang/rust, MIT or
//! Apache-2.0), ported by swapping `std::sync` and `std::thread` for reel's: the bodies are
//! unchanged, and each runs under exploration or, with `static` state, in `reel::run`.
//! std runs its poisoning-lock tests as `poison_*` (and again as `nonpoison_*` for
//! `std::sync::nonpoison`, which is unstable): the names here are std's.
//!
//! std has 41 tests here: the 14 that use only API stable in std (rustc 1.95) are ported,
//! and all 14 pass unchanged. The other 27 test API that is unstable in std, which reel
//! does not mirror:
//! - `poison_test_get_cloned`, `poison_test_set`, `poison_test_set_drop`,
//!   `poison_test_replace`, `test_get_cloned_poison`, `test_set_poison`,
//!   `test_replace_poison` (`lock_value_accessors`);
//! - `poison_test_mapping_mapped_guard`, `test_mutex_arc_poison_mapped`,
//!   `panic_while_mapping_unlocked_poison` (`mapped_lock_guards`);
//! - `test_mutex_with_mut`, `test_mutex_guard_unlocked` and the 15 `nonpoison_*` twins of
//!   the `poison_*` tests (`sync_nonpoison`).

mod std_port;

use std::panic::{self, AssertUnwindSafe};
use std::{hint, mem};

use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::mpsc::channel;
use reel::sync::{Arc, Mutex};
use reel::thread;
use std_port::maybe_unwrap;

/// The poisoning locks, as std's tests name them.
mod locks {
    pub use reel::sync::Mutex;
}

std_test!(explore(20) poison_smoke {
    use locks::Mutex;

    let m = Mutex::new(());
    drop(maybe_unwrap(m.lock()));
    drop(maybe_unwrap(m.lock()));
});

std_test!(explore(3) poison_lots_and_lots {
    use locks::Mutex;

    const J: u32 = 1000;
    const K: u32 = 3;

    let m = Arc::new(Mutex::new(0));

    fn inc(m: &Mutex<u32>) {
        for _ in 0..J {
            *maybe_unwrap(m.lock()) += 1;
        }
    }

    let (tx, rx) = channel();
    for _ in 0..K {
        let tx2 = tx.clone();
        let m2 = m.clone();
        thread::spawn(move || {
            inc(&m2);
            tx2.send(()).unwrap();
        });
        let tx2 = tx.clone();
        let m2 = m.clone();
        thread::spawn(move || {
            inc(&m2);
            tx2.send(()).unwrap();
        });
    }

    drop(tx);
    for _ in 0..2 * K {
        rx.recv().unwrap();
    }
    assert_eq!(*maybe_unwrap(m.lock()), J * K * 2);
});

std_test!(explore(20) poison_try_lock {
    use locks::Mutex;

    let m = Mutex::new(());
    *m.try_lock().unwrap() = ();
});

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

std_test!(explore(20) poison_test_into_inner {
    use locks::Mutex;

    let m = Mutex::new(NonCopy(10));
    assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(10));
});

std_test!(explore(20) poison_test_into_inner_drop {
    use locks::Mutex;

    struct Foo(Arc<AtomicUsize>);
    impl Drop for Foo {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let num_drops = Arc::new(AtomicUsize::new(0));
    let m = Mutex::new(Foo(num_drops.clone()));
    assert_eq!(num_drops.load(Ordering::SeqCst), 0);
    {
        let _inner = maybe_unwrap(m.into_inner());
        assert_eq!(num_drops.load(Ordering::SeqCst), 0);
    }
    assert_eq!(num_drops.load(Ordering::SeqCst), 1);
});

std_test!(explore(20) poison_test_get_mut {
    use locks::Mutex;

    let mut m = Mutex::new(NonCopy(10));
    *maybe_unwrap(m.get_mut()) = NonCopy(20);
    assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(20));
});

std_test!(explore(100) poison_test_mutex_arc_nested {
    use locks::Mutex;

    // Tests nested mutexes and access
    // to underlying data.
    let arc = Arc::new(Mutex::new(1));
    let arc2 = Arc::new(Mutex::new(arc));
    let (tx, rx) = channel();
    let _t = thread::spawn(move || {
        let lock = maybe_unwrap(arc2.lock());
        let lock2 = maybe_unwrap(lock.lock());
        assert_eq!(*lock2, 1);
        tx.send(()).unwrap();
    });
    rx.recv().unwrap();
});

std_test!(explore(20) poison_test_mutex_unsized {
    use locks::Mutex;

    let mutex: &Mutex<[i32]> = &Mutex::new([1, 2, 3]);
    {
        let b = &mut *maybe_unwrap(mutex.lock());
        b[0] = 4;
        b[2] = 5;
    }
    let comp: &[i32] = &[4, 2, 5];
    assert_eq!(&*maybe_unwrap(mutex.lock()), comp);
});

std_test!(explore(20) poison_test_panics {
    use locks::Mutex;

    let mutex = Mutex::new(42);

    let catch_unwind_result1 = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard1 = maybe_unwrap(mutex.lock());

        panic!("test panic with mutex once");
    }));
    assert!(catch_unwind_result1.is_err());

    let catch_unwind_result2 = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard2 = maybe_unwrap(mutex.lock());

        panic!("test panic with mutex twice");
    }));
    assert!(catch_unwind_result2.is_err());

    let catch_unwind_result3 = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard3 = maybe_unwrap(mutex.lock());

        panic!("test panic with mutex thrice");
    }));
    assert!(catch_unwind_result3.is_err());
});

std_test!(explore(100) poison_test_mutex_arc_access_in_unwind {
    use locks::Mutex;

    let arc = Arc::new(Mutex::new(1));
    let arc2 = arc.clone();
    let _ = thread::spawn(move || -> () {
        struct Unwinder {
            i: Arc<Mutex<i32>>,
        }
        impl Drop for Unwinder {
            fn drop(&mut self) {
                *maybe_unwrap(self.i.lock()) += 1;
            }
        }
        let _u = Unwinder { i: arc2 };
        panic!();
    })
    .join();
    let lock = maybe_unwrap(arc.lock());
    assert_eq!(*lock, 2);
});

/// Creates a mutex that is immediately poisoned.
fn new_poisoned_mutex<T>(value: T) -> Mutex<T> {
    let mutex = Mutex::new(value);

    let catch_unwind_result = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard = mutex.lock().unwrap();

        panic!("test panic to poison mutex");
    }));

    assert!(catch_unwind_result.is_err());
    assert!(mutex.is_poisoned());

    mutex
}

std_test!(explore(20) test_into_inner_poison {
    let m = new_poisoned_mutex(NonCopy(10));

    match m.into_inner() {
        Err(e) => assert_eq!(e.into_inner(), NonCopy(10)),
        Ok(x) => panic!("into_inner of poisoned Mutex is Ok: {x:?}"),
    }
});

std_test!(explore(20) test_get_mut_poison {
    let mut m = new_poisoned_mutex(NonCopy(10));

    match m.get_mut() {
        Err(e) => assert_eq!(*e.into_inner(), NonCopy(10)),
        Ok(x) => panic!("get_mut of poisoned Mutex is Ok: {x:?}"),
    }
});

std_test!(explore(100) test_mutex_arc_poison {
    let arc = Arc::new(Mutex::new(1));
    assert!(!arc.is_poisoned());
    let arc2 = arc.clone();
    let _ = thread::spawn(move || {
        let lock = arc2.lock().unwrap();
        assert_eq!(*lock, 2); // deliberate assertion failure to poison the mutex
    })
    .join();
    assert!(arc.lock().is_err());
    assert!(arc.is_poisoned());
});
