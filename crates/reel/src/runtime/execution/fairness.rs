//! Fair plain runs and the watchdog's reports: time-slice preemption (an input, recorded and
//! replayed at the same step), strict priorities, the spin detector's view of who could
//! run, and head-of-line stall reports.

use std::sync::Arc;

use super::super::failure::{FailureKind, Location};
use super::super::seams::{Input, StallEvent};
use super::super::vocabulary::{ObjectKind, ThreadId};
use super::super::watchdog::{self, STALL, TICK, TICKS_PER_SLICE};
use super::Execution;
use super::step::Action;

impl Execution {
    /// The watchdog flagged a tick or a stall: count the tick toward the running thread's
    /// time slice (preempting it when the slice is used up) and report the stall. `Some`
    /// when the current thread is switched away from.
    #[cold]
    #[inline(never)]
    pub(super) fn on_watch_flags(&mut self) -> Option<Action> {
        let flags = self.watchdog.as_ref()?.take_flags();
        if flags & STALL != 0 {
            self.report_stall();
            if self.failure.is_some() {
                return Some(self.switch_away());
            }
        }
        if flags & TICK != 0 && self.slicing && !self.quiet {
            self.slice_ticks += 1;
            if self.slice_ticks >= TICKS_PER_SLICE && self.may_preempt() {
                self.slice_ticks = 0;
                return Some(self.preempt());
            }
        }
        None
    }

    /// Tells the watchdog whether a green thread runs (not idle, not paused): only then is
    /// a missing step a stall.
    pub(super) fn set_watched(&self, active: bool) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.set_active(active);
        }
    }

    /// Reports a stall sampled just before the execution ended (main's last stretch).
    pub(super) fn report_pending_stall(&mut self) {
        if let Some(watchdog) = &self.watchdog
            && watchdog.take_flags() & STALL != 0
        {
            self.report_stall();
        }
    }

    /// Tells the watchdog which green thread runs now (whom a stall is blamed on).
    #[inline]
    pub(super) fn note_running(&self, thread: usize) {
        if let Some(watchdog) = &self.watchdog {
            watchdog
                .running
                .store(thread as u32, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A new thread runs: its time slice starts.
    #[inline]
    pub(super) fn start_slice(&mut self) {
        self.slice_ticks = 0;
    }

    /// Whether the current thread can run and another of at least its priority could run
    /// instead (preempting it in favour of nobody would only fill the trace).
    fn may_preempt(&self) -> bool {
        let current = self.current;
        self.runnable.contains(ThreadId::from_index(current))
            && self.runnable.iter().any(|thread| {
                thread.index() != current
                    && self.threads[thread.index()].priority >= self.threads[current].priority
            })
    }

    /// The current thread's time slice ran out: the observers hear of the preemption (the
    /// recorder writes it), then the decider picks as if the thread yielded.
    fn preempt(&mut self) -> Action {
        let thread = ThreadId::from_index(self.current);
        self.tell_input(Input::Preempt(thread), || {
            format!("{thread}'s time slice runs out")
        });
        if self.halt.is_some() {
            return self.switch_away();
        }
        self.consult_decider(true)
    }

    /// A replay's oracle delivers a recorded preemption: the current thread must be the
    /// one preempted, and runnable. `Some` when the execution stops here.
    pub(super) fn deliver_preemption(&mut self, thread: ThreadId) -> Option<Action> {
        if thread.index() != self.current || !self.runnable.contains(thread) {
            let actual = format!(
                "{} runs, not {}",
                self.short_thread(self.current),
                match self.threads.get(thread.index()) {
                    Some(_) => self.short_thread(thread.index()),
                    None => format!("{thread} (no such thread)"),
                }
            );
            self.stop_on(self.decider.mismatch(), actual);
            return Some(self.switch_away());
        }
        self.tell_input(Input::Preempt(thread), || {
            format!("{thread}'s time slice runs out")
        });
        self.halt.is_some().then(|| self.switch_away())
    }

    /// Tells the observers of an input; the first that refuses it stops the execution.
    fn tell_input(&mut self, input: Input, actual: impl FnOnce() -> String) {
        if self.observers.is_empty() || self.quiet {
            return;
        }
        for position in 0..self.observers.len() {
            if let Err(mismatch) = self.observers[position].on_input(input) {
                self.stop_on(mismatch, actual());
                return;
            }
        }
    }

    /// Gives thread `index` a priority (strict priority in plain runs: a runnable thread of
    /// a higher priority always runs first).
    pub(crate) fn set_priority(&mut self, index: usize, priority: i32) {
        self.threads[index].priority = priority;
        if priority != 0 {
            self.priorities_differ = true;
        }
    }

    /// Whether a spinning current thread can never be preempted in favour of the threads
    /// that could end its spin: slicing is off, or every other runnable thread has a lower
    /// priority (a priority inversion).
    pub(super) fn spinner_is_stuck(&self) -> bool {
        if !self.slicing {
            return true;
        }
        let current = self.current;
        let priority = self.threads[current].priority;
        self.runnable.iter().all(|thread| {
            thread.index() == current || self.threads[thread.index()].priority < priority
        })
    }

    /// The spin report's account of priorities, when they are the reason the spin cannot
    /// end: the spinner's priority, and who holds what it spins on (a lock's holder) or
    /// could change it, with theirs.
    pub(super) fn inversion_note(&self, object: Option<super::ObjectId>) -> Option<String> {
        if !self.priorities_differ {
            return None;
        }
        let current = self.current;
        let describe = |thread: usize| {
            format!(
                "{} (priority {})",
                self.thread_info(thread),
                self.threads[thread].priority
            )
        };
        let holder = object.and_then(|object| {
            let state = &self.objects[object.index()];
            matches!(state.kind, ObjectKind::Mutex | ObjectKind::RwLock)
                .then_some(state.owner)
                .flatten()
                .filter(|&owner| owner != current)
        });
        let others: Vec<String> = match holder {
            Some(owner) => vec![describe(owner)],
            None => self
                .runnable
                .iter()
                .filter(|thread| thread.index() != current)
                .map(|thread| describe(thread.index()))
                .collect(),
        };
        let what = if holder.is_some() {
            "which is held by"
        } else {
            "which only lower-priority threads could change:"
        };
        Some(format!(
            "a priority inversion: {} spins on {} {what} {}, and strict priority never lets \
             a lower-priority thread run while a higher one can. Block instead of spinning \
             (Mutex::lock, a Condvar), or give the holder the spinner's priority while it \
             holds the lock",
            describe(current),
            object
                .map(|object| self.object_name(object))
                .unwrap_or_else(|| "a value".to_owned()),
            others.join(", ")
        ))
    }

    /// The watchdog sampled a stall that has just ended: report it on stderr, tell the
    /// observers (the recorder writes it), and fail the execution if asked to. A stall
    /// nobody waited for (no other thread ready, no timer due) is not reported.
    #[cold]
    fn report_stall(&mut self) {
        let Some(watchdog) = self.watchdog.as_ref().map(Arc::clone) else {
            return;
        };
        let Some(sample) = watchdog.take_sample() else {
            return;
        };
        // Symbolizing (the first time, reading the debug information) and printing take a
        // while: not a stall of the program.
        self.set_watched(false);
        self.report_sample(&watchdog, sample);
        self.set_watched(true);
    }

    /// Reports what the watchdog sampled (see `report_stall`).
    fn report_sample(
        &mut self,
        watchdog: &super::super::watchdog::Shared,
        mut sample: watchdog::StallSample,
    ) {
        let symbolized = watchdog::symbolize(watchdog);
        let program_location = symbolized.location;
        if sample.syscall.is_none() {
            sample.syscall = symbolized.syscall;
        }
        // The thread that held the kernel thread; the step that ended the stall is normally
        // its own, but the watchdog may have sampled just as it was taken.
        let current = if sample.thread < self.threads.len() {
            sample.thread
        } else {
            self.current
        };
        let ready = self
            .runnable
            .iter()
            .filter(|thread| thread.index() != current)
            .count();
        let now = self.clock.now_nanos();
        let timer_due = self
            .timers
            .first()
            .is_some_and(|&(deadline, _)| deadline <= now);
        if ready == 0 && !timer_due {
            return;
        }
        let where_text = match (&program_location, self.threads[current].location) {
            (Some((file, line, _)), _) => format!(" at {file}:{line}"),
            (None, Some(step)) => format!(
                " (somewhere after its step at {}:{})",
                step.file(),
                step.line()
            ),
            (None, None) => String::new(),
        };
        let doing = match &sample.syscall {
            Some(syscall) => format!("in {syscall}(2)"),
            None => "computing".to_owned(),
        };
        let waited = match ready {
            0 => "a timer was due and waited".to_owned(),
            1 => "1 green thread was ready and waited".to_owned(),
            count => format!("{count} green threads were ready and waited"),
        };
        // Whole milliseconds, or tenths under 10 ms (a stall below the default threshold
        // is one of a lowered threshold, and "0 ms" would say nothing).
        let held = if sample.held < std::time::Duration::from_millis(10) {
            format!("{:.1}", sample.held.as_secs_f64() * 1000.0)
        } else {
            sample.held.as_millis().to_string()
        };
        let message = format!(
            "head-of-line blocking: {} held the kernel thread for {held} ms {doing}{where_text}; \
             {waited}. {}",
            self.short_thread(current),
            advice(sample.syscall.as_deref())
        );
        eprintln!("reel: {message}");
        let event = StallEvent {
            thread: ThreadId::from_index(current),
            duration: sample.held,
            syscall: sample.syscall.clone(),
            location: program_location.clone(),
            ready: u32::try_from(ready).unwrap_or(u32::MAX),
        };
        if !self.observers.is_empty() && !self.quiet {
            for observer in &mut self.observers {
                observer.on_stall(&event);
            }
        }
        if self.config.fail_on_stall {
            let mut failure =
                super::super::failure::Failure::new(FailureKind::Stall, self.step, message);
            failure.thread = Some(self.thread_info(current));
            failure.location = match program_location {
                Some((file, line, column)) => Some(Location { file, line, column }),
                None => self.threads[current].location.map(Location::from_std),
            };
            self.fail(failure);
        }
    }
}

/// What to do about a stall in `syscall` (`None`: a computation).
fn advice(syscall: Option<&str>) -> &'static str {
    match syscall {
        Some("nanosleep" | "clock_nanosleep") => {
            "Sleep with reel::thread::sleep, which lets the other green threads run meanwhile."
        }
        Some(_) => {
            "A blocking call on the runtime's kernel thread stops every green thread: use a \
             non-blocking form of it, or run the call on a helper kernel thread (std::thread) \
             so that the green threads go on while it waits."
        }
        None => {
            "A computation with no scheduling point holds every green thread: call \
             reel::thread::yield_now() in its loop, or run it on a helper kernel thread."
        }
    }
}
