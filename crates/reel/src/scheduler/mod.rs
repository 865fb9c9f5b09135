//! The `Scheduler` trait, the oracle that picks the next thread at every scheduling point,
//! and the strategies that implement it.
//!
//! The runtime calls [`Scheduler::next_thread`] at every scheduling point with the set of
//! threads that can run. Keeping the thread that is already running costs nothing; picking
//! another one is a context switch. A strategy must be a pure function of its seed and the
//! decisions it was asked for, so that one (program, strategy, seed) gives one execution.

mod pct;
mod random;
mod run_until_block;

pub use pct::PctScheduler;
pub use random::RandomScheduler;
pub use run_until_block::RunUntilBlock;

use crate::thread::ThreadId;

/// The set of runnable threads at a decision: a bitset over thread indices.
#[derive(Clone, Debug, Default)]
pub struct RunnableSet {
    words: Vec<u64>,
    count: usize,
}

impl RunnableSet {
    pub(crate) fn clear(&mut self) {
        self.words.clear();
        self.count = 0;
    }

    /// Makes room for thread indices up to `index` (done at spawn, off the hot path).
    pub(crate) fn reserve(&mut self, index: usize) {
        let word = index / 64;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
    }

    pub(crate) fn insert(&mut self, index: usize) {
        let word = index / 64;
        let bit = 1u64 << (index % 64);
        if self.words[word] & bit == 0 {
            self.words[word] |= bit;
            self.count += 1;
        }
    }

    pub(crate) fn remove(&mut self, index: usize) {
        let word = index / 64;
        if let Some(bits) = self.words.get_mut(word) {
            let bit = 1u64 << (index % 64);
            if *bits & bit != 0 {
                *bits &= !bit;
                self.count -= 1;
            }
        }
    }

    /// Whether `thread` can run.
    pub fn contains(&self, thread: ThreadId) -> bool {
        let index = thread.index();
        self.words
            .get(index / 64)
            .is_some_and(|bits| bits & (1u64 << (index % 64)) != 0)
    }

    /// How many threads can run.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no thread can run.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The runnable threads in id order.
    pub fn iter(&self) -> impl Iterator<Item = ThreadId> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(word_index, &word)| {
                let mut bits = word;
                std::iter::from_fn(move || {
                    if bits == 0 {
                        return None;
                    }
                    let bit = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    Some(ThreadId::from_index(word_index * 64 + bit))
                })
            })
    }

    /// The `n`th runnable thread in id order (0-based), if there are more than `n`.
    pub fn nth(&self, mut n: usize) -> Option<ThreadId> {
        for (word_index, &word) in self.words.iter().enumerate() {
            // Skip whole words by counting their bits only when `n` is large: with a few
            // threads, walking the bits is cheaper than a population count.
            if n >= 64 {
                let ones = word.count_ones() as usize;
                if n >= ones {
                    n -= ones;
                    continue;
                }
            }
            let mut bits = word;
            while bits != 0 {
                if n == 0 {
                    return Some(ThreadId::from_index(
                        word_index * 64 + bits.trailing_zeros() as usize,
                    ));
                }
                bits &= bits - 1;
                n -= 1;
            }
        }
        None
    }

    /// The first runnable thread after `thread` in id order, wrapping around; may be
    /// `thread` itself when it is the only one.
    pub fn next_after(&self, thread: ThreadId) -> Option<ThreadId> {
        if self.count == 0 {
            return None;
        }
        let start = thread.index() + 1;
        let total_bits = self.words.len() * 64;
        let mut index = start;
        // First from `start` to the end, then from 0 to `start`.
        while index < total_bits {
            let word = self.words[index / 64] >> (index % 64);
            if word != 0 {
                return Some(ThreadId::from_index(index + word.trailing_zeros() as usize));
            }
            index = (index / 64 + 1) * 64;
        }
        self.iter().next()
    }
}

/// What a scheduler is told at one decision.
#[derive(Debug)]
pub struct Decision<'a> {
    /// The threads that can run now. Never empty.
    pub runnable: &'a RunnableSet,
    /// The thread that took this step (it may have just blocked or finished).
    pub stepping: ThreadId,
    /// The thread that took this step, when it can go on running.
    pub current: Option<ThreadId>,
    /// The current thread asked to let others run (`yield_now`, a spin-loop hint).
    pub yielding: bool,
    /// The 1-based step this decision is for.
    pub step: u64,
}

/// The oracle that picks which thread runs at each scheduling point.
pub trait Scheduler {
    /// Called before each execution, with its 1-based number in the exploration.
    fn begin_execution(&mut self, iteration: usize);

    /// Called after each execution with the number of steps it took.
    fn end_execution(&mut self, steps: u64) {
        let _ = steps;
    }

    /// Whether this scheduler always keeps the current thread when it can run and does not
    /// yield. The runtime then skips the call in that case (the hot path of a plain run).
    fn keeps_running_thread(&self) -> bool {
        false
    }

    /// Picks the thread to run next. Must return a member of `decision.runnable`.
    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId;

    /// A short name for reports, e.g. "random" or "pct(depth 3)".
    fn describe(&self) -> String;
}

/// A 64-bit seed mixed with an iteration number (SplitMix64's finaliser), so that every
/// execution of an exploration gets its own well-spread seed.
pub(crate) fn mix_seed(seed: u64, iteration: usize) -> u64 {
    let mut z = seed ^ (iteration as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runnable_set_orders_and_wraps() {
        let mut set = RunnableSet::default();
        set.reserve(130);
        for index in [3, 64, 130, 5] {
            set.insert(index);
        }
        set.insert(5);
        assert_eq!(set.len(), 4);
        let ids: Vec<usize> = set.iter().map(ThreadId::index).collect();
        assert_eq!(ids, vec![3, 5, 64, 130]);
        assert_eq!(set.nth(2).map(ThreadId::index), Some(64));
        assert_eq!(set.nth(4), None);
        assert_eq!(
            set.next_after(ThreadId::from_index(5)).map(ThreadId::index),
            Some(64)
        );
        assert_eq!(
            set.next_after(ThreadId::from_index(130))
                .map(ThreadId::index),
            Some(3)
        );
        set.remove(64);
        assert_eq!(
            set.next_after(ThreadId::from_index(5)).map(ThreadId::index),
            Some(130)
        );
        assert!(!set.contains(ThreadId::from_index(64)));
    }
}
