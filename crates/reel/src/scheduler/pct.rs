//! Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS
//! 2010): random thread priorities and d-1 priority change points.
//!
//! Every thread gets a random priority when first seen; the highest-priority runnable thread
//! always runs. At each of `depth - 1` change points, chosen uniformly in `[1, k]`, the
//! running thread's priority drops below every initial one (to `depth - i` at the i-th
//! point). A thread that yields drops below every other thread, demoted ones included, so
//! that a spin loop that yields lets the thread it waits for run (PCT assumes progress).
//!
//! Priority bands, high to low: initial (`INITIAL_BAND` and up), change points
//! (`CHANGE_BAND + depth - i`), yields (counting down from `CHANGE_BAND`). For a bug of
//! depth d, each execution finds it with probability at least 1 / (n * k^(d-1)) for n
//! threads and k steps.
//!
//! `k` is not known ahead of time: it is the step count of the exploration's execution 1
//! (whose change points are drawn in the first [`INITIAL_STEP_ESTIMATE`] steps). Learning
//! from execution 1 only, rather than from the longest execution so far, keeps every
//! execution a function of the seed and its number
//! ([`Scheduler::independent_executions`]); an execution much longer than the first one
//! has its change points in its first k steps, where the threads' interleaving is decided
//! in most programs.
//!
//! With a random depth ([`PctScheduler::random_depth`]), each execution draws its depth
//! from 2 to 10 first: a bug's depth is rarely known, and a small depth is the likely one.

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::Strategy;
use super::{Decision, Scheduler, below, mix_seed};
use crate::runtime::vocabulary::ThreadId;

/// Lowest initial priority.
const INITIAL_BAND: u64 = 1 << 60;
/// Base of the change-point priorities; yields count down from here.
const CHANGE_BAND: u64 = 1 << 40;

/// The estimate of the step count in execution 1, before any execution has been seen.
const INITIAL_STEP_ESTIMATE: u64 = 64;

/// The depths a random-depth PCT draws from.
const RANDOM_DEPTHS: std::ops::RangeInclusive<usize> = 2..=10;

/// PCT with a given bug depth, or a depth drawn per execution.
#[derive(Debug)]
pub struct PctScheduler {
    seed: u64,
    depth: usize,
    /// Whether each execution draws its depth.
    random_depth: bool,
    /// The execution under way.
    iteration: usize,
    rng: Pcg64Mcg,
    step_estimate: u64,
    /// Priority per thread index; 0 means not yet assigned.
    priorities: Vec<u64>,
    /// Steps at which the running thread's priority drops, sorted ascending.
    change_points: Vec<u64>,
    /// How many change points have fired in this execution.
    changes_done: usize,
    /// Priority handed to the latest yielding thread (counts down from CHANGE_BAND).
    yield_floor: u64,
}

impl PctScheduler {
    /// A PCT scheduler for bugs of depth `depth` (at least 1), determined by `seed`.
    pub fn new(depth: usize, seed: u64) -> PctScheduler {
        PctScheduler {
            seed,
            depth: depth.max(1),
            random_depth: false,
            iteration: 0,
            rng: Pcg64Mcg::seed_from_u64(seed),
            step_estimate: INITIAL_STEP_ESTIMATE,
            priorities: Vec::new(),
            change_points: Vec::new(),
            changes_done: 0,
            yield_floor: 0,
        }
    }

    /// A PCT scheduler that draws each execution's depth from 2 to 10, determined by `seed`.
    pub fn random_depth(seed: u64) -> PctScheduler {
        PctScheduler {
            random_depth: true,
            ..PctScheduler::new(*RANDOM_DEPTHS.start(), seed)
        }
    }

    fn priority(&mut self, thread: ThreadId) -> u64 {
        let index = thread.index();
        if index >= self.priorities.len() {
            self.priorities.resize(index + 1, 0);
        }
        if self.priorities[index] == 0 {
            // Initial priorities live in the top band; the low bits break ties by thread id.
            let random = self.rng.next_u64() >> 14;
            self.priorities[index] = INITIAL_BAND + (random << 10) + index as u64 % 1024;
        }
        self.priorities[index]
    }
}

impl Scheduler for PctScheduler {
    fn begin_execution(&mut self, iteration: usize) {
        self.rng = Pcg64Mcg::seed_from_u64(mix_seed(self.seed, iteration));
        self.iteration = iteration;
        if self.random_depth {
            let choices = (RANDOM_DEPTHS.end() - RANDOM_DEPTHS.start() + 1) as u64;
            self.depth = RANDOM_DEPTHS.start() + below(self.rng.next_u64(), choices) as usize;
        }
        self.priorities.clear();
        self.changes_done = 0;
        self.yield_floor = CHANGE_BAND;
        self.change_points.clear();
        for _ in 1..self.depth {
            let point = 1 + self.rng.next_u64() % self.step_estimate.max(1);
            self.change_points.push(point);
        }
        self.change_points.sort_unstable();
    }

    fn end_execution(&mut self, steps: u64) {
        if self.iteration == 1 {
            self.step_estimate = steps.max(1); // The step bound k, learnt from execution 1.
        }
    }

    #[inline]
    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        // A change point lowers the thread that took the step, even if it just blocked: its
        // priority counts again when it is woken.
        while self.changes_done < self.change_points.len()
            && self.change_points[self.changes_done] <= decision.step
        {
            self.changes_done += 1;
            let stepping = decision.stepping;
            self.priority(stepping);
            self.priorities[stepping.index()] =
                CHANGE_BAND + (self.depth - self.changes_done) as u64;
        }
        if let Some(current) = decision.current
            && decision.yielding
        {
            // Below every other thread, demoted ones included (see the module docs).
            self.yield_floor -= 1;
            let floor = self.yield_floor;
            self.priority(current);
            self.priorities[current.index()] = floor;
        }
        let mut best: Option<(u64, ThreadId)> = None;
        for thread in decision.runnable.iter() {
            let priority = self.priority(thread);
            if best.is_none_or(|(best_priority, _)| priority > best_priority) {
                best = Some((priority, thread));
            }
        }
        best.expect("a decision has a runnable thread").1
    }

    fn describe(&self) -> String {
        self.strategy().to_string()
    }

    fn strategy(&self) -> Strategy {
        if self.random_depth {
            Strategy::PctRandomDepth
        } else {
            Strategy::Pct { depth: self.depth }
        }
    }

    fn independent_executions(&self) -> bool {
        true
    }
}
