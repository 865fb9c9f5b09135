//! Partial order sampling (POS; Yuan, Yang, Gu, CAV 2018).
//!
//! Every thread's pending step has a random priority, and the runnable thread with the
//! highest one runs. After it runs, its next step gets a new priority, and so does the
//! pending step of every thread that races with the step it took (same object, one of the
//! two a write; a lock or a send counts as a write, see `step_races`). Re-drawing the racing
//! steps' priorities is what makes POS sample the partial orders of racing steps about
//! uniformly, where a plain random walk favours some of them exponentially.
//!
//! A thread that yields drops below every thread that does not, and stays there (its new
//! priorities too) until it takes a step that writes, so that a spin loop lets the thread it
//! waits for run (see `spin.rs`). Nothing is learnt across executions.

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::spin::{PRIORITY_BAND, Spinning};
use super::{Decision, Scheduler, Strategy, ThreadId, mix_seed, step_races};

/// Partial order sampling.
#[derive(Debug)]
pub struct PosScheduler {
    seed: u64,
    rng: Pcg64Mcg,
    /// Priority by thread index; 0 means to be drawn.
    priorities: Vec<u64>,
    spinning: Spinning,
}

impl PosScheduler {
    /// A POS scheduler whose executions are all determined by `seed`.
    pub fn new(seed: u64) -> PosScheduler {
        PosScheduler {
            seed,
            rng: Pcg64Mcg::seed_from_u64(seed),
            priorities: Vec::new(),
            spinning: Spinning::default(),
        }
    }

    fn priority(&mut self, thread: ThreadId) -> u64 {
        let index = thread.index();
        if index >= self.priorities.len() {
            self.priorities.resize(index + 1, 0);
        }
        if self.priorities[index] == 0 {
            self.priorities[index] = if self.spinning.is_spinning(thread) {
                self.spinning.low_priority()
            } else {
                PRIORITY_BAND | (self.rng.next_u64() >> 2)
            };
        }
        self.priorities[index]
    }
}

impl Scheduler for PosScheduler {
    fn begin_execution(&mut self, iteration: usize) {
        self.rng = Pcg64Mcg::seed_from_u64(mix_seed(self.seed, iteration));
        self.priorities.clear();
        self.spinning.clear();
    }

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        if let Some(current) = self.spinning.note_yield(decision) {
            self.priority(current);
            self.priorities[current.index()] = self.spinning.low_priority();
        }
        let mut best: Option<(u64, ThreadId)> = None;
        for thread in decision.runnable.iter() {
            let priority = self.priority(thread);
            if best.is_none_or(|(best_priority, _)| priority > best_priority) {
                best = Some((priority, thread));
            }
        }
        let (_, chosen) = best.expect("a decision has a runnable thread");
        self.spinning.chosen(decision, chosen);
        self.priorities[chosen.index()] = 0;
        let taken = decision.next_step(chosen);
        if let Some(taken) = taken
            && let Some(object) = taken.object
        {
            for index in 0..self.priorities.len() {
                if self.priorities[index] == 0 {
                    continue;
                }
                let races = decision
                    .next_step(ThreadId::from_index(index))
                    .is_some_and(|step| {
                        step.object == Some(object) && step_races(taken.op, step.op)
                    });
                if races {
                    self.priorities[index] = 0;
                }
            }
        }
        chosen
    }

    fn describe(&self) -> String {
        self.strategy().to_string()
    }

    fn strategy(&self) -> Strategy {
        Strategy::Pos
    }

    fn independent_executions(&self) -> bool {
        true
    }

    fn learns_from_first_execution(&self) -> bool {
        false
    }
}
