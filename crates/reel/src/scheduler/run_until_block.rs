//! The plain runtime's policy: keep running the current thread until it blocks, yields,
//! exits or is preempted at the end of its time slice, then hand over round-robin in
//! thread-id order; among threads of different priorities, strictly the highest first.

use super::Strategy;
use super::{Decision, Scheduler};
use crate::runtime::vocabulary::ThreadId;

/// Runs each thread until it blocks, yields or exits; then the next runnable thread in
/// id order. This is what a cooperative many-to-one runtime does.
#[derive(Debug, Default)]
pub struct RunUntilBlock {
    last: Option<ThreadId>,
}

impl RunUntilBlock {
    /// A run-until-block scheduler.
    pub fn new() -> RunUntilBlock {
        RunUntilBlock::default()
    }
}

impl RunUntilBlock {
    /// Strict priority: the current thread if it is among the runnable threads of the
    /// highest priority and does not yield; else the next of those after it (or after the
    /// last one picked) in id order.
    #[cold]
    fn highest_priority(&self, decision: &Decision<'_>) -> ThreadId {
        let top = decision
            .runnable
            .iter()
            .map(|thread| decision.priority(thread))
            .max()
            .expect("a decision has a runnable thread");
        let eligible: Vec<ThreadId> = decision
            .runnable
            .iter()
            .filter(|&thread| decision.priority(thread) == top)
            .collect();
        if let Some(current) = decision.current
            && !decision.yielding
            && eligible.contains(&current)
        {
            return current;
        }
        let after = decision
            .current
            .or(self.last)
            .unwrap_or(ThreadId::from_index(0));
        eligible
            .iter()
            .copied()
            .find(|thread| *thread > after)
            .unwrap_or(eligible[0])
    }
}

impl Scheduler for RunUntilBlock {
    fn begin_execution(&mut self, _iteration: usize) {
        self.last = None;
    }

    fn keeps_running_thread(&self) -> bool {
        true
    }

    #[inline]
    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        if decision.priorities_differ() {
            let next = self.highest_priority(decision);
            self.last = Some(next);
            return next;
        }
        let next = match decision.current {
            Some(current) if !decision.yielding => current,
            Some(current) => decision.runnable.next_after(current).unwrap_or(current),
            None => {
                let after = self.last.unwrap_or(ThreadId::from_index(0));
                decision
                    .runnable
                    .next_after(after)
                    .expect("a decision has a runnable thread")
            }
        };
        self.last = Some(next);
        next
    }

    fn describe(&self) -> String {
        self.strategy().to_string()
    }

    fn strategy(&self) -> Strategy {
        Strategy::RunUntilBlock
    }

    fn independent_executions(&self) -> bool {
        true
    }
}
