//! Timers: the deadlines of timed waits, fired by the execution's clock (exploration and
//! plain runs) or delivered by the decider (a replay), and told to the observers as inputs.

use super::super::seams::Input;
use super::super::vocabulary::{ThreadId, Wake};
use super::Execution;
use super::threads::ThreadState;

impl Execution {
    /// Whether `thread` is blocked with a deadline.
    pub(super) fn in_timed_wait(&self, thread: usize) -> bool {
        matches!(
            self.threads.get(thread).map(|slot| &slot.state),
            Some(ThreadState::Blocked {
                deadline: Some(_),
                ..
            })
        )
    }

    /// Fires the timer of `thread`, advancing a virtual clock to its deadline: an input,
    /// told to the observers.
    pub(super) fn fire_timer_of(&mut self, thread: usize) {
        if let ThreadState::Blocked {
            deadline: Some(deadline),
            ..
        } = self.threads[thread].state
        {
            self.clock.advance_to(deadline);
            self.timers.remove(&(deadline, thread));
            // While the state still says what it waited on: leave that object's queue, or a
            // later notify_one would be spent on a thread that no longer waits.
            self.remove_waiter_everywhere(thread);
            self.threads[thread].state = ThreadState::Runnable;
            self.threads[thread].woken_by = Wake::TimedOut;
            self.runnable.insert(thread);
            if !self.observers.is_empty() && !self.quiet {
                let input = Input::Timeout(ThreadId::from_index(thread));
                for position in 0..self.observers.len() {
                    if let Err(mismatch) = self.observers[position].on_input(input) {
                        let actual = format!("the timeout of {} fires", self.short_thread(thread));
                        self.stop_on(mismatch, actual);
                        return;
                    }
                }
            }
        }
    }

    /// Fires the timers that are due, and lets time pass when nothing can run; false when
    /// nothing can run and no timer is pending (a deadlock).
    #[cold]
    #[inline(never)]
    pub(super) fn settle_timers(&mut self) -> bool {
        self.fire_expired_timers();
        !self.runnable.is_empty() || self.wait_for_timer()
    }

    /// Fires every timer whose deadline has passed.
    fn fire_expired_timers(&mut self) {
        if self.timers.is_empty() {
            return;
        }
        let now = self.clock.now_nanos();
        while let Some(&(deadline, thread)) = self.timers.first() {
            if deadline > now {
                break;
            }
            self.fire_timer_of(thread);
        }
    }

    /// Nothing can run: lets time pass to the earliest deadline, if there is one.
    fn wait_for_timer(&mut self) -> bool {
        let Some(&(deadline, thread)) = self.timers.first() else {
            return false;
        };
        // Idle until the deadline: not a stall.
        self.set_watched(false);
        self.clock.sleep_until(deadline);
        self.set_watched(true);
        self.fire_timer_of(thread);
        self.fire_expired_timers();
        true
    }
}
