//! std's own `thread` tests (`library/std/src/thread/tests.rs` and
//! `library/std/tests/thread.rs` of rust-lang/rust, MIT or Apache-2.0), ported by swapping
//! `std::sync`, `std::thread` and `thread_local!` for reel's (`std::time` stays std's): the
//! bodies are unchanged. Each is explored, with sleeps and park timeouts in virtual time,
//! except two that run once in `reel::run`: `test_invalid_named_thread`, which panics in
//! its main thread as std's test expects, and `test_minimal_thread_stack`, whose `static`
//! counter keeps its count for the rest of the process, in reel as in std.
//!
//! std has 37 tests in these files: 33 are ported, and all 33 pass unchanged. Not ported:
//! - `test_named_thread_truncation`: it reads the kernel thread's name back with
//!   `pthread_getname_np`; a green thread has no kernel thread of its own to name;
//! - `test_thread_os_id_not_equal` (`thread::current_os_id`) and `sleep_until`
//!   (`thread::sleep_until`): API that is unstable in std (rustc 1.95);
//! - `available_parallelism`: reel has no `thread::available_parallelism` yet. The host's
//!   CPU count is an input from outside the program, which reel would have to record and
//!   replay like the clock and randomness; until it does, code that sizes a pool by it
//!   keeps calling std's;
//! - `scope_join_race` (std runs it only under Miri, for its data race detector) and
//!   `test_minimal_thread_stack` (Windows only) are ported anyway and pass: they count
//!   among the 33.
//!
//! std's `thread/local/tests.rs` (thread-local destructors, re-entrant initialisation) is
//! not ported here; `tests/thread_local.rs` covers reel's `LocalKey`.

// std's test code, kept as std wrote it.
#![allow(
    clippy::bool_assert_comparison,
    clippy::cmp_owned,
    clippy::match_single_binding,
    clippy::needless_return,
    clippy::ok_expect,
    clippy::redundant_closure
)]

mod std_port;

use reel::thread::sleep;

/// std's tests live in `std::thread::tests`, where `super::sleep` is `std::thread::sleep`.
mod tests {
    use std::any::Any;
    use std::cell::{Cell, RefCell};
    use std::panic::panic_any;
    use std::result;
    use std::time::{Duration, Instant};

    use reel::sync::atomic::{AtomicBool, Ordering};
    use reel::sync::mpsc::{Sender, channel};
    use reel::sync::{Arc, Barrier, Mutex};
    use reel::thread::{self, Builder, Scope, ThreadId};
    use reel::thread_local;

    use crate::std_test;

    // !!! These tests are dangerous. If something is buggy, they will hang, !!!
    // !!! instead of exiting cleanly. This might wedge the buildbots.       !!!

    std_test!(explore(20) test_unnamed_thread {
        thread::spawn(move || {
            assert!(thread::current().name().is_none());
        })
        .join()
        .ok()
        .expect("thread panicked");
    });

    std_test!(explore(20) test_named_thread {
        Builder::new()
            .name("ada lovelace".to_string())
            .spawn(move || {
                assert!(thread::current().name().unwrap() == "ada lovelace".to_string());
            })
            .unwrap()
            .join()
            .unwrap();
    });

    std_test!(#[should_panic] run test_invalid_named_thread {
        let _ = Builder::new().name("ada l\0velace".to_string()).spawn(|| {});
    });

    std_test!(explore(20) test_run_basic {
        let (tx, rx) = channel();
        thread::spawn(move || {
            tx.send(()).unwrap();
        });
        rx.recv().unwrap();
    });

    std_test!(explore(50) test_is_finished {
        let b = Arc::new(Barrier::new(2));
        let t = thread::spawn({
            let b = b.clone();
            move || {
                b.wait();
                1234
            }
        });

        // Thread is definitely running here, since it's still waiting for the barrier.
        assert_eq!(t.is_finished(), false);

        // Unblock the barrier.
        b.wait();

        // Now check that t.is_finished() becomes true within a reasonable time.
        let start = Instant::now();
        while !t.is_finished() {
            assert!(start.elapsed() < Duration::from_secs(2));
            thread::sleep(Duration::from_millis(15));
        }

        // Joining the thread should not block for a significant time now.
        let join_time = Instant::now();
        assert_eq!(t.join().unwrap(), 1234);
        assert!(join_time.elapsed() < Duration::from_secs(2));
    });

    std_test!(explore(20) test_join_panic {
        match thread::spawn(move || panic!()).join() {
            result::Result::Err(_) => (),
            result::Result::Ok(()) => panic!(),
        }
    });

    std_test!(explore(20) test_spawn_sched {
        let (tx, rx) = channel();

        fn f(i: i32, tx: Sender<()>) {
            let tx = tx.clone();
            thread::spawn(move || {
                if i == 0 {
                    tx.send(()).unwrap();
                } else {
                    f(i - 1, tx);
                }
            });
        }
        f(10, tx);
        rx.recv().unwrap();
    });

    std_test!(explore(20) test_spawn_sched_childs_on_default_sched {
        let (tx, rx) = channel();

        thread::spawn(move || {
            thread::spawn(move || {
                tx.send(()).unwrap();
            });
        });

        rx.recv().unwrap();
    });

    fn avoid_copying_the_body<F>(spawnfn: F)
    where
        F: FnOnce(Box<dyn Fn() + Send>),
    {
        let (tx, rx) = channel();

        let x: Box<i32> = Box::new(1);
        let x_in_parent = (&raw const *x).addr();

        spawnfn(Box::new(move || {
            let x_in_child = (&raw const *x).addr();
            tx.send(x_in_child).unwrap();
        }));

        let x_in_child = rx.recv().unwrap();
        assert_eq!(x_in_parent, x_in_child);
    }

    std_test!(explore(20) test_avoid_copying_the_body_spawn {
        avoid_copying_the_body(|v| {
            thread::spawn(move || v());
        });
    });

    std_test!(explore(20) test_avoid_copying_the_body_thread_spawn {
        avoid_copying_the_body(|f| {
            thread::spawn(move || {
                f();
            });
        })
    });

    std_test!(explore(20) test_avoid_copying_the_body_join {
        avoid_copying_the_body(|f| {
            let _ = thread::spawn(move || f()).join();
        })
    });

    std_test!(explore(20) test_child_doesnt_ref_parent {
        // If the child refcounts the parent thread, this will stack overflow when
        // climbing the thread tree to dereference each ancestor. (See #1789)
        // (well, it would if the constant were 8000+ - I lowered it to be more
        // valgrind-friendly. try this at home, instead..!)
        const GENERATIONS: u32 = 16;
        fn child_no(x: u32) -> Box<dyn Fn() + Send> {
            return Box::new(move || {
                if x < GENERATIONS {
                    thread::spawn(move || child_no(x + 1)());
                }
            });
        }
        thread::spawn(|| child_no(0)());
    });

    std_test!(explore(20) test_simple_newsched_spawn {
        thread::spawn(move || {});
    });

    std_test!(explore(20) test_try_panic_message_string_literal {
        match thread::spawn(move || {
            panic!("static string");
        })
        .join()
        {
            Err(e) => {
                type T = &'static str;
                assert!(e.is::<T>());
                assert_eq!(*e.downcast::<T>().unwrap(), "static string");
            }
            Ok(()) => panic!(),
        }
    });

    std_test!(explore(20) test_try_panic_any_message_owned_str {
        match thread::spawn(move || {
            panic_any("owned string".to_string());
        })
        .join()
        {
            Err(e) => {
                type T = String;
                assert!(e.is::<T>());
                assert_eq!(*e.downcast::<T>().unwrap(), "owned string".to_string());
            }
            Ok(()) => panic!(),
        }
    });

    std_test!(explore(20) test_try_panic_any_message_any {
        match thread::spawn(move || {
            panic_any(Box::new(413u16) as Box<dyn Any + Send>);
        })
        .join()
        {
            Err(e) => {
                type T = Box<dyn Any + Send>;
                assert!(e.is::<T>());
                let any = e.downcast::<T>().unwrap();
                assert!(any.is::<u16>());
                assert_eq!(*any.downcast::<u16>().unwrap(), 413);
            }
            Ok(()) => panic!(),
        }
    });

    std_test!(explore(20) test_try_panic_any_message_unit_struct {
        struct Juju;

        match thread::spawn(move || panic_any(Juju)).join() {
            Err(ref e) if e.is::<Juju>() => {}
            Err(_) | Ok(()) => panic!(),
        }
    });

    std_test!(explore(20) test_park_unpark_before {
        for _ in 0..10 {
            thread::current().unpark();
            thread::park();
        }
    });

    std_test!(explore(50) test_park_unpark_called_other_thread {
        for _ in 0..10 {
            let th = thread::current();

            // Here we rely on `thread::spawn` (specifically the part that runs after spawning
            // the thread) to not consume the parking token.
            let _guard = thread::spawn(move || {
                super::sleep(Duration::from_millis(50));
                th.unpark();
            });

            thread::park();
        }
    });

    std_test!(explore(20) test_park_timeout_unpark_before {
        for _ in 0..10 {
            thread::current().unpark();
            thread::park_timeout(Duration::from_millis(u32::MAX as u64));
        }
    });

    std_test!(explore(20) test_park_timeout_unpark_not_called {
        for _ in 0..10 {
            thread::park_timeout(Duration::from_millis(10));
        }
    });

    std_test!(explore(50) test_park_timeout_unpark_called_other_thread {
        for _ in 0..10 {
            let th = thread::current();

            // Here we rely on `thread::spawn` (specifically the part that runs after spawning
            // the thread) to not consume the parking token.
            let _guard = thread::spawn(move || {
                super::sleep(Duration::from_millis(50));
                th.unpark();
            });

            thread::park_timeout(Duration::from_millis(u32::MAX as u64));
        }
    });

    std_test!(explore(20) sleep_ms_smoke {
        thread::sleep(Duration::from_millis(2));
    });

    std_test!(explore(20) test_size_of_option_thread_id {
        assert_eq!(size_of::<Option<ThreadId>>(), size_of::<ThreadId>());
    });

    std_test!(explore(20) test_thread_id_equal {
        assert!(thread::current().id() == thread::current().id());
    });

    std_test!(explore(20) test_thread_id_not_equal {
        let spawned_id = thread::spawn(|| thread::current().id()).join().unwrap();
        assert!(thread::current().id() != spawned_id);
    });

    std_test!(explore(50) test_scoped_threads_drop_result_before_join {
        let actually_finished = &AtomicBool::new(false);
        struct X<'scope, 'env>(&'scope Scope<'scope, 'env>, &'env AtomicBool);
        impl Drop for X<'_, '_> {
            fn drop(&mut self) {
                thread::sleep(Duration::from_millis(20));
                let actually_finished = self.1;
                self.0.spawn(move || {
                    thread::sleep(Duration::from_millis(20));
                    actually_finished.store(true, Ordering::Relaxed);
                });
            }
        }
        thread::scope(|s| {
            s.spawn(move || {
                thread::sleep(Duration::from_millis(20));
                X(s, actually_finished)
            });
        });
        assert!(actually_finished.load(Ordering::Relaxed));
    });

    std_test!(explore(20) test_scoped_threads_nll {
        // this is mostly a *compilation test* for this exact function:
        fn foo(x: &u8) {
            thread::scope(|s| {
                s.spawn(|| match x {
                    _ => (),
                });
            });
        }
        // let's also run it for good measure
        let x = 42_u8;
        foo(&x);
    });

    // Regression test for https://github.com/rust-lang/rust/issues/98498.
    std_test!(explore(5) scope_join_race {
        for _ in 0..100 {
            let a_bool = AtomicBool::new(false);

            thread::scope(|s| {
                for _ in 0..5 {
                    s.spawn(|| a_bool.load(Ordering::Relaxed));
                }

                for _ in 0..5 {
                    s.spawn(|| a_bool.load(Ordering::Relaxed));
                }
            });
        }
    });

    // Test that the smallest value for stack_size works on Windows.
    std_test!(run test_minimal_thread_stack {
        use reel::sync::atomic::AtomicU8;
        static COUNT: AtomicU8 = AtomicU8::new(0);

        let builder = thread::Builder::new().stack_size(1);
        let before = builder.spawn(|| COUNT.fetch_add(1, Ordering::Relaxed)).unwrap().join().unwrap();
        assert_eq!(before, 0);
        assert_eq!(COUNT.load(Ordering::Relaxed), 1);
    });

    // From library/std/tests/thread.rs.

    std_test!(explore(20) sleep_very_long {
        let finished = Arc::new(Mutex::new(false));
        let t_finished = finished.clone();
        thread::spawn(move || {
            thread::sleep(Duration::new(u64::MAX, 0));
            *t_finished.lock().unwrap() = true;
        });
        thread::sleep(Duration::from_millis(100));
        assert_eq!(*finished.lock().unwrap(), false);
    });

    std_test!(explore(20) thread_local_containing_const_statements {
        // This exercises the `const $init:block` cases of the thread_local macro.
        // Despite overlapping with expression syntax, the `const { ... }` is not
        // parsed as `$init:expr`.
        thread_local! {
            static CELL: Cell<u32> = const {
                let value = 1;
                Cell::new(value)
            };

            static REFCELL: RefCell<u32> = const {
                let value = 1;
                RefCell::new(value)
            };
        }

        assert_eq!(CELL.get(), 1);
        assert_eq!(REFCELL.take(), 1);
    });

    // std's inner `#![allow(dead_code)]` is an outer attribute here: the body is a closure's.
    std_test!(#[allow(dead_code)] explore(20) thread_local_hygeiene {
        // Previously `thread_local_inner!` had use imports for `LocalKey`, `Storage`, `EagerStorage`
        // and `LazyStorage`. The use imports will shadow a user-provided type or type alias if the
        // user-provided type or type alias has the same name. Make sure that this does not happen. See
        // <https://github.com/rust-lang/rust/issues/131863>.
        //
        // NOTE: if the internal implementation details change (i.e. get renamed), this test should be
        // updated.

        type LocalKey = ();
        type Storage = ();
        type LazyStorage = ();
        type EagerStorage = ();
        #[allow(non_camel_case_types)]
        type usize = ();
        thread_local! {
            static A: LocalKey = const { () };
            static B: Storage = const { () };
            static C: LazyStorage = const { () };
            static D: EagerStorage = const { () };
        }
    });
}
