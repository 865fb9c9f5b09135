//! Failure diagnosis: the first failure of an execution, the last steps that led there (a
//! ring kept when a step bound may need explaining), deadlock reports with their wait-for
//! cycle, the spin detector of plain runs and the step bound's livelock report.

use std::panic::Location as StdLocation;

use super::super::failure::{BlockedThread, Failure, FailureKind, Location, StepRecord};
use super::super::vocabulary::{Blocker, ObjectId, Op};
use super::Execution;
use super::threads::ThreadState;

type Location_ = &'static StdLocation<'static>;

/// How many of the recent steps a failure report lists.
const LAST_STEPS_REPORTED: usize = 12;

/// How many recent steps are kept to name the spinning thread when the step bound is hit
/// (a power of two: step `n` lives at `(n - 1) % RECENT_STEPS`).
const RECENT_STEPS: usize = 256;

/// One remembered step: thread, operation, object, location.
#[derive(Clone, Copy)]
struct RecentStep {
    thread: u32,
    op: Op,
    object: Option<ObjectId>,
    location: Location_,
}

/// The last `RECENT_STEPS` steps, as a ring indexed by step number; empty and never written
/// when disabled (a plain run has no step bound to explain).
#[derive(Default)]
pub(super) struct RecentSteps {
    ring: Vec<RecentStep>,
    enabled: bool,
    /// Steps written since the execution began.
    written: u64,
}

impl RecentSteps {
    /// Starts an execution: enabled or not, with nothing remembered.
    pub(super) fn begin(&mut self, enabled: bool) {
        self.enabled = enabled;
        self.written = 0;
        if enabled && self.ring.capacity() < RECENT_STEPS {
            self.ring.reserve_exact(RECENT_STEPS);
        }
        self.ring.clear();
    }

    #[inline(always)]
    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Remembers step `step` (steps arrive in order).
    #[inline(always)]
    pub(super) fn push(
        &mut self,
        step: u64,
        thread: usize,
        op: Op,
        object: Option<ObjectId>,
        location: Location_,
    ) {
        let entry = RecentStep {
            thread: thread as u32,
            op,
            object,
            location,
        };
        let slot = ((step - 1) as usize) & (RECENT_STEPS - 1);
        if slot < self.ring.len() {
            self.ring[slot] = entry;
        } else {
            self.ring.push(entry);
        }
        self.written = step;
    }

    /// The remembered steps, oldest first, with their numbers.
    fn in_order(&self) -> impl Iterator<Item = (u64, &RecentStep)> + '_ {
        let count = self.ring.len() as u64;
        let first = self.written + 1 - count.min(self.written + 1);
        (first..=self.written)
            .filter(move |_| count > 0)
            .map(move |step| (step, &self.ring[((step - 1) as usize) & (RECENT_STEPS - 1)]))
    }
}

/// Counts one thread's consecutive polls: steps that look at shared state without changing
/// it for others (an atomic load, a `try_lock`, a `try_recv` or `try_iter`, a
/// `OnceLock::get`, a yield). Any other step of that thread, or another thread's poll, starts
/// the count again. A thread that only polls while others wait to run spins on a value only
/// they can change.
#[derive(Default)]
pub(super) struct SpinDetector {
    thread: Option<usize>,
    /// The first poll of the run on an object (what the report names).
    object: Option<ObjectId>,
    repeats: u64,
}

impl SpinDetector {
    /// Notes one step; returns how many polls in a row its thread has made (0 for a step
    /// that is not a poll).
    #[inline]
    pub(super) fn observe(
        &mut self,
        thread: usize,
        op: Op,
        object: Option<ObjectId>,
        _location: Location_,
    ) -> u64 {
        let polls = matches!(
            op,
            Op::AtomicLoad | Op::Lock | Op::Recv | Op::OnceCall | Op::Yield
        );
        if !polls {
            // The next poll starts a count of 1 whoever takes it (see below).
            self.repeats = 0;
            return 0;
        }
        if self.thread == Some(thread) && self.repeats > 0 {
            self.repeats += 1;
            if self.object.is_none() {
                self.object = object;
            }
        } else {
            self.thread = Some(thread);
            self.object = object;
            self.repeats = 1;
        }
        self.repeats
    }

    /// The object the current run of polls first looked at.
    pub(super) fn object(&self) -> Option<ObjectId> {
        self.object
    }
}

impl Execution {
    /// Records a failure; the first one wins.
    pub(crate) fn fail(&mut self, mut failure: Failure) {
        if self.failure.is_none() {
            failure.last_steps = self.last_steps();
            self.failure = Some(failure);
            self.quiet = true; // Rule 7.
        }
    }

    /// A failure attributed to the current thread at `location`.
    pub(crate) fn failure_here(
        &self,
        kind: FailureKind,
        message: String,
        location: &std::panic::Location<'_>,
    ) -> Failure {
        let mut failure = Failure::new(kind, self.step, message);
        failure.thread = Some(self.thread_info(self.current));
        failure.location = Some(Location::from_std(location));
        failure
    }

    /// The recent steps in order, oldest first, at most `LAST_STEPS_REPORTED`.
    fn last_steps(&self) -> Vec<StepRecord> {
        let recent: Vec<(u64, &RecentStep)> = self.recent.in_order().collect();
        let skip = recent.len().saturating_sub(LAST_STEPS_REPORTED);
        recent[skip..]
            .iter()
            .map(|&(step, entry)| StepRecord {
                step,
                thread: self.thread_info(entry.thread as usize),
                operation: self.describe_step(entry.op, entry.object),
                location: Location::from_std(entry.location),
            })
            .collect()
    }

    #[cold]
    #[inline(never)]
    pub(super) fn fail_deadlock(&mut self, kind: FailureKind, mut cycle: Vec<usize>) {
        if cycle.is_empty() {
            // Global deadlock: look for a cycle anywhere to explain it.
            cycle = (0..self.threads.len())
                .filter(|&thread| matches!(self.threads[thread].state, ThreadState::Blocked { .. }))
                .find_map(|thread| self.find_cycle(thread))
                .unwrap_or_default();
        }
        let blocked: Vec<BlockedThread> = (0..self.threads.len())
            .filter(|thread| !cycle.contains(thread))
            .filter(|&thread| matches!(self.threads[thread].state, ThreadState::Blocked { .. }))
            .map(|thread| self.describe_wait(thread))
            .collect();
        let current = self.current;
        // Threads whose I/O did not come while every thread waited (only an exploration
        // gives up on them: `io/`, rule 5).
        let waiting_for_io = (0..self.threads.len())
            .filter(|&thread| {
                matches!(
                    self.threads[thread].state,
                    ThreadState::Blocked {
                        on: Blocker::Io(_),
                        ..
                    }
                )
            })
            .count();
        let message = match (kind, cycle.len()) {
            (FailureKind::PartialDeadlock, count) => format!(
                "{count} threads wait for each other in a cycle while other threads can still run"
            ),
            (_, 0) if waiting_for_io > 0 => format!(
                "every thread is blocked; {waiting_for_io} of them {} for I/O or a helper \
                 job that did not end in time",
                if waiting_for_io == 1 { "waits" } else { "wait" }
            ),
            (_, 0) => "every thread is blocked and nothing can wake them".to_owned(),
            (_, count) => {
                format!("every thread is blocked; {count} of them wait for each other in a cycle")
            }
        };
        let mut failure = Failure::new(kind, self.step, message);
        // The thread whose block completed the deadlock; none when the last runnable thread
        // just finished (the blocked threads listed explain it).
        if let ThreadState::Blocked { location, .. } = self.threads[current].state {
            failure.thread = Some(self.thread_info(current));
            failure.location = Some(Location::from_std(location));
        }
        failure.cycle = cycle
            .iter()
            .map(|&thread| self.describe_wait(thread))
            .collect();
        failure.blocked = blocked;
        self.fail(failure);
    }

    #[cold]
    #[inline(never)]
    pub(super) fn fail_spin(
        &mut self,
        spin_limit: u64,
        object: Option<ObjectId>,
        location: Location_,
    ) {
        let current = self.current;
        let object = self.spin.object().or(object);
        if let Some(inversion) = self.inversion_note(object) {
            let message = format!(
                "{} polled {spin_limit} times in a row without another thread running: {inversion}",
                self.thread_info(current),
            );
            let failure = self.failure_here(FailureKind::StepBoundExceeded, message, location);
            self.fail(failure);
            return;
        }
        let others: Vec<String> = self
            .runnable
            .iter()
            .filter(|thread| thread.index() != current)
            .map(|thread| self.thread_info(thread.index()).to_string())
            .collect();
        let object = object
            .map(|object| self.object_name(object))
            .unwrap_or_default();
        let message = format!(
            "{} polled {object} {spin_limit} times in a row without letting another thread \
             run, while {} could: it looks like a spin on a value only they can change. With \
             time slicing off, a spinning thread is never preempted, so such a loop never \
             ends. Call reel::hint::spin_loop() or reel::thread::yield_now() in the loop, or \
             wait on a Mutex, Condvar or channel; if the loop is bounded and meant to poll \
             this often, raise or disable the limit with Runtime::spin_limit",
            self.thread_info(current),
            others.join(", ")
        );
        let failure = self.failure_here(FailureKind::StepBoundExceeded, message, location);
        self.fail(failure);
    }

    #[cold]
    #[inline(never)]
    pub(super) fn fail_step_bound(&mut self, max_steps: u64) {
        // Name the (thread, operation, location) seen most often among the recent steps: the
        // spinner.
        type Key = (u32, Op, Location_);
        let mut counts: Vec<(Key, usize)> = Vec::new();
        let remembered = self.recent.ring.len();
        for recent in &self.recent.ring {
            let key = (recent.thread, recent.op, recent.location);
            match counts.iter_mut().find(|(seen, _)| *seen == key) {
                Some((_, count)) => *count += 1,
                None => counts.push((key, 1)),
            }
        }
        let spinner = counts.iter().max_by_key(|(_, count)| *count).copied();
        let message = match spinner {
            Some(((thread, op, _), count)) => format!(
                "the execution exceeded its bound of {max_steps} steps, a likely livelock: \
                 {} spun on {} ({count} of the last {remembered} steps); raise the bound with \
                 max_steps if the program is just long",
                self.thread_info(thread as usize),
                op.name(),
            ),
            None => format!("the execution exceeded its bound of {max_steps} steps"),
        };
        let mut failure = Failure::new(FailureKind::StepBoundExceeded, self.step, message);
        if let Some(((thread, _, location), _)) = spinner {
            failure.thread = Some(self.thread_info(thread as usize));
            failure.location = Some(Location::from_std(location));
        }
        self.fail(failure);
    }
}
