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

mod dfs;
mod pct;
mod portfolio;
mod pos;
mod profile;
mod random;
mod run_until_block;
mod signature;
mod spin;
mod surw;
mod urw;

pub use dfs::DfsScheduler;
pub use pct::PctScheduler;
pub use portfolio::PortfolioScheduler;
pub use pos::PosScheduler;
pub use random::RandomScheduler;
pub use run_until_block::RunUntilBlock;
pub use surw::SurwScheduler;
pub use urw::UrwScheduler;

pub use crate::runtime::seams::{Decision, RunnableSet};
pub use crate::runtime::vocabulary::{Blocker, ObjectId, ObjectKind, Op, Step, ThreadId};

use std::fmt;

/// A strategy: which schedules an exploration tries. One spelling ([`fmt::Display`]) names it
/// in reports and in a trace's header; [`Strategy::parse`] reads that spelling back, so an
/// exploration can be re-run from a trace (the runtime builds the strategy's scheduler).
///
/// The spellings: `run`, `random`, `pct(depth N)`, `pct(random depth)`, `urw`, `surw`, `pos`,
/// `dfs`, `dfs(preemptions N)`, `dfs(delays N)`, `dfs(preemptions N, delays M)`,
/// `portfolio`, `replay` and `minimize(S)`. A trace recorded by the portfolio names the member
/// that ran it, as `portfolio(surw)`; that spelling reads back as [`Strategy::Portfolio`].
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
    /// PCT with the bug depth drawn for each execution, from 2 to 10 ([`PctScheduler`]).
    PctRandomDepth,
    /// Uniform random walk: every execution about equally likely ([`UrwScheduler`]).
    Urw,
    /// Selectively uniform random walk: the accesses to one contended object interleaved
    /// uniformly ([`SurwScheduler`]).
    Surw,
    /// Partial order sampling ([`PosScheduler`]).
    Pos,
    /// Depth-first enumeration of every schedule, within optional bounds
    /// ([`DfsScheduler`]).
    Dfs {
        /// At most this many preemptions per schedule.
        preemptions: Option<usize>,
        /// At most this many delays of a round-robin schedule.
        delays: Option<usize>,
    },
    /// One of several strategies per execution, chosen by the seed and the execution's
    /// number ([`PortfolioScheduler`]): the default.
    Portfolio,
    /// A replay: the trace decides.
    Replay,
    /// A schedule shrunk from a failing execution of an exploration with strategy `from`
    /// (spelt `minimize(S)`, S the exploration's spelling). Its trace was recorded after the
    /// exploration's executions up to and including the failing one (its header's
    /// iteration), so a replay re-runs all of those first ([`crate::minimize`]).
    Minimized {
        /// The exploration's strategy.
        from: Box<Strategy>,
    },
    /// A scheduler of the program's own, by the name it gives itself.
    Custom(String),
}

/// The deepest PCT strategy a spelling may name (a trace header is input).
const MAX_PCT_DEPTH: usize = 1_000;

/// The largest DFS bound a spelling may name.
const MAX_DFS_BOUND: usize = 1_000_000;

impl Strategy {
    /// Reads a strategy's spelling back (as [`fmt::Display`] writes it). Any other text is a
    /// scheduler of the program's own.
    pub fn parse(text: &str) -> Strategy {
        Strategy::parse_known(text).unwrap_or_else(|| Strategy::Custom(text.to_owned()))
    }

    /// One of reel's spellings, or `None`.
    fn parse_known(text: &str) -> Option<Strategy> {
        match text {
            "run" => return Some(Strategy::RunUntilBlock),
            "random" => return Some(Strategy::Random),
            "replay" => return Some(Strategy::Replay),
            "pct(random depth)" => return Some(Strategy::PctRandomDepth),
            "urw" => return Some(Strategy::Urw),
            "surw" => return Some(Strategy::Surw),
            "pos" => return Some(Strategy::Pos),
            "dfs" => {
                return Some(Strategy::Dfs {
                    preemptions: None,
                    delays: None,
                });
            }
            "portfolio" => return Some(Strategy::Portfolio),
            _ => {}
        }
        if let Some(from) = inside(text, "minimize(") {
            // One level only: a shrunk trace shrunk again keeps its spelling.
            if from.starts_with("minimize(") {
                return None;
            }
            return Some(Strategy::Minimized {
                from: Box::new(Strategy::parse(from)),
            });
        }
        if let Some(member) = inside(text, "portfolio(") {
            // A portfolio's execution, named by its member.
            return portfolio::is_member(&Strategy::parse_known(member)?)
                .then_some(Strategy::Portfolio);
        }
        if let Some(depth) = inside(text, "pct(depth ") {
            let depth = depth
                .parse::<usize>()
                .ok()
                .filter(|depth| (1..=MAX_PCT_DEPTH).contains(depth))?;
            return Some(Strategy::Pct { depth });
        }
        let bounds = inside(text, "dfs(")?;
        let bound = |text: &str, name: &str| {
            text.strip_prefix(name)?
                .parse::<usize>()
                .ok()
                .filter(|bound| *bound <= MAX_DFS_BOUND)
        };
        let (preemptions, delays) = match bounds.split_once(", ") {
            Some((preemptions, delays)) => (
                Some(bound(preemptions, "preemptions ")?),
                Some(bound(delays, "delays ")?),
            ),
            None => match bound(bounds, "preemptions ") {
                Some(preemptions) => (Some(preemptions), None),
                None => (None, Some(bound(bounds, "delays ")?)),
            },
        };
        Some(Strategy::Dfs {
            preemptions,
            delays,
        })
    }
}

/// The text between `prefix` and a closing parenthesis that ends `text`.
fn inside<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.strip_prefix(prefix)?.strip_suffix(')')
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::RunUntilBlock => f.write_str("run"),
            Strategy::Random => f.write_str("random"),
            Strategy::Pct { depth } => write!(f, "pct(depth {depth})"),
            Strategy::PctRandomDepth => f.write_str("pct(random depth)"),
            Strategy::Urw => f.write_str("urw"),
            Strategy::Surw => f.write_str("surw"),
            Strategy::Pos => f.write_str("pos"),
            Strategy::Dfs {
                preemptions,
                delays,
            } => match (preemptions, delays) {
                (None, None) => f.write_str("dfs"),
                (Some(preemptions), None) => write!(f, "dfs(preemptions {preemptions})"),
                (None, Some(delays)) => write!(f, "dfs(delays {delays})"),
                (Some(preemptions), Some(delays)) => {
                    write!(f, "dfs(preemptions {preemptions}, delays {delays})")
                }
            },
            Strategy::Portfolio => f.write_str("portfolio"),
            Strategy::Replay => f.write_str("replay"),
            Strategy::Minimized { from } => write!(f, "minimize({from})"),
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
///
/// # Independent executions
/// An exploration may run its executions on several kernel threads, each with its own
/// scheduler built from the same strategy and seed, each taking some of the iterations. That
/// gives the same schedules as one serial run only if execution `i`'s choices depend on the
/// seed, on `i` and on what the scheduler learnt from execution 1 (a calibration run), and
/// never on executions `2..i`. A scheduler for which that holds says so with
/// [`Scheduler::independent_executions`]; a scheduler on another kernel thread then runs
/// execution 1 first (to learn what it learns there), and may skip any others before `i`.
/// Every strategy of reel's but DFS (which enumerates, so each schedule follows from the
/// previous one) is independent.
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

    /// What the execution begun last runs, for its trace's header, when that says more than
    /// [`Scheduler::describe`]: the portfolio names its member, as `portfolio(surw)`. `None`
    /// (the default) when the strategy's own name says it all.
    fn describe_execution(&self) -> Option<String> {
        None
    }

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

    /// Whether execution `i`'s choices depend only on the seed, on `i` and on what was learnt
    /// in execution 1 (see [Independent executions](Scheduler#independent-executions)), so
    /// that executions may be shared out among schedulers on several kernel threads.
    /// `false` (the default) keeps an exploration with this scheduler serial.
    fn independent_executions(&self) -> bool {
        false
    }

    /// Whether execution 1 teaches this scheduler something the later executions depend on
    /// (a calibration run: PCT's step bound, URW's and SURW's estimates). A kernel thread or
    /// a shard that does not run execution 1 as its own then runs it first, unreported.
    /// `true` (the default) is always correct; `false` saves that run.
    fn learns_from_first_execution(&self) -> bool {
        true
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

/// A draw in `[0, bound)` from a 64-bit random number (Lemire's multiply-shift, no
/// division). `bound` must not be 0.
#[inline]
pub(crate) fn below(random: u64, bound: u64) -> u64 {
    debug_assert!(bound > 0);
    ((u128::from(random) * u128::from(bound)) >> 64) as u64
}

/// Whether a step on an object may change it, for deciding which steps race: as
/// [`Op::writes`], except that a thread paused at a blocked step retries the operation that
/// blocked (a blocked lock is a lock), and an unlock's effect comes before its step, so that
/// a thread paused there races with nothing ([`Decision::next_step`]).
pub(crate) fn step_races(a: Op, b: Op) -> bool {
    fn writes(op: Op) -> Option<bool> {
        match op {
            Op::Unlock | Op::ReadUnlock | Op::WriteUnlock => None,
            Op::Block(Blocker::ReadLock(_)) => Some(false),
            Op::Block(_) => Some(true),
            op => Some(op.writes()),
        }
    }
    match (writes(a), writes(b)) {
        (Some(a), Some(b)) => a || b,
        _ => false,
    }
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
        for (strategy, spelling) in [
            (Strategy::RunUntilBlock, "run"),
            (Strategy::Random, "random"),
            (Strategy::Pct { depth: 3 }, "pct(depth 3)"),
            (Strategy::PctRandomDepth, "pct(random depth)"),
            (Strategy::Urw, "urw"),
            (Strategy::Surw, "surw"),
            (Strategy::Pos, "pos"),
            (
                Strategy::Dfs {
                    preemptions: None,
                    delays: None,
                },
                "dfs",
            ),
            (
                Strategy::Dfs {
                    preemptions: Some(2),
                    delays: None,
                },
                "dfs(preemptions 2)",
            ),
            (
                Strategy::Dfs {
                    preemptions: None,
                    delays: Some(0),
                },
                "dfs(delays 0)",
            ),
            (
                Strategy::Dfs {
                    preemptions: Some(1),
                    delays: Some(3),
                },
                "dfs(preemptions 1, delays 3)",
            ),
            (Strategy::Portfolio, "portfolio"),
            (Strategy::Replay, "replay"),
            (
                Strategy::Minimized {
                    from: Box::new(Strategy::Random),
                },
                "minimize(random)",
            ),
            (
                Strategy::Minimized {
                    from: Box::new(Strategy::Custom("mine".to_owned())),
                },
                "minimize(mine)",
            ),
            (
                Strategy::Custom("always switch".to_owned()),
                "always switch",
            ),
        ] {
            assert_eq!(strategy.to_string(), spelling);
            assert_eq!(Strategy::parse(spelling), strategy);
        }
    }

    #[test]
    fn a_portfolio_execution_reads_back_as_the_portfolio() {
        for member in ["surw", "pos", "pct(random depth)", "urw", "random"] {
            assert_eq!(
                Strategy::parse(&format!("portfolio({member})")),
                Strategy::Portfolio
            );
        }
        assert_eq!(
            Strategy::parse("portfolio(dfs)"),
            Strategy::Custom("portfolio(dfs)".to_owned())
        );
    }

    #[test]
    fn malformed_spellings_are_custom() {
        for text in [
            "pct(depth 0)",
            "pct(depth x)",
            "dfs(preemptions)",
            "dfs(delays -1)",
            "dfs(delays 1, preemptions 2)",
            "dfs(preemptions 1,delays 2)",
            "dfs(preemptions 99999999999)",
            "portfolio()",
            "minimize(minimize(random))",
        ] {
            assert_eq!(Strategy::parse(text), Strategy::Custom(text.to_owned()));
        }
    }
}
