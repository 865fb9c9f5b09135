//! The report of an exploration and how it prints: the failure, the seed and iteration, the
//! saved trace and the commands that replay it.

use std::fmt;
use std::path::PathBuf;

use super::Shard;
use crate::minimize::{self, Minimized};
use crate::runtime::failure::Failure;
use crate::scheduler::Strategy;

/// The result of an exploration.
#[derive(Clone, Debug)]
pub struct Report {
    /// The strategy used (its spelling: "random", "pct(depth 3)", a custom scheduler's name).
    pub strategy: Strategy,
    /// The seed the exploration ran with.
    pub seed: u64,
    /// How many executions ran (of this shard's share, under a shard; up to the failure,
    /// when one was found).
    pub iterations: usize,
    /// The 1-based execution that failed first, if one did.
    pub iteration: Option<usize>,
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// The test that explored, when run by the test harness (which names its threads after
    /// the tests).
    pub test_name: Option<String>,
    /// Where the failing execution's trace was saved.
    pub trace: Option<PathBuf>,
    /// Why it could not be saved, if it could not.
    pub trace_error: Option<String>,
    /// The trace this report comes from, when REEL_REPLAY replayed one instead of exploring.
    pub replayed: Option<PathBuf>,
    /// Whether the strategy ran out of schedules before the iterations did: every schedule
    /// it can tell apart was explored.
    pub exhausted: bool,
    /// The shrunk schedule of the failure and where it was saved, or why it could not be
    /// shrunk ([`Checker::minimize`](super::Checker::minimize), or REEL_MINIMIZE).
    pub minimized: Option<Result<(Minimized, PathBuf), String>>,
    /// The signals that arrived in the failing execution, and after which steps
    /// ([`Checker::signal`](super::Checker::signal)).
    pub signals: Vec<reel_trace::SignalArrival>,
    /// The shard of the iterations this exploration ran (REEL_SHARD, [`super::Checker::shard`]),
    /// if it ran one.
    pub shard: Option<Shard>,
}

impl Report {
    /// Whether a failure was found.
    pub fn found(&self) -> bool {
        self.failure.is_some()
    }

    /// ", shard 2/4" under a shard, else "".
    fn shard_note(&self) -> String {
        match self.shard {
            Some(shard) => format!(", shard {shard}"),
            None => String::new(),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (None, Some(minimized)) = (&self.failure, &self.minimized) {
            return minimize::describe(f, minimized);
        }
        match (&self.failure, self.iteration, &self.replayed) {
            (Some(failure), _, Some(path)) => {
                writeln!(
                    f,
                    "reel replayed {} ({}) and reproduced its failure:",
                    path.display(),
                    self.strategy
                )?;
                write!(f, "{failure}")
            }
            (Some(failure), Some(iteration), None) => {
                writeln!(
                    f,
                    "reel found a failure in execution {iteration} of the exploration \
                     (strategy {}, seed {:#x}{})",
                    self.strategy,
                    self.seed,
                    self.shard_note()
                )?;
                write!(f, "{failure}")?;
                for arrival in &self.signals {
                    writeln!(f, "signal: {arrival}")?;
                }
                let rerun = match &self.test_name {
                    Some(test) => format!(" cargo test {test} -- --exact"),
                    None => String::new(),
                };
                let shard = match self.shard {
                    Some(shard) => format!(" REEL_SHARD={shard}"),
                    None => String::new(),
                };
                writeln!(
                    f,
                    "reproduce: REEL_SEED={:#x} REEL_ITERATIONS={iteration}{shard}{rerun} \
                     (the same seed gives the same schedules)",
                    self.seed
                )?;
                if let Some(path) = &self.trace {
                    let text = path.display().to_string();
                    let command = match &self.test_name {
                        Some(test) => format!("cargo test {} -- --exact", shell_word(test)),
                        None => std::env::args()
                            .map(|arg| shell_word(&arg))
                            .collect::<Vec<_>>()
                            .join(" "),
                    };
                    let quoted = shell_word(&text);
                    writeln!(f, "trace saved: {text}")?;
                    writeln!(f, "replay it:   reel replay {quoted}")?;
                    writeln!(f, "debug it:    reel debug {quoted}")?;
                    writeln!(
                        f,
                        "  (or, without the reel command: REEL_REPLAY={quoted} {command})"
                    )?;
                }
                if let Some(error) = &self.trace_error {
                    writeln!(f, "the trace could not be saved: {error}")?;
                }
                if let Some(minimized) = &self.minimized {
                    minimize::describe(f, minimized)?;
                }
                Ok(())
            }
            (None, _, Some(path)) => writeln!(
                f,
                "reel replayed {} ({}): the run ends without a failure, as recorded",
                path.display(),
                self.strategy
            ),
            _ if self.exhausted => writeln!(
                f,
                "reel explored all {} schedules{} (strategy {}) and found no failure",
                self.iterations,
                bounds(&self.strategy),
                self.strategy
            ),
            _ => match self.shard {
                Some(shard) if self.iterations == 0 && shard.index() != 1 => writeln!(
                    f,
                    "reel left this exploration to shard 1/{} (strategy {}: each execution \
                     follows from the one before, so one shard runs them all)",
                    shard.count(),
                    self.strategy
                ),
                _ => writeln!(
                    f,
                    "reel explored {} executions (strategy {}, seed {:#x}{}) and found no \
                     failure",
                    self.iterations,
                    self.strategy,
                    self.seed,
                    self.shard_note()
                ),
            },
        }
    }
}

/// The bounds of a bounded search, as " with at most 2 preemptions", or "".
fn bounds(strategy: &Strategy) -> String {
    let Strategy::Dfs {
        preemptions,
        delays,
    } = strategy
    else {
        return String::new();
    };
    let plural = |count: usize, what: &str| match count {
        1 => format!("1 {what}"),
        count => format!("{count} {what}s"),
    };
    match (preemptions, delays) {
        (None, None) => String::new(),
        (Some(preemptions), None) => {
            format!(" with at most {}", plural(*preemptions, "preemption"))
        }
        (None, Some(delays)) => format!(" with at most {}", plural(*delays, "delay")),
        (Some(preemptions), Some(delays)) => format!(
            " with at most {} and {}",
            plural(*preemptions, "preemption"),
            plural(*delays, "delay")
        ),
    }
}

/// `word` as a shell reads it back: as it is when it needs no quoting, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"/._-+:=,@%".contains(&byte));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("/t/a-b_c.reel"), "/t/a-b_c.reel");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
