//! The idle wait when every thread waits and some wait for I/O (rules 4 and 5 of the
//! parent module): one wait of the driver, bounded by the next timer, a planned signal and
//! the exploration's patience.

use std::time::{Duration, Instant};

use super::IoState;
use crate::runtime::clock::Clock;
use crate::runtime::execution::Execution;
use crate::runtime::execution::step::Action;
use crate::runtime::io::interest;
use crate::runtime::os_signals;

/// How many times the patience (rule 5) a wait lasts while a file operation or a helper job
/// is in flight: an `fsync` or a long job is slow, not stuck.
const JOB_PATIENCE_FACTOR: u32 = 15;

impl Execution {
    /// Whether a thread waits for a file operation or a helper job in flight.
    fn job_in_flight(&self) -> bool {
        self.io
            .waiting
            .iter()
            .any(|&(_, _, wanted)| wanted & interest::DONE != 0)
    }

    /// Rule 4: every thread waits, some for I/O. `Some(Some(action))` when the execution
    /// stops, `Some(None)` when a thread can run now (or the oracle is to be asked), `None`
    /// when timers are due or nobody waits for I/O (the timers and the other waits go on as
    /// before).
    #[cold]
    #[inline(never)]
    pub(in crate::runtime::execution) fn idle_for_io(&mut self) -> Option<Option<Action>> {
        if !self.waits_for_io() {
            return None;
        }
        if !self.fires_own_timers {
            return Some(None); // A replay: the oracle ends the waits.
        }
        // Planned signals still to come arrive when every thread waits: first only look.
        let mut only_look = self.planned_arrivals() > 0;
        // Only a patience or a virtual timer waiting for a job counts the time idle.
        let idle_since = (self.config.io_patience.is_some() || !matches!(self.clock, Clock::Real))
            .then(Instant::now);
        let idle = || idle_since.map_or(Duration::ZERO, |since| since.elapsed());
        loop {
            let real = matches!(self.clock, Clock::Real);
            let in_flight = self.job_in_flight();
            // What is left of the patience (rule 5), if there is one.
            let patience_left = self.config.io_patience.map(|patience| {
                let factor = if in_flight { JOB_PATIENCE_FACTOR } else { 1 };
                patience.saturating_mul(factor).saturating_sub(idle())
            });
            let timeout = match self.timers.first() {
                _ if only_look => Some(Duration::ZERO),
                None => patience_left,
                Some(&(deadline, _)) if real => {
                    let now = self.clock.now_nanos();
                    if deadline <= now {
                        return None; // A timer is due: it goes first.
                    }
                    Some(Duration::from_nanos(deadline - now))
                }
                // Virtual time: the timer waits for a job in flight as long as it has left,
                // and no longer than the patience.
                Some(&(deadline, _)) if in_flight => {
                    let left =
                        Duration::from_nanos(deadline.saturating_sub(self.clock.now_nanos()))
                            .saturating_sub(idle());
                    Some(patience_left.map_or(left, |patience_left| left.min(patience_left)))
                }
                Some(_) => Some(Duration::ZERO),
            };
            let signal_mask = self.signals.os_mask();
            let pipe = if signal_mask != 0 {
                os_signals::pipe_for_wait(signal_mask)
            } else {
                None
            };
            // An arrival already noted: only look.
            let timeout = if signal_mask != 0 && pipe.is_none() {
                Some(Duration::ZERO)
            } else {
                timeout
            };
            if let Err(error) = self.io.driver() {
                panic!("reel: cannot make the I/O driver: {error}");
            }
            // Idle until I/O, a signal or the deadline: not a stall.
            self.set_watched(false);
            let signalled = {
                let IoState {
                    driver, reported, ..
                } = &mut self.io;
                let driver = driver.as_mut().expect("made above");
                driver.wait(timeout, pipe, reported)
            };
            self.set_watched(true);
            if signalled {
                os_signals::drain_pipe();
            }
            self.io.note_reported(self.step);
            if let Some(action) = self.deliver_due_io() {
                return Some(Some(action));
            }
            if signal_mask != 0
                && let Some(action) = self.deliver_due_signals()
            {
                return Some(Some(action));
            }
            if !self.runnable.is_empty() {
                return Some(None);
            }
            if only_look {
                // Nothing ready now: a planned signal arrives (or none can, and the wait
                // goes on).
                only_look = false;
                if let Some(settled) = self.idle_for_signals() {
                    return Some(settled);
                }
                continue;
            }
            if timeout == Some(Duration::ZERO) {
                if !self.timers.is_empty() {
                    return None; // Virtual time: the timers fire.
                }
                if self.config.io_patience.is_some() {
                    return None; // Patience ran out (rule 5): a deadlock, unless a signal comes.
                }
            }
        }
    }
}
