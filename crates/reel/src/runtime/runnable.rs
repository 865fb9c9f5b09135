//! The set of runnable threads a scheduler sees at a decision.

use super::vocabulary::ThreadId;

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

    #[inline]
    pub(crate) fn insert(&mut self, index: usize) {
        let word = index / 64;
        let bit = 1u64 << (index % 64);
        if self.words[word] & bit == 0 {
            self.words[word] |= bit;
            self.count += 1;
        }
    }

    #[inline]
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
    #[inline]
    pub fn contains(&self, thread: ThreadId) -> bool {
        let index = thread.index();
        self.words
            .get(index / 64)
            .is_some_and(|bits| bits & (1u64 << (index % 64)) != 0)
    }

    /// How many threads can run.
    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no thread can run.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The runnable threads in id order.
    pub fn iter(&self) -> impl Iterator<Item = ThreadId> + Clone + '_ {
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
    #[inline]
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
    #[inline]
    pub fn next_after(&self, thread: ThreadId) -> Option<ThreadId> {
        if self.count == 0 {
            return None;
        }
        let start = thread.index() + 1;
        // The common case, a few threads: one word, shifted past `thread`.
        if let Some(&word) = self.words.get(start / 64) {
            let above = word & (u64::MAX << (start % 64));
            if above != 0 {
                return Some(ThreadId::from_index(
                    (start / 64) * 64 + above.trailing_zeros() as usize,
                ));
            }
        }
        let total_bits = self.words.len() * 64;
        let mut index = (start / 64 + 1) * 64;
        while index < total_bits {
            let word = self.words[index / 64];
            if word != 0 {
                return Some(ThreadId::from_index(index + word.trailing_zeros() as usize));
            }
            index += 64;
        }
        self.iter().next()
    }
}
