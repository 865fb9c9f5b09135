//! Seeded uniform random scheduling: at every point, any runnable thread with equal chance.

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::Strategy;
use super::{Decision, Scheduler, mix_seed};
use crate::runtime::vocabulary::ThreadId;

/// Picks uniformly among the runnable threads at every scheduling point.
#[derive(Debug)]
pub struct RandomScheduler {
    seed: u64,
    rng: Pcg64Mcg,
}

impl RandomScheduler {
    /// A random scheduler whose executions are all determined by `seed`.
    pub fn new(seed: u64) -> RandomScheduler {
        RandomScheduler {
            seed,
            rng: Pcg64Mcg::seed_from_u64(seed),
        }
    }
}

impl Scheduler for RandomScheduler {
    fn begin_execution(&mut self, iteration: usize) {
        self.rng = Pcg64Mcg::seed_from_u64(mix_seed(self.seed, iteration));
    }

    #[inline]
    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        let count = decision.runnable.len();
        if count == 1 {
            return decision
                .runnable
                .nth(0)
                .expect("a decision has a runnable thread");
        }
        // Lemire's multiply-shift maps a 64-bit draw onto [0, count) without a division.
        let pick = ((u128::from(self.rng.next_u64()) * count as u128) >> 64) as usize;
        decision
            .runnable
            .nth(pick)
            .expect("pick is below the runnable count")
    }

    fn describe(&self) -> String {
        self.strategy().to_string()
    }

    fn strategy(&self) -> Strategy {
        Strategy::Random
    }

    fn independent_executions(&self) -> bool {
        true
    }

    fn learns_from_first_execution(&self) -> bool {
        false
    }
}
