//! Uniform random walk (URW; Zhao, Wolff, Mathur, Roychoudhury, ASPLOS 2025, as shuttle's
//! `UrwRandomScheduler`): every runnable thread is picked with probability proportional to
//! the steps it has left, so that every interleaving is about equally likely.
//!
//! A plain random walk favours schedules that switch early: a thread with 99 steps left
//! and one with 1 are picked alike, so the short one almost always finishes first. Weighted
//! by steps left, each of the C(100, 1) places of the short thread's step is as likely.
//!
//! The steps each thread has left are estimated by a calibration run, the exploration's
//! execution 1 (itself a plain random walk): a thread's estimate is the steps it took there
//! plus those of its descendants, looked up by its signature (where it was spawned, by whom;
//! `signature.rs`). Later executions learn nothing more, so that each one depends only on
//! the seed and its number ([`Scheduler::independent_executions`]).

use std::sync::Arc;

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::profile::{Profile, ProfileBuilder};
use super::signature::Signatures;
use super::{Decision, Scheduler, Strategy, ThreadId, below, mix_seed};

/// Uniform random walk, calibrated by the exploration's first execution.
#[derive(Debug)]
pub struct UrwScheduler {
    seed: u64,
    rng: Pcg64Mcg,
    /// The calibration run under way.
    learning: Option<ProfileBuilder>,
    profile: Option<Arc<Profile>>,
    signatures: Signatures,
    /// Steps left, by thread index (at least 1 for a thread that can run).
    remaining: Vec<u64>,
}

impl UrwScheduler {
    /// A URW scheduler whose executions are all determined by `seed`.
    pub fn new(seed: u64) -> UrwScheduler {
        UrwScheduler {
            seed,
            rng: Pcg64Mcg::seed_from_u64(seed),
            learning: None,
            profile: None,
            signatures: Signatures::default(),
            remaining: Vec::new(),
        }
    }

    /// Takes a calibration run's profile learnt elsewhere (the portfolio's).
    pub(crate) fn adopt(&mut self, profile: Arc<Profile>) {
        self.learning = None;
        self.profile = Some(profile);
    }

    /// The estimates of threads spawned since the last decision: each takes its share from
    /// its parent.
    fn note_new_threads(&mut self, decision: &Decision<'_>, profile: &Profile) {
        let first = self.signatures.update(decision);
        for index in first..self.signatures.len() {
            let estimate = profile.thread_steps.get(self.signatures.get(index)).max(1);
            self.remaining.push(estimate);
            if let Some(parent) = self.signatures.parent(index) {
                self.remaining[parent] = self.remaining[parent].saturating_sub(estimate).max(1);
            }
        }
    }
}

/// Picks a runnable thread uniformly.
pub(crate) fn uniform(rng: &mut Pcg64Mcg, decision: &Decision<'_>) -> ThreadId {
    let count = decision.runnable.len();
    let pick = if count == 1 {
        0
    } else {
        below(rng.next_u64(), count as u64) as usize
    };
    decision
        .runnable
        .nth(pick)
        .expect("pick is below the runnable count")
}

/// Picks a thread from `threads` with probability proportional to its weight; `None` when
/// every weight is 0.
pub(crate) fn weighted(
    rng: &mut Pcg64Mcg,
    threads: impl Iterator<Item = ThreadId> + Clone,
    weight: impl Fn(ThreadId) -> u64,
) -> Option<ThreadId> {
    let total: u64 = threads.clone().map(&weight).fold(0, u64::saturating_add);
    if total == 0 {
        return None;
    }
    let mut draw = below(rng.next_u64(), total);
    for thread in threads {
        let weight = weight(thread);
        if draw < weight {
            return Some(thread);
        }
        draw -= weight;
    }
    None
}

impl Scheduler for UrwScheduler {
    fn begin_execution(&mut self, iteration: usize) {
        self.rng = Pcg64Mcg::seed_from_u64(mix_seed(self.seed, iteration));
        self.signatures.clear();
        self.remaining.clear();
        if iteration == 1 {
            self.profile = None;
            self.learning = Some(ProfileBuilder::default());
        }
    }

    fn end_execution(&mut self, _steps: u64) {
        if let Some(learning) = self.learning.take() {
            self.profile = Some(Arc::new(learning.finish()));
        }
    }

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        if let Some(learning) = &mut self.learning {
            let chosen = uniform(&mut self.rng, decision);
            learning.observe(decision, chosen);
            return chosen;
        }
        let Some(profile) = self.profile.take() else {
            // Not calibrated (execution 1 was not run here): a plain random walk.
            return uniform(&mut self.rng, decision);
        };
        if decision.thread_count() > self.signatures.len() {
            self.note_new_threads(decision, &profile);
        }
        self.profile = Some(profile);
        let remaining = &self.remaining;
        let chosen = weighted(&mut self.rng, decision.runnable.iter(), |thread| {
            remaining[thread.index()]
        })
        .expect("every runnable thread has at least one step left");
        let left = &mut self.remaining[chosen.index()];
        *left = left.saturating_sub(1).max(1);
        chosen
    }

    fn describe(&self) -> String {
        self.strategy().to_string()
    }

    fn strategy(&self) -> Strategy {
        Strategy::Urw
    }

    fn independent_executions(&self) -> bool {
        true
    }
}
