//! Which threads spin: a thread that yields is waiting for another thread to change
//! something, and the priority strategies (POS, SURW) keep it below every thread that does
//! not, until it takes a step that writes (its wait is over: it got past its loop, or it
//! retries a write that may now succeed).
//!
//! Without this, a spinning thread that draws a fresh random priority at each step (as every
//! thread does in POS and SURW) keeps winning half of its decisions against the thread it
//! waits for, and SURW, which may promise the next interesting step to the spinning thread,
//! holds the others back for good: an execution that should take a few hundred steps ends in
//! the step bound. PCT implementations (and shuttle's) lower a yielding thread the same way.

use super::{Decision, ThreadId};

/// Lowest random priority of the priority strategies; the priorities of spinning threads
/// count down from below it, the latest to yield lowest.
pub(super) const PRIORITY_BAND: u64 = 1 << 62;

/// The spinning threads of one execution.
#[derive(Debug)]
pub(super) struct Spinning {
    /// By thread index.
    spinning: Vec<bool>,
    /// The priority handed to the latest thread to yield.
    floor: u64,
}

impl Default for Spinning {
    fn default() -> Spinning {
        Spinning {
            spinning: Vec::new(),
            floor: PRIORITY_BAND,
        }
    }
}

impl Spinning {
    /// Forgets every thread (a new execution).
    pub(super) fn clear(&mut self) {
        self.spinning.clear();
        self.floor = PRIORITY_BAND;
    }

    /// Notes the decision's yield, if the current thread yields; returns that thread.
    pub(super) fn note_yield(&mut self, decision: &Decision<'_>) -> Option<ThreadId> {
        let current = decision.current.filter(|_| decision.yielding)?;
        let index = current.index();
        if index >= self.spinning.len() {
            self.spinning.resize(index + 1, false);
        }
        self.spinning[index] = true;
        Some(current)
    }

    /// Whether `thread` spins.
    pub(super) fn is_spinning(&self, thread: ThreadId) -> bool {
        self.spinning.get(thread.index()).copied().unwrap_or(false)
    }

    /// `thread` was chosen to run its next step: one that writes ends its spin.
    pub(super) fn chosen(&mut self, decision: &Decision<'_>, thread: ThreadId) {
        if self.is_spinning(thread)
            && decision
                .next_step(thread)
                .is_some_and(|step| step.op.writes())
        {
            self.spinning[thread.index()] = false;
        }
    }

    /// A priority below every random one and every earlier spinner's.
    pub(super) fn low_priority(&mut self) -> u64 {
        self.floor = self.floor.saturating_sub(1).max(1);
        self.floor
    }
}
