//! std's own `OnceLock` tests (`library/std/tests/sync/once_lock.rs` of rust-lang/rust, MIT
//! or Apache-2.0), ported by swapping `std::sync` and `std::thread` for reel's: the bodies
//! are unchanged. Those with a `static` cell run once in `reel::run` (a `static` OnceLock
//! keeps its value for the rest of the process, in reel as in std); the others are explored.
//!
//! std has 13 tests here: 12 are ported, and all 12 pass unchanged. Not ported:
//! `get_or_try_init`, which tests `OnceLock::get_or_try_init`, unstable in std (rustc 1.95,
//! `once_cell_try`).

mod std_port;

use reel::sync::OnceLock;
use reel::sync::atomic::AtomicUsize;
use reel::sync::atomic::Ordering::SeqCst;
use reel::sync::mpsc::channel;
use reel::thread;

fn spawn_and_wait<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    thread::spawn(f).join().unwrap()
}

std_test!(run sync_once_cell {
    static ONCE_CELL: OnceLock<i32> = OnceLock::new();

    assert!(ONCE_CELL.get().is_none());

    spawn_and_wait(|| {
        ONCE_CELL.get_or_init(|| 92);
        assert_eq!(ONCE_CELL.get(), Some(&92));
    });

    ONCE_CELL.get_or_init(|| panic!("Kaboom!"));
    assert_eq!(ONCE_CELL.get(), Some(&92));
});

std_test!(explore(20) sync_once_cell_get_mut {
    let mut c = OnceLock::new();
    assert!(c.get_mut().is_none());
    c.set(90).unwrap();
    *c.get_mut().unwrap() += 2;
    assert_eq!(c.get_mut(), Some(&mut 92));
});

std_test!(run sync_once_cell_drop {
    static DROP_CNT: AtomicUsize = AtomicUsize::new(0);
    struct Dropper;
    impl Drop for Dropper {
        fn drop(&mut self) {
            DROP_CNT.fetch_add(1, SeqCst);
        }
    }

    let x = OnceLock::new();
    spawn_and_wait(move || {
        x.get_or_init(|| Dropper);
        assert_eq!(DROP_CNT.load(SeqCst), 0);
        drop(x);
    });

    assert_eq!(DROP_CNT.load(SeqCst), 1);
});

std_test!(explore(20) sync_once_cell_drop_empty {
    let x = OnceLock::<String>::new();
    drop(x);
});

std_test!(explore(20) clone {
    let s = OnceLock::new();
    let c = s.clone();
    assert!(c.get().is_none());

    s.set("hello".to_string()).unwrap();
    let c = s.clone();
    assert_eq!(c.get().map(String::as_str), Some("hello"));
});

std_test!(explore(20) from_impl {
    assert_eq!(OnceLock::from("value").get(), Some(&"value"));
    assert_ne!(OnceLock::from("foo").get(), Some(&"bar"));
});

std_test!(explore(20) partialeq_impl {
    assert!(OnceLock::from("value") == OnceLock::from("value"));
    assert!(OnceLock::from("foo") != OnceLock::from("bar"));

    assert!(OnceLock::<String>::new() == OnceLock::new());
    assert!(OnceLock::<String>::new() != OnceLock::from("value".to_owned()));
});

std_test!(explore(20) into_inner {
    let cell: OnceLock<String> = OnceLock::new();
    assert_eq!(cell.into_inner(), None);
    let cell = OnceLock::new();
    cell.set("hello".to_string()).unwrap();
    assert_eq!(cell.into_inner(), Some("hello".to_string()));
});

std_test!(explore(20) is_sync_send {
    fn assert_traits<T: Send + Sync>() {}
    assert_traits::<OnceLock<String>>();
});

std_test!(run eval_once_macro {
    macro_rules! eval_once {
        (|| -> $ty:ty {
            $($body:tt)*
        }) => {{
            static ONCE_CELL: OnceLock<$ty> = OnceLock::new();
            fn init() -> $ty {
                $($body)*
            }
            ONCE_CELL.get_or_init(init)
        }};
    }

    let fib: &'static Vec<i32> = eval_once! {
        || -> Vec<i32> {
            let mut res = vec![1, 1];
            for i in 0..10 {
                let next = res[i] + res[i + 1];
                res.push(next);
            }
            res
        }
    };
    assert_eq!(fib[5], 8)
});

std_test!(explore(20) sync_once_cell_does_not_leak_partially_constructed_boxes {
    static ONCE_CELL: OnceLock<String> = OnceLock::new();

    let n_readers = 10;
    let n_writers = 3;
    const MSG: &str = "Hello, World";

    let (tx, rx) = channel();

    for _ in 0..n_readers {
        let tx = tx.clone();
        thread::spawn(move || {
            loop {
                if let Some(msg) = ONCE_CELL.get() {
                    tx.send(msg).unwrap();
                    break;
                }
                #[cfg(target_env = "sgx")]
                std::thread::yield_now();
            }
        });
    }
    for _ in 0..n_writers {
        thread::spawn(move || {
            let _ = ONCE_CELL.set(MSG.to_owned());
        });
    }

    for _ in 0..n_readers {
        let msg = rx.recv().unwrap();
        assert_eq!(msg, MSG);
    }
});

std_test!(explore(20) dropck {
    let cell = OnceLock::new();
    {
        let s = String::new();
        cell.set(&s).unwrap();
    }
});
