//! Depth-first enumeration of schedules, optionally bounded in preemptions (CHESS;
//! Musuvathi, Qadeer, PLDI 2007) and in delays (Emmi, Qadeer, Rakamarić, POPL 2011).
//!
//! The search keeps a stack of the decisions of the current schedule, each with the choices
//! it allows and the one taken. An execution replays the stack's choices, then takes the
//! first choice at every new decision, pushing it. After the execution, the deepest decision
//! with a choice left moves to its next one, and everything after it is forgotten: the next
//! execution replays the prefix and branches there. No schedule is run twice, and when no
//! decision has a choice left the search is exhausted.
//!
//! The first choice at a decision is what a round-robin scheduler would do: keep the thread
//! that is running, or, when it blocked, exited or yielded, take the next runnable thread in
//! id order after it. The others follow in round-robin order from there. Taking another
//! thread while the running one could go on (not yielding) is a *preemption*; taking the
//! i-th thread in that order is *i delays*. With bounds, a choice that would exceed either
//! is not taken.
//!
//! The search relies on the program doing the same thing under the same schedule. If a
//! replayed choice cannot run (the program took another path), the rest of the stack is
//! forgotten and the search goes on from there.

use super::{Decision, Scheduler, Strategy, ThreadId};

/// One choice at a decision.
#[derive(Clone, Copy, Debug)]
struct Choice {
    thread: ThreadId,
    preemption: bool,
    delays: usize,
}

/// A decision of the current schedule: its choices, `choices[start..start + len]`, and the
/// one taken.
#[derive(Clone, Copy, Debug)]
struct Point {
    start: usize,
    len: usize,
    taken: usize,
}

/// Depth-first search over schedules, with optional preemption and delay bounds.
#[derive(Debug)]
pub struct DfsScheduler {
    preemption_bound: Option<usize>,
    delay_bound: Option<usize>,
    points: Vec<Point>,
    /// The choices of every point, one after the other.
    choices: Vec<Choice>,
    /// How many points this execution has passed.
    depth: usize,
    /// Preemptions and delays taken so far in this execution.
    preemptions: usize,
    delays: usize,
    exhausted: bool,
}

impl DfsScheduler {
    /// A search with at most `preemption_bound` preemptions and `delay_bound` delays per
    /// schedule (`None`: unbounded).
    pub fn new(preemption_bound: Option<usize>, delay_bound: Option<usize>) -> DfsScheduler {
        DfsScheduler {
            preemption_bound,
            delay_bound,
            points: Vec::new(),
            choices: Vec::new(),
            depth: 0,
            preemptions: 0,
            delays: 0,
            exhausted: false,
        }
    }

    fn allowed(&self, choice: &Choice) -> bool {
        let preemptions = self.preemptions + usize::from(choice.preemption);
        self.preemption_bound
            .is_none_or(|bound| preemptions <= bound)
            && self
                .delay_bound
                .is_none_or(|bound| self.delays + choice.delays <= bound)
    }

    /// Pushes a new decision with the choices the bounds allow.
    fn push_point(&mut self, decision: &Decision<'_>) -> Choice {
        let running = decision.current.filter(|_| !decision.yielding);
        let first = match running {
            Some(current) => current,
            None => decision
                .runnable
                .next_after(decision.stepping)
                .expect("a decision has a runnable thread"),
        };
        let start = self.choices.len();
        let mut thread = first;
        for delays in 0..decision.runnable.len() {
            let choice = Choice {
                thread,
                preemption: running.is_some_and(|current| current != thread),
                delays,
            };
            if self.allowed(&choice) {
                self.choices.push(choice);
            }
            thread = decision
                .runnable
                .next_after(thread)
                .expect("a decision has a runnable thread");
        }
        assert!(
            self.choices.len() > start,
            "the round-robin choice is always allowed"
        );
        self.points.push(Point {
            start,
            len: self.choices.len() - start,
            taken: 0,
        });
        self.choices[start]
    }
}

impl Scheduler for DfsScheduler {
    fn begin_execution(&mut self, iteration: usize) {
        if iteration == 1 {
            self.points.clear();
            self.choices.clear();
            self.exhausted = false;
        }
        self.depth = 0;
        self.preemptions = 0;
        self.delays = 0;
    }

    fn end_execution(&mut self, _steps: u64) {
        // Decisions past the end of this execution belong to another path.
        self.forget_from(self.depth);
        while let Some(point) = self.points.last_mut() {
            if point.taken + 1 < point.len {
                point.taken += 1;
                return;
            }
            let start = point.start;
            self.points.pop();
            self.choices.truncate(start);
        }
        self.exhausted = true;
    }

    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        let choice = match self.points.get(self.depth) {
            Some(point) => {
                let choice = self.choices[point.start + point.taken];
                if decision.runnable.contains(choice.thread) {
                    choice
                } else {
                    // The program took another path under the same schedule.
                    self.forget_from(self.depth);
                    self.push_point(decision)
                }
            }
            None => self.push_point(decision),
        };
        self.depth += 1;
        self.preemptions += usize::from(choice.preemption);
        self.delays += choice.delays;
        choice.thread
    }

    fn describe(&self) -> String {
        self.strategy().to_string()
    }

    fn strategy(&self) -> Strategy {
        Strategy::Dfs {
            preemptions: self.preemption_bound,
            delays: self.delay_bound,
        }
    }

    fn exhausted(&self) -> bool {
        self.exhausted
    }
}

impl DfsScheduler {
    /// Forgets the decisions from `depth` on.
    fn forget_from(&mut self, depth: usize) {
        if let Some(point) = self.points.get(depth) {
            self.choices.truncate(point.start);
            self.points.truncate(depth);
        }
    }
}
