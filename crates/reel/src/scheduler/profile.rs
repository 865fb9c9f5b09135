//! What a calibration run (an exploration's execution 1) teaches the strategies that
//! estimate: how many steps each thread takes, by signature, and which objects are contended
//! and where in the program they are used.
//!
//! A thread's count is the number of times it was picked to run, which is the number of
//! steps it took; its estimate adds its descendants' counts, since a thread that has not
//! spawned its children yet still has their steps ahead (shuttle's URW does the same). In
//! a later execution, spawning a child moves the child's share from the parent to the child.

use std::collections::BTreeMap;
use std::panic::Location;

use super::signature::Signatures;
use super::{Decision, ThreadId};

/// The most objects a calibration run keeps track of (the first ones used).
const MAX_OBJECTS: usize = 4096;
/// The most places in the program kept for one object.
const MAX_PLACES: usize = 64;
/// The most contended objects kept.
const MAX_CONTENDED: usize = 256;

/// An estimate per thread signature; threads not seen get `fallback`.
#[derive(Debug, Default)]
pub(crate) struct Weights {
    by_signature: BTreeMap<u64, u64>,
    fallback: u64,
}

impl Weights {
    /// The estimate for a thread of this signature.
    pub(crate) fn get(&self, signature: u64) -> u64 {
        self.by_signature
            .get(&signature)
            .copied()
            .unwrap_or(self.fallback)
    }
}

/// An object that at least two threads used, at least one of them writing it.
#[derive(Debug)]
pub(crate) struct Contended {
    /// Where in the program it was used: a step at one of these places, on an object, is
    /// taken as a step on it in another execution (object ids depend on the schedule).
    pub(crate) places: Vec<&'static Location<'static>>,
    /// How many of its steps each thread (and its descendants) took, by signature.
    pub(crate) steps: Weights,
}

/// What a calibration run taught.
#[derive(Debug, Default)]
pub(crate) struct Profile {
    /// How many steps each thread (and its descendants) took, by signature; at least 1.
    pub(crate) thread_steps: Weights,
    /// The contended objects, in order of first use.
    pub(crate) contended: Vec<Contended>,
}

/// One object, as the calibration run saw it.
#[derive(Debug)]
struct ObjectRecord {
    first_thread: usize,
    shared: bool,
    written: bool,
    places: Vec<&'static Location<'static>>,
    /// Steps on it by thread index.
    steps: Vec<(usize, u64)>,
}

/// Watches a calibration run's decisions.
#[derive(Debug, Default)]
pub(crate) struct ProfileBuilder {
    signatures: Signatures,
    /// Steps by thread index.
    steps: Vec<u64>,
    /// By object index.
    objects: Vec<ObjectRecord>,
}

impl ProfileBuilder {
    /// Notes that `chosen` was picked at `decision`: it carries out the step it is paused at.
    pub(crate) fn observe(&mut self, decision: &Decision<'_>, chosen: ThreadId) {
        self.signatures.update(decision);
        self.steps.resize(self.signatures.len(), 0);
        let thread = chosen.index();
        self.steps[thread] += 1;
        let Some(step) = decision.next_step(chosen) else {
            return;
        };
        let Some(object) = step.object.map(|object| object.index()) else {
            return;
        };
        if object >= MAX_OBJECTS {
            return;
        }
        while self.objects.len() <= object {
            self.objects.push(ObjectRecord {
                first_thread: thread,
                shared: false,
                written: false,
                places: Vec::new(),
                steps: Vec::new(),
            });
        }
        let record = &mut self.objects[object];
        if record.steps.is_empty() {
            record.first_thread = thread;
        }
        record.shared |= record.first_thread != thread;
        record.written |= super::step_races(step.op, step.op);
        if let Some(place) = decision.location(chosen)
            && record.places.len() < MAX_PLACES
            && !record.places.iter().any(|known| **known == *place)
        {
            record.places.push(place);
        }
        match record.steps.iter_mut().find(|(index, _)| *index == thread) {
            Some((_, count)) => *count += 1,
            None => record.steps.push((thread, 1)),
        }
    }

    /// The profile, once the run has ended.
    pub(crate) fn finish(self) -> Profile {
        let threads = self.signatures.len();
        let mut own = self.steps.clone();
        own.resize(threads, 0);
        let thread_steps = self.weights(own.into_iter().enumerate(), 1);
        let contended = self
            .objects
            .iter()
            .filter(|record| record.shared && record.written)
            .take(MAX_CONTENDED)
            .map(|record| Contended {
                places: record.places.clone(),
                steps: self.weights(record.steps.iter().copied(), 0),
            })
            .collect();
        Profile {
            thread_steps,
            contended,
        }
    }

    /// Per-signature estimates from counts per thread index: each thread's count plus its
    /// descendants'. Threads not seen get the smallest estimate, at least `floor`.
    fn weights(&self, counts: impl Iterator<Item = (usize, u64)>, floor: u64) -> Weights {
        let mut totals: BTreeMap<usize, u64> = BTreeMap::new();
        for (thread, count) in counts {
            if count == 0 {
                continue;
            }
            // Up the chain of parents: a thread's count belongs to its ancestors too.
            let mut at = Some(thread);
            while let Some(index) = at {
                *totals.entry(index).or_insert(0) += count;
                at = self.signatures.parent(index);
            }
        }
        let mut by_signature = BTreeMap::new();
        for (thread, total) in totals {
            let entry = by_signature.entry(self.signatures.get(thread)).or_insert(0);
            *entry = (*entry).max(total);
        }
        let fallback = by_signature.values().copied().min().unwrap_or(0).max(floor);
        Weights {
            by_signature,
            fallback,
        }
    }
}
