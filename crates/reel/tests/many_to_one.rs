//! Many-to-one: every green thread runs on the one kernel thread that started the runtime, under
//! `reel::run` and under schedule exploration.

use std::sync::Mutex as StdMutex;

use reel::sync::{Arc, Barrier};
use reel::thread;

/// The kernel thread id of the caller.
fn kernel_thread_id() -> libc::pid_t {
    // SAFETY: gettid has no preconditions; it only reads the calling thread's id.
    unsafe { libc::gettid() }
}

/// Spawns eight green threads that record their kernel thread id around yields and a barrier,
/// and returns every id recorded, main's included.
fn record_kernel_thread_ids() -> Vec<libc::pid_t> {
    let seen = Arc::new(StdMutex::new(vec![kernel_thread_id()]));
    let barrier = Arc::new(Barrier::new(8));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let seen = seen.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                seen.lock().unwrap().push(kernel_thread_id());
                thread::yield_now();
                seen.lock().unwrap().push(kernel_thread_id());
                barrier.wait();
                seen.lock().unwrap().push(kernel_thread_id());
            })
        })
        .collect();
    thread::yield_now();
    for worker in workers {
        worker.join().unwrap();
    }
    seen.lock().unwrap().push(kernel_thread_id());
    seen.lock().unwrap().clone()
}

#[test]
fn every_green_thread_shares_the_kernel_thread_of_run() {
    let caller = kernel_thread_id();
    let ids = reel::run(record_kernel_thread_ids);
    assert_eq!(ids.len(), 2 + 8 * 3);
    assert!(
        ids.iter().all(|id| *id == caller),
        "caller {caller}, green threads saw {ids:?}"
    );
    assert_eq!(kernel_thread_id(), caller);
}

#[test]
fn every_green_thread_shares_the_kernel_thread_under_exploration() {
    let caller = kernel_thread_id();
    for jobs in [1, 2] {
        let mismatches = Arc::new(StdMutex::new(Vec::new()));
        let report = {
            let mismatches = mismatches.clone();
            reel::Checker::new().iterations(50).jobs(jobs).run(move || {
                // One kernel thread runs the whole execution: the caller's, when the
                // exploration runs on it alone.
                let main = kernel_thread_id();
                let ids = record_kernel_thread_ids();
                let mut mismatches = mismatches.lock().unwrap();
                mismatches.extend(ids.into_iter().filter(|id| *id != main));
                if jobs == 1 && main != caller {
                    mismatches.push(main);
                }
            })
        };
        assert!(!report.found(), "{report}");
        assert_eq!(*mismatches.lock().unwrap(), Vec::<libc::pid_t>::new());
    }
}

#[test]
fn scoped_threads_share_the_kernel_thread() {
    let caller = kernel_thread_id();
    let ids = reel::run(|| {
        thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        thread::yield_now();
                        kernel_thread_id()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(ids, vec![caller; 4]);
}
