//! The plain runtime's policy: keep running the current thread until it blocks, yields or
//! exits, then hand over round-robin in thread-id order.

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

impl Scheduler for RunUntilBlock {
    fn begin_execution(&mut self, _iteration: usize) {
        self.last = None;
    }

    fn keeps_running_thread(&self) -> bool {
        true
    }

    #[inline]
    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
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
