//! Depth-first search over schedules: exact counts, no schedule twice, bounds, and the bugs
//! it must find.

use std::collections::HashSet;
use std::sync::{Arc as StdArc, Mutex as StdMutex};

use reel::scheduler::{Decision, DfsScheduler, Scheduler, Strategy, ThreadId};
use reel::sync::atomic::{AtomicUsize, Ordering};
use reel::sync::{Arc, Mutex};
use reel::{Checker, FailureKind, thread};

/// Main spawns two threads that take two steps each (two atomic stores), then joins both.
fn two_threads_two_steps() {
    let a = Arc::new(AtomicUsize::new(0));
    let b = Arc::new(AtomicUsize::new(0));
    let first = {
        let a = Arc::clone(&a);
        thread::spawn(move || {
            a.store(1, Ordering::SeqCst);
            a.store(2, Ordering::SeqCst);
        })
    };
    let second = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            b.store(1, Ordering::SeqCst);
            b.store(2, Ordering::SeqCst);
        })
    };
    first.join().unwrap();
    second.join().unwrap();
}

/// A DFS that keeps the sequence of threads it picked in every execution.
struct Recording {
    search: DfsScheduler,
    picks: Vec<ThreadId>,
    schedules: StdArc<StdMutex<Vec<Vec<ThreadId>>>>,
}

impl Scheduler for Recording {
    fn begin_execution(&mut self, iteration: usize) {
        self.picks.clear();
        self.search.begin_execution(iteration);
    }

    fn end_execution(&mut self, steps: u64) {
        self.schedules
            .lock()
            .unwrap()
            .push(std::mem::take(&mut self.picks));
        self.search.end_execution(steps);
    }

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        let thread = self.search.next_thread(decision);
        self.picks.push(thread);
        thread
    }

    fn describe(&self) -> String {
        self.search.describe()
    }

    fn strategy(&self) -> Strategy {
        self.search.strategy()
    }

    fn exhausted(&self) -> bool {
        self.search.exhausted()
    }
}

/// Explores `program` to exhaustion with these bounds; returns the report and the schedules.
fn explore(
    program: fn(),
    preemptions: Option<usize>,
    delays: Option<usize>,
) -> (reel::Report, Vec<Vec<ThreadId>>) {
    let schedules = StdArc::new(StdMutex::new(Vec::new()));
    let recording = Recording {
        search: DfsScheduler::new(preemptions, delays),
        picks: Vec::new(),
        schedules: StdArc::clone(&schedules),
    };
    let report = Checker::new()
        .iterations(100_000)
        .record(false)
        .run_with_scheduler(Box::new(recording), program);
    let schedules = std::mem::take(&mut *schedules.lock().unwrap());
    (report, schedules)
}

fn assert_all_distinct(schedules: &[Vec<ThreadId>]) {
    let distinct: HashSet<&Vec<ThreadId>> = schedules.iter().collect();
    assert_eq!(distinct.len(), schedules.len(), "a schedule was run twice");
}

// How many schedules `two_threads_two_steps` has, by hand.
//
// In reel a thread runs from one step to the next when it is picked, so a schedule is the
// sequence of picks. T1 (spawned at main's first step) is picked 3 times: to its first
// store, to its second, to its exit (which finishes it). So is T2 (spawned at main's second
// step). Call T1's picks A1 A2 A3 and T2's B1 B2 B3. Main starts by itself and stops at
// `spawn T1`; its picks are M1 (to `spawn T2`, which creates T2, so M1 < B1), M2 (to
// `join T1`), M3 (checks T1: finished, on to `join T2`; else it blocks, and M3' after A3
// finds it finished), M4 (checks T2: finished, main exits and the execution ends; else it
// blocks, and M4' after B3 ends it). Main's last pick is the last of all.
//
// Counting the orders (linear extensions) case by case, with C(n, k) binomials; inserting
// the A chain into a sequence so that A3 comes before the element at position p gives
// sum_{k<p} C(k + 2, 2) = C(p + 2, 3) ways:
//  (i)   A3 < M3, B3 < M4: M1 first of M/B, then M2 M3 among B1 B2 B3 with M3 at q = 2..5
//        of those 5 (q - 1 ways each), p = q + 1:
//        1*C(5,3) + 2*C(6,3) + 3*C(7,3) + 4*C(8,3) = 10 + 40 + 105 + 224 = 379.
//  (ii)  A3 < M3, M4 < B3 (main blocks at M4, M4' last): B3 is last of the rest; M2 M3 M4
//        among B1 B2, M3 at r = 2..4 of 5 ((r - 1)(5 - r) ways), p = r + 1:
//        3*C(5,3) + 4*C(6,3) + 3*C(7,3) = 30 + 80 + 105 = 215.
//  (iii) M3 < A3 < M3' (main blocks at M3): with f(x) = C(x + 3, 3) and M3, M3' at j < k
//        among the six picks after M1, A3 has f(k) - f(j) places.
//        (a) B3 < M4 (M4 last), M2 at any i < j:
//            sum (j - 1)(f(k) - f(j)) over 2 <= j < k <= 6 = 155 + 230 + 210 + 112 = 707.
//        (b) M4 < B3 (M4' last, B3 last of the rest), M4 at l > k:
//            sum (j - 1)(6 - k)(f(k) - f(j)) over 2 <= j < k <= 5 = 126 + 132 + 63 = 321.
// Total: 379 + 215 + 707 + 321 = 1622.
const ALL_SCHEDULES: usize = 1622;

#[test]
fn dfs_explores_every_schedule_of_two_threads_once() {
    let (report, schedules) = explore(two_threads_two_steps, None, None);
    assert!(!report.found(), "{report}");
    assert!(report.exhausted, "{report}");
    assert_eq!(report.iterations, ALL_SCHEDULES);
    assert_eq!(schedules.len(), ALL_SCHEDULES);
    assert_all_distinct(&schedules);
}

// Without preemptions, main runs until it blocks joining T1 (neither child has run). Then
// T1 or T2 runs, each to its end: T1 first, then main (T1 done, blocks on T2) and T2, or T2
// (finished, main still blocked) then main, or T2 first, then T1, then main: 3 schedules.
#[test]
fn dfs_without_preemptions_explores_three_schedules() {
    let (report, schedules) = explore(two_threads_two_steps, Some(0), None);
    assert!(report.exhausted, "{report}");
    assert_eq!(report.iterations, 3);
    assert_all_distinct(&schedules);
    assert_eq!(
        report.to_string(),
        "reel explored all 3 schedules with at most 0 preemptions (strategy \
         dfs(preemptions 0)) and found no failure\n"
    );
}

#[test]
fn bounds_explore_nested_sets_of_schedules() {
    let mut previous = 0;
    for bound in 0..=3 {
        let (report, schedules) = explore(two_threads_two_steps, Some(bound), None);
        assert!(report.exhausted, "{report}");
        assert_all_distinct(&schedules);
        assert!(
            schedules.len() > previous,
            "bound {bound}: {}",
            schedules.len()
        );
        previous = schedules.len();
    }
    assert!(previous < ALL_SCHEDULES);
    // With no delay, the one schedule is the round-robin one; one delay adds a few.
    let (report, _) = explore(two_threads_two_steps, None, Some(0));
    assert_eq!(report.iterations, 1);
    let (one_delay, schedules) = explore(two_threads_two_steps, None, Some(1));
    assert!(one_delay.iterations > 1 && one_delay.exhausted);
    assert_all_distinct(&schedules);
    let (both, _) = explore(two_threads_two_steps, Some(1), Some(1));
    assert!(both.iterations <= one_delay.iterations);
    assert_eq!(
        both.to_string(),
        format!(
            "reel explored all {} schedules with at most 1 preemption and 1 delay (strategy \
             dfs(preemptions 1, delays 1)) and found no failure\n",
            both.iterations
        )
    );
}

/// Two threads increment a counter with a load, then a store.
fn lost_update() {
    let counter = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                let seen = counter.load(Ordering::SeqCst);
                counter.store(seen + 1, Ordering::SeqCst);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), 2, "lost update");
}

/// Two transfers lock two accounts in opposite orders.
fn lock_order() {
    let a = Arc::new(Mutex::new(10));
    let b = Arc::new(Mutex::new(10));
    let one = {
        let (a, b) = (Arc::clone(&a), Arc::clone(&b));
        thread::spawn(move || {
            let mut from = a.lock().unwrap();
            let mut to = b.lock().unwrap();
            *from -= 1;
            *to += 1;
        })
    };
    let other = {
        let (a, b) = (Arc::clone(&a), Arc::clone(&b));
        thread::spawn(move || {
            let mut from = b.lock().unwrap();
            let mut to = a.lock().unwrap();
            *from -= 1;
            *to += 1;
        })
    };
    one.join().unwrap();
    other.join().unwrap();
}

#[test]
fn dfs_finds_the_bundled_bugs_with_one_preemption() {
    let lost = Checker::new().dfs(Some(1)).run(lost_update);
    let failure = lost.failure.as_ref().expect("DFS finds the lost update");
    assert_eq!(failure.kind, FailureKind::Panic);
    assert!(failure.message.contains("lost update"), "{failure}");
    assert_eq!(
        lost.strategy,
        Strategy::Dfs {
            preemptions: Some(1),
            delays: None
        }
    );
    let deadlock = Checker::new().dfs(Some(1)).run(lock_order);
    assert_eq!(
        deadlock.failure.expect("DFS finds the deadlock").kind,
        FailureKind::Deadlock
    );
}

#[test]
fn without_preemptions_dfs_cannot_find_the_lost_update() {
    // Each increment runs whole unless a thread is preempted between its load and store.
    let report = Checker::new().dfs(Some(0)).run(lost_update);
    assert!(!report.found(), "{report}");
    assert!(report.exhausted);
}

#[test]
fn check_dfs_panics_with_the_report() {
    let panic = std::panic::catch_unwind(|| reel::check_dfs(lost_update, None))
        .expect_err("check_dfs panics on the lost update");
    let message = panic
        .downcast_ref::<String>()
        .expect("the panic carries the report");
    assert!(message.contains("strategy dfs"), "{message}");
    assert!(message.contains("lost update"), "{message}");
    reel::check_dfs(two_threads_two_steps, Some(2));
}
