//! The `Scheduler` trait, the oracle that picks the next thread at every scheduling point,
//! and the strategies that implement it.
//!
//! The runtime calls [`Scheduler::next_thread`] at every scheduling point with the set of
//! threads that can run. Keeping the thread that is already running costs nothing; picking
//! another one is a context switch. A strategy must be a pure function of its seed and the
//! decisions it was asked for, so that one (program, strategy, seed) gives one execution.
//!
//! The vocabulary a decision is told in (threads, operations, objects, blockers) is the
//! runtime's own, re-exported here.

mod pct;
mod random;
mod run_until_block;

pub use pct::PctScheduler;
pub use random::RandomScheduler;
pub use run_until_block::RunUntilBlock;

pub use crate::runtime::seams::{Decision, RunnableSet};
pub use crate::runtime::vocabulary::{Blocker, ObjectId, ObjectKind, Op, Step, ThreadId};

use std::fmt;

/// A strategy: which schedules an exploration tries. One spelling ([`fmt::Display`]) names it
/// in reports and in a trace's header; [`Strategy::parse`] reads that spelling back, so an
/// exploration can be re-run from a trace (the runtime builds the strategy's scheduler).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// The plain runtime's policy: run a thread until it blocks, yields or exits (spelt
    /// "run": a plain run).
    RunUntilBlock,
    /// Uniformly random among runnable threads at every scheduling point.
    Random,
    /// Probabilistic concurrency testing for bugs of the given depth.
    Pct {
        /// The bug depth d: how many ordering constraints the bug needs (d-1 change points).
        depth: usize,
    },
    /// A replay: the trace decides.
    Replay,
    /// A scheduler of the program's own, by the name it gives itself.
    Custom(String),
}

/// The deepest PCT strategy a spelling may name (a trace header is input).
const MAX_PCT_DEPTH: usize = 1_000;

impl Strategy {
    /// Reads a strategy's spelling back (as [`fmt::Display`] writes it). Any other text is a
    /// scheduler of the program's own.
    pub fn parse(text: &str) -> Strategy {
        match text {
            "run" => return Strategy::RunUntilBlock,
            "random" => return Strategy::Random,
            "replay" => return Strategy::Replay,
            _ => {}
        }
        let depth = text
            .strip_prefix("pct(depth ")
            .and_then(|depth| depth.strip_suffix(')'))
            .and_then(|depth| depth.parse::<usize>().ok())
            .filter(|depth| (1..=MAX_PCT_DEPTH).contains(depth));
        match depth {
            Some(depth) => Strategy::Pct { depth },
            None => Strategy::Custom(text.to_owned()),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::RunUntilBlock => f.write_str("run"),
            Strategy::Random => f.write_str("random"),
            Strategy::Pct { depth } => write!(f, "pct(depth {depth})"),
            Strategy::Replay => f.write_str("replay"),
            Strategy::Custom(name) => f.write_str(name),
        }
    }
}

/// Compares with a spelling, so that `report.strategy == "random"` reads as it says.
impl PartialEq<str> for Strategy {
    fn eq(&self, other: &str) -> bool {
        Strategy::parse(other) == *self
    }
}

impl PartialEq<&str> for Strategy {
    fn eq(&self, other: &&str) -> bool {
        Strategy::parse(other) == *self
    }
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
    /// `decision.next_step(thread)` says what each runnable thread is about to do.
    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId;

    /// A short name for reports, e.g. "random" or "pct(depth 3)".
    fn describe(&self) -> String;

    /// The strategy this scheduler follows: reel's own name theirs; another scheduler is
    /// [`Strategy::Custom`] with its [`Scheduler::describe`].
    fn strategy(&self) -> Strategy {
        Strategy::Custom(self.describe())
    }

    /// Whether this scheduler has no schedule left to try (an exhaustive search that has
    /// enumerated them all). Asked before each execution; exploration stops at `true`.
    fn exhausted(&self) -> bool {
        false
    }
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

#[cfg(test)]
mod strategy_tests {
    use super::Strategy;

    #[test]
    fn every_spelling_reads_back() {
        for strategy in [
            Strategy::RunUntilBlock,
            Strategy::Random,
            Strategy::Pct { depth: 3 },
            Strategy::Replay,
            Strategy::Custom("always switch".to_owned()),
        ] {
            assert_eq!(Strategy::parse(&strategy.to_string()), strategy);
        }
        assert_eq!(
            Strategy::parse("pct(depth 0)"),
            Strategy::Custom("pct(depth 0)".to_owned())
        );
    }
}
