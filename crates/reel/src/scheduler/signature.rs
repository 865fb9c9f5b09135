//! Thread signatures: a name for a thread that stays the same across executions, where its
//! id may not (ids count spawns in the order they happen).
//!
//! A thread's signature hashes its parent's signature, the place in the program it was
//! spawned from, and how many siblings its parent spawned from that place before it (as
//! shuttle's task signatures do). The hash reads the place's file, line and column, never
//! its address, so one program gives the same signatures in every process.

use std::collections::BTreeMap;
use std::panic::Location;

use super::{Decision, ThreadId};

/// The signature of each thread of the current execution, computed as threads appear.
#[derive(Debug, Default)]
pub(crate) struct Signatures {
    /// By thread index.
    of: Vec<u64>,
    /// By thread index: its parent's index.
    parents: Vec<Option<usize>>,
    /// How many children each (parent, place) has had so far.
    siblings: BTreeMap<(usize, u64), u32>,
}

impl Signatures {
    /// Forgets the execution's threads (at the start of another).
    pub(crate) fn clear(&mut self) {
        self.of.clear();
        self.parents.clear();
        self.siblings.clear();
    }

    /// How many threads have a signature.
    pub(crate) fn len(&self) -> usize {
        self.of.len()
    }

    /// Gives a signature to every thread created since the last call; returns the index of
    /// the first new one (threads `first..self.len()` are new).
    pub(crate) fn update(&mut self, decision: &Decision<'_>) -> usize {
        let first = self.of.len();
        for index in first..decision.thread_count() {
            let thread = ThreadId::from_index(index);
            let place = decision.spawned_at(thread).map_or(0, place_hash);
            let parent = decision.parent(thread).map(ThreadId::index);
            let signature = match parent {
                Some(parent) => {
                    let ordinal = self.siblings.entry((parent, place)).or_insert(0);
                    *ordinal += 1;
                    mix(self.of[parent] ^ mix(place ^ u64::from(*ordinal)))
                }
                None => mix(place),
            };
            self.of.push(signature);
            self.parents.push(parent);
        }
        first
    }

    /// The signature of thread `index` (which [`Signatures::update`] has seen).
    pub(crate) fn get(&self, index: usize) -> u64 {
        self.of[index]
    }

    /// The parent of thread `index`.
    pub(crate) fn parent(&self, index: usize) -> Option<usize> {
        self.parents[index]
    }
}

/// A hash of a place in the program by its text (FNV-1a), the same in every process.
fn place_hash(place: &Location<'_>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let line = place.line().to_le_bytes();
    let column = place.column().to_le_bytes();
    for byte in place
        .file()
        .bytes()
        .chain(line.iter().copied())
        .chain(column.iter().copied())
    {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// SplitMix64's finaliser.
fn mix(value: u64) -> u64 {
    super::mix_seed(value, 0)
}
