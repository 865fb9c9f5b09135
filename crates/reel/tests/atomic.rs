//! Semantics of `reel::sync::atomic`: every atomic type's read-modify-write operations, fences,
//! and counters that stay exact (and racy load/store counters that do not) under exploration.

use std::ptr;

use reel::sync::Arc;
use reel::sync::atomic::{
    AtomicBool, AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicPtr, AtomicU8,
    AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering, compiler_fence, fence,
};
use reel::thread;

/// Generates a test of every integer operation for one atomic integer type.
macro_rules! integer_operations_test {
    ($test_name:ident, $atomic:ident, $int:ty) => {
        #[test]
        fn $test_name() {
            reel::run(|| {
                let atomic = $atomic::new(5);
                assert_eq!(atomic.load(Ordering::SeqCst), 5);
                atomic.store(10, Ordering::SeqCst);
                assert_eq!(atomic.load(Ordering::Relaxed), 10);

                assert_eq!(atomic.fetch_add(3, Ordering::SeqCst), 10);
                assert_eq!(atomic.fetch_sub(1, Ordering::AcqRel), 13);
                assert_eq!(atomic.load(Ordering::Acquire), 12);

                assert_eq!(atomic.fetch_and(0b1010, Ordering::SeqCst), 12);
                assert_eq!(atomic.load(Ordering::SeqCst), 0b1000);
                assert_eq!(atomic.fetch_or(0b0011, Ordering::SeqCst), 0b1000);
                assert_eq!(atomic.load(Ordering::SeqCst), 0b1011);
                assert_eq!(atomic.fetch_xor(0b0110, Ordering::SeqCst), 0b1011);
                assert_eq!(atomic.load(Ordering::SeqCst), 0b1101);

                assert_eq!(atomic.fetch_max(20, Ordering::SeqCst), 13);
                assert_eq!(atomic.fetch_max(7, Ordering::SeqCst), 20);
                assert_eq!(atomic.load(Ordering::SeqCst), 20);
                assert_eq!(atomic.fetch_min(9, Ordering::SeqCst), 20);
                assert_eq!(atomic.fetch_min(15, Ordering::SeqCst), 9);
                assert_eq!(atomic.load(Ordering::SeqCst), 9);

                assert_eq!(atomic.swap(4, Ordering::SeqCst), 9);
                assert_eq!(
                    atomic.compare_exchange(4, 6, Ordering::SeqCst, Ordering::SeqCst),
                    Ok(4)
                );
                assert_eq!(
                    atomic.compare_exchange(4, 8, Ordering::SeqCst, Ordering::Relaxed),
                    Err(6)
                );
                assert_eq!(atomic.load(Ordering::SeqCst), 6);
                let mut current = atomic.load(Ordering::SeqCst);
                loop {
                    match atomic.compare_exchange_weak(
                        current,
                        current * 2,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    ) {
                        Ok(_) => break,
                        Err(seen) => current = seen,
                    }
                }
                assert_eq!(atomic.load(Ordering::SeqCst), 12);

                assert_eq!(
                    atomic.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(v + 1)),
                    Ok(12)
                );
                assert_eq!(
                    atomic.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |_| None),
                    Err(13)
                );
                assert_eq!(atomic.load(Ordering::SeqCst), 13);

                // Arithmetic wraps around, as std's does.
                atomic.store(<$int>::MAX, Ordering::SeqCst);
                assert_eq!(atomic.fetch_add(1, Ordering::SeqCst), <$int>::MAX);
                assert_eq!(atomic.load(Ordering::SeqCst), <$int>::MIN);
                assert_eq!(atomic.fetch_sub(1, Ordering::SeqCst), <$int>::MIN);
                assert_eq!(atomic.load(Ordering::SeqCst), <$int>::MAX);
            });
        }
    };
}

integer_operations_test!(atomic_u8_operations, AtomicU8, u8);
integer_operations_test!(atomic_u16_operations, AtomicU16, u16);
integer_operations_test!(atomic_u32_operations, AtomicU32, u32);
integer_operations_test!(atomic_u64_operations, AtomicU64, u64);
integer_operations_test!(atomic_usize_operations, AtomicUsize, usize);
integer_operations_test!(atomic_i8_operations, AtomicI8, i8);
integer_operations_test!(atomic_i16_operations, AtomicI16, i16);
integer_operations_test!(atomic_i32_operations, AtomicI32, i32);
integer_operations_test!(atomic_i64_operations, AtomicI64, i64);
integer_operations_test!(atomic_isize_operations, AtomicIsize, isize);

#[test]
fn signed_max_and_min_compare_as_signed() {
    reel::run(|| {
        let atomic = AtomicI32::new(-5);
        assert_eq!(atomic.fetch_max(-10, Ordering::SeqCst), -5);
        assert_eq!(atomic.load(Ordering::SeqCst), -5);
        assert_eq!(atomic.fetch_min(-10, Ordering::SeqCst), -5);
        assert_eq!(atomic.load(Ordering::SeqCst), -10);
        let small = AtomicI8::new(-1);
        assert_eq!(small.fetch_max(1, Ordering::SeqCst), -1);
        assert_eq!(small.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn atomic_bool_operations() {
    reel::run(|| {
        let flag = AtomicBool::new(false);
        assert!(!flag.load(Ordering::SeqCst));
        flag.store(true, Ordering::SeqCst);
        assert!(flag.load(Ordering::SeqCst));
        assert!(flag.swap(false, Ordering::SeqCst));
        assert!(!flag.fetch_or(true, Ordering::SeqCst));
        assert!(flag.fetch_and(false, Ordering::SeqCst));
        assert!(!flag.load(Ordering::SeqCst));
        assert!(!flag.fetch_xor(true, Ordering::SeqCst));
        assert!(flag.fetch_xor(true, Ordering::SeqCst));
        assert!(!flag.load(Ordering::SeqCst));
        assert_eq!(
            flag.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst),
            Ok(false)
        );
        assert_eq!(
            flag.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst),
            Err(true)
        );
        assert_eq!(
            flag.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(!v)),
            Ok(true)
        );
        assert_eq!(
            flag.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |_| None),
            Err(false)
        );
    });
}

#[test]
fn atomic_ptr_operations() {
    reel::run(|| {
        let mut first = 1u32;
        let mut second = 2u32;
        let first_ptr: *mut u32 = &mut first;
        let second_ptr: *mut u32 = &mut second;
        let atomic: AtomicPtr<u32> = AtomicPtr::new(ptr::null_mut());
        assert!(atomic.load(Ordering::SeqCst).is_null());
        atomic.store(first_ptr, Ordering::SeqCst);
        assert_eq!(atomic.load(Ordering::SeqCst), first_ptr);
        assert_eq!(atomic.swap(second_ptr, Ordering::SeqCst), first_ptr);
        assert_eq!(
            atomic.compare_exchange(second_ptr, first_ptr, Ordering::SeqCst, Ordering::SeqCst),
            Ok(second_ptr)
        );
        assert_eq!(
            atomic.compare_exchange(second_ptr, first_ptr, Ordering::SeqCst, Ordering::SeqCst),
            Err(first_ptr)
        );
        assert_eq!(
            atomic.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |_| Some(second_ptr)),
            Ok(first_ptr)
        );
        assert_eq!(atomic.load(Ordering::SeqCst), second_ptr);
    });
}

#[test]
fn static_atomics_with_const_new() {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static FLAG: AtomicBool = AtomicBool::new(false);
    reel::run(|| {
        let worker = thread::spawn(|| {
            COUNT.fetch_add(2, Ordering::SeqCst);
            FLAG.store(true, Ordering::SeqCst);
        });
        worker.join().unwrap();
        assert_eq!(COUNT.load(Ordering::SeqCst), 2);
        assert!(FLAG.load(Ordering::SeqCst));
    });
}

#[test]
fn fences_are_callable() {
    reel::run(|| {
        fence(Ordering::SeqCst);
        fence(Ordering::Acquire);
        fence(Ordering::Release);
        compiler_fence(Ordering::SeqCst);
    });
}

#[test]
fn concurrent_fetch_add_counter_is_exact() {
    reel::check_random(
        || {
            let counter = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let counter = counter.clone();
                    thread::spawn(move || {
                        for _ in 0..5 {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(counter.load(Ordering::SeqCst), 15);
        },
        500,
    );
}

#[test]
fn concurrent_compare_exchange_increments_are_exact() {
    reel::check_pct(
        || {
            let counter = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let counter = counter.clone();
                    thread::spawn(move || {
                        for _ in 0..3 {
                            let mut current = counter.load(Ordering::SeqCst);
                            while let Err(seen) = counter.compare_exchange(
                                current,
                                current + 1,
                                Ordering::SeqCst,
                                Ordering::SeqCst,
                            ) {
                                current = seen;
                            }
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            assert_eq!(counter.load(Ordering::SeqCst), 9);
        },
        200,
        3,
    );
}

#[test]
fn racy_load_then_store_counter_loses_an_update_under_exploration() {
    // The checker must find the lost update that a non-atomic read-modify-write allows.
    let report = reel::Checker::new().random().iterations(1000).run(|| {
        let counter = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let counter = counter.clone();
                thread::spawn(move || {
                    let seen = counter.load(Ordering::SeqCst);
                    counter.store(seen + 1, Ordering::SeqCst);
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::SeqCst), 2, "lost update");
    });
    assert!(report.found(), "the lost update was never found");
    let failure = report.failure.as_ref().unwrap();
    assert!(matches!(failure.kind, reel::FailureKind::Panic));
    assert!(failure.message.contains("lost update"), "{report}");
    assert_eq!(
        failure.thread.as_ref().unwrap().name.as_deref(),
        Some("main")
    );
}

#[test]
fn using_an_atomic_outside_a_runtime_panics() {
    let outcome = std::panic::catch_unwind(|| {
        let counter = AtomicUsize::new(0);
        counter.fetch_add(1, Ordering::SeqCst)
    });
    let payload = outcome.expect_err("atomic ops outside a reel runtime must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_default();
    assert!(message.contains("reel"), "unclear message: {message:?}");
}
