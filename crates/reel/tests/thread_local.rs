//! `reel::thread_local!`: one value per green thread (std's would be shared by every green
//! thread of a runtime, since they share one kernel thread).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};

use reel::sync::{Arc, Mutex};
use reel::thread;

reel::thread_local! {
    static COUNTER: Cell<u32> = const { Cell::new(0) };
    /// A documented, public one.
    pub static NAMES: RefCell<Vec<String>> = RefCell::new(Vec::new());
}

#[test]
fn each_green_thread_has_its_own_value() {
    reel::check_random(
        || {
            COUNTER.set(10);
            let handles: Vec<_> = (1..=3)
                .map(|n| {
                    thread::spawn(move || {
                        for _ in 0..n {
                            COUNTER.set(COUNTER.get() + 1);
                            thread::yield_now();
                        }
                        COUNTER.get()
                    })
                })
                .collect();
            let seen: Vec<u32> = handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect();
            assert_eq!(seen, vec![1, 2, 3]);
            assert_eq!(COUNTER.get(), 10);
        },
        200,
    );
}

#[test]
fn ref_cell_helpers_work_per_thread() {
    reel::run(|| {
        NAMES.with_borrow_mut(|names| names.push("main".to_owned()));
        let other = thread::spawn(|| {
            NAMES.set(vec!["worker".to_owned()]);
            NAMES.take()
        })
        .join()
        .unwrap();
        assert_eq!(other, vec!["worker".to_owned()]);
        assert_eq!(NAMES.with_borrow(Vec::len), 1);
        assert_eq!(NAMES.replace(Vec::new()), vec!["main".to_owned()]);
    });
}

/// Values are dropped on their thread when it exits, and may use reel in their destructors.
#[test]
fn values_are_dropped_when_their_thread_exits() {
    struct Report(Arc<Mutex<Vec<&'static str>>>, &'static str);
    impl Drop for Report {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(self.1);
        }
    }
    reel::thread_local! {
        static SLOT: RefCell<Option<Report>> = const { RefCell::new(None) };
    }
    let dropped = reel::run(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let worker = {
            let log = Arc::clone(&log);
            thread::spawn(move || SLOT.set(Some(Report(log, "worker"))))
        };
        worker.join().unwrap();
        log.lock().unwrap().clone()
    });
    assert_eq!(dropped, vec!["worker"]);
}

#[test]
fn try_with_fails_once_the_values_are_being_destroyed() {
    static REFUSED: AtomicBool = AtomicBool::new(false);
    struct Probe;
    impl Drop for Probe {
        fn drop(&mut self) {
            REFUSED.store(COUNTER.try_with(|_| ()).is_err(), Ordering::SeqCst);
        }
    }
    reel::thread_local! {
        static PROBE: RefCell<Option<Probe>> = const { RefCell::new(None) };
    }
    reel::run(|| {
        thread::spawn(|| {
            COUNTER.set(1);
            PROBE.set(Some(Probe));
        })
        .join()
        .unwrap();
    });
    assert!(
        REFUSED.load(Ordering::SeqCst),
        "try_with must refuse during destruction"
    );
}
