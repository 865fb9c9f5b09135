//! Parallel exploration: the iterations of a share handed out to several kernel threads,
//! each with its own runtime and scheduler, and the lowest failing one reported, as a
//! serial run would.
//!
//! The protocol:
//! 1. Iterations are handed out in increasing order, one at a time, from one counter.
//! 2. A thread that finds a failure at iteration `i` lowers the known bound to `i`; no
//!    thread starts an iteration above the bound, and every iteration below it that was
//!    handed out runs to its end.
//! 3. So when every thread has stopped, every iteration below the lowest failure found has
//!    run and passed (rules 1 and 2): that failure is the one a serial run finds first.

use std::num::NonZeroUsize;
use std::panic;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::explore::{Explorer, Found, Plan};
use super::shard::Share;
use crate::runtime::execution;
use crate::runtime::seams::Decider;
use crate::scheduler::Strategy;

/// The most kernel threads one exploration uses (each holds a recorder that a fatal signal
/// must be able to save, and there are 64 places for them).
pub const MAX_JOBS: usize = 64;

/// How an exploration runs its share: the strategy each kernel thread builds its scheduler
/// from, and whether a new scheduler must first run execution 1 to learn from it.
pub(super) struct Parallel<'a> {
    pub(super) strategy: &'a Strategy,
    pub(super) calibrate: bool,
    pub(super) jobs: usize,
}

/// Runs `share` on `parallel.jobs` kernel threads: this one, with `explorer`, and others,
/// each with an explorer of its own. Returns the lowest failing iteration of the share (the
/// serial run's first failure), if any.
pub(super) fn explore_share(
    explorer: &mut Explorer<'_>,
    plan: &Plan,
    share: Share,
    parallel: &Parallel<'_>,
    f: &(dyn Fn() + Sync),
) -> Option<Found> {
    let mut body = || {
        let _ = execution::run_program(f);
    };
    let mut here = |iteration| explorer.run(&mut body, iteration);
    let elsewhere = || -> Box<dyn FnMut(usize) -> Option<Found> + '_> {
        let decider = Decider::for_strategy(parallel.strategy, plan.seed)
            .expect("a strategy shared out among threads is a built-in one");
        let mut explorer = Explorer::new(plan, decider);
        let mut body = move || {
            let _ = execution::run_program(f);
        };
        if parallel.calibrate {
            explorer.calibrate(&mut body);
        }
        Box::new(move |iteration| explorer.run(&mut body, iteration))
    };
    lowest_failure(share, parallel.jobs, &mut here, &elsewhere).map(|(_, found)| found)
}

/// The protocol at the top of this module: runs the iterations of `share` on `jobs` kernel
/// threads, this one with `here`, each other with a runner `elsewhere` makes on it; a runner
/// returns `Some` for a failing iteration. Returns the lowest failing iteration and what its
/// runner returned.
fn lowest_failure<'env, T: Send>(
    share: Share,
    jobs: usize,
    here: &mut dyn FnMut(usize) -> Option<T>,
    elsewhere: &(dyn Fn() -> Box<dyn FnMut(usize) -> Option<T> + 'env> + Sync),
) -> Option<(usize, T)> {
    let next = AtomicUsize::new(0);
    let bound = AtomicUsize::new(usize::MAX);
    let lowest: Mutex<Option<(usize, T)>> = Mutex::new(None);
    let work = |run: &mut dyn FnMut(usize) -> Option<T>| {
        loop {
            // Rule 1.
            let position = next.fetch_add(1, Ordering::Relaxed);
            let Some(iteration) = share.get(position) else {
                break;
            };
            // Rule 2.
            if iteration > bound.load(Ordering::Acquire) {
                break;
            }
            if let Some(found) = run(iteration) {
                bound.fetch_min(iteration, Ordering::AcqRel);
                let mut lowest = lowest.lock().unwrap_or_else(|poison| poison.into_inner());
                if lowest.as_ref().is_none_or(|(known, _)| iteration < *known) {
                    *lowest = Some((iteration, found));
                }
                // Every iteration this thread could take from now on is above this one.
                break;
            }
        }
    };
    let name = std::thread::current().name().map(str::to_owned);
    std::thread::scope(|scope| {
        let mut others = Vec::with_capacity(jobs.saturating_sub(1));
        for _ in 1..jobs {
            // The same name as the thread that explores: libtest's test name, which the
            // program under test may print.
            let mut builder = std::thread::Builder::new();
            if let Some(name) = &name {
                builder = builder.name(name.clone());
            }
            let spawned = builder.spawn_scoped(scope, || {
                let mut run = elsewhere();
                work(&mut *run);
            });
            match spawned {
                Ok(handle) => others.push(handle),
                // Fewer threads explore the same share: the report is the same.
                Err(error) => {
                    eprintln!("reel: note: exploring on fewer kernel threads: {error}");
                    break;
                }
            }
        }
        work(here);
        for handle in others {
            if let Err(payload) = handle.join() {
                panic::resume_unwind(payload);
            }
        }
    });
    lowest
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner())
}

/// The number of kernel threads an exploration uses by default: REEL_JOBS, else the
/// machine's cores (at most [`MAX_JOBS`]). A malformed REEL_JOBS is a usage error.
pub(super) fn default_jobs() -> usize {
    match std::env::var("REEL_JOBS") {
        Ok(text) => parse_jobs(&text).unwrap_or_else(|error| panic!("reel: REEL_JOBS={error}")),
        Err(_) => std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(MAX_JOBS),
    }
}

/// Reads a number of kernel threads, from 1 to [`MAX_JOBS`].
fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(jobs) if (1..=MAX_JOBS).contains(&jobs) => Ok(jobs),
        _ => Err(format!(
            "{text:?} is not a number of kernel threads: write a whole number from 1 to \
             {MAX_JOBS} (REEL_JOBS=1 explores on one thread)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{Share, lowest_failure, parse_jobs};
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    /// Iteration 2 fails, but only after iteration 5 (on the other thread) has failed and
    /// been told: the lower failure, found later, is the one reported, and nothing above
    /// 5 runs.
    #[test]
    fn a_lower_failure_found_later_is_the_one_reported() {
        let five_failed = (Mutex::new(false), Condvar::new());
        let ran = Mutex::new(Vec::new());
        let run = |iteration: usize| -> Option<usize> {
            ran.lock().unwrap().push(iteration);
            match iteration {
                2 => {
                    let (failed, told) = &five_failed;
                    let mut failed = failed.lock().unwrap();
                    // Bounded: a broken protocol fails the test instead of hanging it.
                    for _ in 0..600 {
                        if *failed {
                            break;
                        }
                        failed = told
                            .wait_timeout(failed, Duration::from_millis(100))
                            .unwrap()
                            .0;
                    }
                    assert!(*failed, "iteration 5 never ran while 2 was running");
                    Some(2)
                }
                5 => {
                    let (failed, told) = &five_failed;
                    *failed.lock().unwrap() = true;
                    told.notify_all();
                    Some(5)
                }
                _ => None,
            }
        };
        let mut here = run;
        let elsewhere = || -> Box<dyn FnMut(usize) -> Option<usize> + '_> { Box::new(run) };
        let share = Share::all(10).skip(1);
        let lowest = lowest_failure(share, 2, &mut here, &elsewhere);
        assert_eq!(lowest, Some((2, 2)));
        let mut ran = ran.into_inner().unwrap();
        ran.sort_unstable();
        assert_eq!(ran, vec![2, 3, 4, 5]);
    }

    #[test]
    fn without_failures_every_iteration_runs_once() {
        for jobs in 1..=4 {
            let ran = Mutex::new(Vec::new());
            let run = |iteration: usize| -> Option<()> {
                ran.lock().unwrap().push(iteration);
                None
            };
            let mut here = run;
            let elsewhere = || -> Box<dyn FnMut(usize) -> Option<()> + '_> { Box::new(run) };
            assert_eq!(
                lowest_failure(Share::all(50), jobs, &mut here, &elsewhere),
                None
            );
            let mut ran = ran.into_inner().unwrap();
            ran.sort_unstable();
            assert_eq!(ran, (1..=50).collect::<Vec<_>>());
        }
    }

    #[test]
    fn jobs_are_whole_numbers_from_one() {
        assert_eq!(parse_jobs("1"), Ok(1));
        assert_eq!(parse_jobs(" 8 "), Ok(8));
        for text in ["0", "", "x", "-1", "2.5", "65"] {
            assert!(parse_jobs(text).is_err(), "{text}");
        }
    }
}
