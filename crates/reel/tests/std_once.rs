//! std's own `Once` tests (`library/std/tests/sync/once.rs` of rust-lang/rust, MIT or
//! Apache-2.0), ported by swapping `std::sync` and `std::thread` for reel's: the bodies are
//! unchanged. Those with a `static` Once run once in `reel::run` (a completed `static` Once
//! stays completed for the rest of the process, in reel as in std, so a second execution
//! would test nothing new); the others are explored (sleeps in virtual time).
//!
//! All 7 of std's tests are ported, and all pass unchanged.

mod std_port;

use std::panic;
use std::time::Duration;

use reel::sync::Once;
use reel::sync::atomic::AtomicBool;
use reel::sync::atomic::Ordering::Relaxed;
use reel::sync::mpsc::channel;
use reel::thread;

std_test!(run smoke_once {
    static O: Once = Once::new();
    let mut a = 0;
    O.call_once(|| a += 1);
    assert_eq!(a, 1);
    O.call_once(|| a += 1);
    assert_eq!(a, 1);
});

std_test!(run stampede_once {
    static O: Once = Once::new();
    static mut RUN: bool = false;

    let (tx, rx) = channel();
    for _ in 0..10 {
        let tx = tx.clone();
        thread::spawn(move || {
            for _ in 0..4 {
                thread::yield_now()
            }
            // SAFETY: RUN is written only in O's initialiser, which runs once, and read after
            // O completed, which orders the read after the write; and reel runs one green
            // thread of a runtime at a time.
            unsafe {
                O.call_once(|| {
                    assert!(!RUN);
                    RUN = true;
                });
                assert!(RUN);
            }
            tx.send(()).unwrap();
        });
    }

    // SAFETY: as in the spawned threads above.
    unsafe {
        O.call_once(|| {
            assert!(!RUN);
            RUN = true;
        });
        assert!(RUN);
    }

    for _ in 0..10 {
        rx.recv().unwrap();
    }
});

std_test!(run poison_bad {
    static O: Once = Once::new();

    // poison the once
    let t = panic::catch_unwind(|| {
        O.call_once(|| panic!());
    });
    assert!(t.is_err());

    // poisoning propagates
    let t = panic::catch_unwind(|| {
        O.call_once(|| {});
    });
    assert!(t.is_err());

    // we can subvert poisoning, however
    let mut called = false;
    O.call_once_force(|p| {
        called = true;
        assert!(p.is_poisoned())
    });
    assert!(called);

    // once any success happens, we stop propagating the poison
    O.call_once(|| {});
});

std_test!(run wait_for_force_to_finish {
    static O: Once = Once::new();

    // poison the once
    let t = panic::catch_unwind(|| {
        O.call_once(|| panic!());
    });
    assert!(t.is_err());

    // make sure someone's waiting inside the once via a force
    let (tx1, rx1) = channel();
    let (tx2, rx2) = channel();
    let t1 = thread::spawn(move || {
        O.call_once_force(|p| {
            assert!(p.is_poisoned());
            tx1.send(()).unwrap();
            rx2.recv().unwrap();
        });
    });

    rx1.recv().unwrap();

    // put another waiter on the once
    let t2 = thread::spawn(|| {
        let mut called = false;
        O.call_once(|| {
            called = true;
        });
        assert!(!called);
    });

    tx2.send(()).unwrap();

    assert!(t1.join().is_ok());
    assert!(t2.join().is_ok());
});

std_test!(explore(10) wait {
    for _ in 0..50 {
        let val = AtomicBool::new(false);
        let once = Once::new();

        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    once.wait();
                    assert!(val.load(Relaxed));
                });
            }

            once.call_once(|| val.store(true, Relaxed));
        });
    }
});

std_test!(explore(20) wait_on_poisoned {
    let once = Once::new();

    panic::catch_unwind(|| once.call_once(|| panic!())).unwrap_err();
    panic::catch_unwind(|| once.wait()).unwrap_err();
});

std_test!(explore(100) wait_force_on_poisoned {
    let once = Once::new();

    thread::scope(|s| {
        panic::catch_unwind(|| once.call_once(|| panic!())).unwrap_err();

        s.spawn(|| {
            thread::sleep(Duration::from_millis(100));

            once.call_once_force(|_| {});
        });

        once.wait_force();
    })
});
