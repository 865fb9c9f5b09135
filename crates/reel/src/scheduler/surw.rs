//! Selectively uniform random walk (SURW; Zhao, Wolff, Mathur, Roychoudhury, ASPLOS 2025,
//! after the paper's artifact, github.com/zhaohuanqdcn/SURW, and fray's port).
//!
//! A uniform walk over every step spreads its chances over interleavings that differ only in
//! steps no bug cares about. SURW is uniform over the steps that matter: in each execution
//! it picks one contended object (one that at least two threads used, one of them writing,
//! in the calibration run, the exploration's execution 1) and calls the steps on it
//! *interesting*. Uninteresting steps are scheduled by random priorities (the thread that
//! ran draws a new one); the interesting ones are interleaved as a uniform random walk
//! would, each thread weighted by the interesting steps it has left (its descendants'
//! included, as in URW).
//!
//! At a decision: the runnable thread with the highest priority, among those not held back,
//! is the candidate. If its next step is uninteresting, it runs. If it is interesting, the
//! thread whose interesting step comes next is drawn (once, weighted by steps left) if it
//! has not been yet; the candidate runs if it is that thread, else it is held back and
//! another candidate is taken. When the drawn thread takes its interesting step, everyone
//! is released. When every runnable thread is held back (the drawn one blocked or took
//! another way), all are released and the draw is made again.
//!
//! A thread that yields waits for another (see `spin.rs`): it drops below every thread that
//! does not, until it takes a step that writes; a drawn thread that yields gives up its turn
//! (everyone is released); and a spinning thread is drawn only when no other can be. Without
//! that, a thread drawn for the next interesting step that spins on uninteresting ones holds
//! the others back for good.
//!
//! An object's id depends on the schedule (ids count first uses), so the object picked is
//! known in later executions by the places in the program its steps were taken at in the
//! calibration run: a step on an object, at one of those places, is interesting. The
//! calibration is the only execution that teaches anything
//! ([`Scheduler::independent_executions`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::profile::{Contended, Profile, ProfileBuilder};
use super::signature::Signatures;
use super::spin::{PRIORITY_BAND, Spinning};
use super::urw::{uniform, weighted};
use super::{Decision, Scheduler, Strategy, ThreadId, below, mix_seed};

/// Selectively uniform random walk, calibrated by the exploration's first execution.
#[derive(Debug)]
pub struct SurwScheduler {
    seed: u64,
    rng: Pcg64Mcg,
    learning: Option<ProfileBuilder>,
    profile: Option<Arc<Profile>>,
    /// This execution's object: an index into the profile's contended objects.
    target: Option<usize>,
    /// Whether a place in the program (by address) is one of the target's.
    place_is_target: BTreeMap<usize, bool>,
    signatures: Signatures,
    /// Interesting steps left, by thread index.
    remaining: Vec<u64>,
    /// Priority by thread index; 0 means to be drawn.
    priorities: Vec<u64>,
    /// Held back by thread index, and how many are.
    held: Vec<bool>,
    held_count: usize,
    /// The thread whose interesting step comes next, once drawn.
    intended: Option<ThreadId>,
    spinning: Spinning,
}

impl SurwScheduler {
    /// A SURW scheduler whose executions are all determined by `seed`.
    pub fn new(seed: u64) -> SurwScheduler {
        SurwScheduler {
            seed,
            rng: Pcg64Mcg::seed_from_u64(seed),
            learning: None,
            profile: None,
            target: None,
            place_is_target: BTreeMap::new(),
            signatures: Signatures::default(),
            remaining: Vec::new(),
            priorities: Vec::new(),
            held: Vec::new(),
            held_count: 0,
            intended: None,
            spinning: Spinning::default(),
        }
    }

    /// Takes a calibration run's profile learnt elsewhere (the portfolio's).
    pub(crate) fn adopt(&mut self, profile: Arc<Profile>) {
        self.learning = None;
        self.profile = Some(profile);
    }

    fn priority(&mut self, thread: ThreadId) -> u64 {
        let index = thread.index();
        if self.priorities[index] == 0 {
            self.priorities[index] = if self.spinning.is_spinning(thread) {
                self.spinning.low_priority()
            } else {
                PRIORITY_BAND | (self.rng.next_u64() >> 2)
            };
        }
        self.priorities[index]
    }

    fn release_all(&mut self) {
        if self.held_count > 0 {
            self.held.fill(false);
            self.held_count = 0;
        }
        self.intended = None;
    }

    /// Whether `thread`'s next step is on this execution's object.
    fn is_interesting(
        &mut self,
        decision: &Decision<'_>,
        target: &Contended,
        thread: ThreadId,
    ) -> bool {
        let on_object = decision
            .next_step(thread)
            .is_some_and(|step| step.object.is_some());
        let Some(place) = decision.location(thread).filter(|_| on_object) else {
            return false;
        };
        *self
            .place_is_target
            .entry(place as *const _ as usize)
            .or_insert_with(|| target.places.iter().any(|known| **known == *place))
    }

    /// Threads spawned since the last decision: each takes its share of interesting steps
    /// from its parent, and inherits the parent's turn with that share's probability.
    fn note_new_threads(&mut self, decision: &Decision<'_>, target: Option<&Contended>) {
        let first = self.signatures.update(decision);
        let threads = self.signatures.len();
        self.priorities.resize(threads, 0);
        self.held.resize(threads, false);
        for index in first..threads {
            let estimate = target.map_or(0, |target| target.steps.get(self.signatures.get(index)));
            self.remaining.push(estimate);
            let Some(parent) = self.signatures.parent(index) else {
                continue;
            };
            let left = self.remaining[parent];
            if left == 0 {
                continue;
            }
            if self.intended == Some(ThreadId::from_index(parent))
                && estimate > below(self.rng.next_u64(), left)
            {
                self.intended = Some(ThreadId::from_index(index));
            }
            self.remaining[parent] = left.saturating_sub(estimate);
        }
    }

    fn decide(&mut self, decision: &Decision<'_>, profile: &Profile) -> ThreadId {
        let target = self.target.map(|target| &profile.contended[target]);
        if decision.thread_count() > self.signatures.len() {
            self.note_new_threads(decision, target);
        }
        if let Some(current) = self.spinning.note_yield(decision) {
            // Below every other thread, so that a spin loop lets the one it waits for run.
            self.priorities[current.index()] = self.spinning.low_priority();
            if self.intended == Some(current) {
                self.release_all();
            }
        }
        loop {
            let mut best: Option<(u64, ThreadId)> = None;
            for thread in decision.runnable.iter() {
                if self.held[thread.index()] {
                    continue;
                }
                let priority = self.priority(thread);
                if best.is_none_or(|(best_priority, _)| priority > best_priority) {
                    best = Some((priority, thread));
                }
            }
            let Some((_, candidate)) = best else {
                self.release_all();
                continue;
            };
            let interesting =
                target.is_some_and(|target| self.is_interesting(decision, target, candidate));
            if !interesting {
                self.spinning.chosen(decision, candidate);
                self.priorities[candidate.index()] = 0;
                return candidate;
            }
            let index = candidate.index();
            self.remaining[index] = self.remaining[index].max(1);
            if self.intended.is_none() {
                let (held, remaining, spinning) = (&self.held, &self.remaining, &self.spinning);
                let free = |thread: &ThreadId| !held[thread.index()];
                // A spinning thread waits for the others: drawn only when no other can be.
                let waits = |thread: &ThreadId| spinning.is_spinning(*thread);
                let others_can = decision
                    .runnable
                    .iter()
                    .any(|thread| free(&thread) && !waits(&thread));
                self.intended = weighted(
                    &mut self.rng,
                    decision
                        .runnable
                        .iter()
                        .filter(|thread| free(thread) && !(others_can && waits(thread))),
                    |thread| remaining[thread.index()],
                );
            }
            if self.intended == Some(candidate) {
                self.remaining[index] -= 1;
                self.release_all();
                self.spinning.chosen(decision, candidate);
                return candidate;
            }
            self.held[index] = true;
            self.held_count += 1;
        }
    }
}

impl Scheduler for SurwScheduler {
    fn begin_execution(&mut self, iteration: usize) {
        self.rng = Pcg64Mcg::seed_from_u64(mix_seed(self.seed, iteration));
        if iteration == 1 {
            self.profile = None;
            self.learning = Some(ProfileBuilder::default());
        }
        self.target = match &self.profile {
            Some(profile) if !profile.contended.is_empty() => {
                Some(below(self.rng.next_u64(), profile.contended.len() as u64) as usize)
            }
            _ => None,
        };
        self.place_is_target.clear();
        self.signatures.clear();
        self.remaining.clear();
        self.priorities.clear();
        self.held.clear();
        self.held_count = 0;
        self.intended = None;
        self.spinning.clear();
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
            return uniform(&mut self.rng, decision);
        };
        let chosen = self.decide(decision, &profile);
        self.profile = Some(profile);
        chosen
    }

    fn describe(&self) -> String {
        self.strategy().to_string()
    }

    fn strategy(&self) -> Strategy {
        Strategy::Surw
    }

    fn independent_executions(&self) -> bool {
        true
    }
}
