//! Signals in an execution: the program's subscriptions (`reel::signal`), where arrivals
//! come from (the OS in a plain run, a plan under exploration, the oracle in a replay), and
//! their delivery at a decision point, which is an input told to the observers.
//!
//! # Rules
//! 1. A signal arrives only at a decision point, after a step and before the next: it is
//!    delivered there and told to the observers (`Input::Signal`, at `step`), so a trace
//!    holds (signal, step) and a replay needs nothing else.
//! 2. An arrival marks the signal pending in every open subscription that includes it, sets
//!    every flag registered for it, and wakes the threads waiting on those subscriptions.
//! 3. An arrival is delivered only while the program subscribes to it. A planned one waits
//!    for a subscription (as a blocked signal would); an OS one is only noted while the
//!    execution subscribes (`os_signals`, rule 2), and dropped when only closed
//!    subscriptions have it; a replay's arrival where the program has no subscription is a
//!    divergence.
//! 4. When every thread waits, a signal may still come: a plain run sleeps in its idle wait
//!    until one does (or a timer is due), an exploration delivers its next planned arrival
//!    there and then, and a replay asks the oracle. Only when none can come is it a deadlock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::super::os_signals;
use super::super::seams::{Input, SignalInput};
use super::super::vocabulary::ObjectId;
use super::Execution;
use super::step::Action;

/// Where an execution's signals come from.
#[derive(Clone, Debug, Default)]
pub(crate) enum SignalSource {
    /// From the operating system (a plain run): a subscription installs the OS handler.
    Os,
    /// At the steps of a plan (exploration).
    Planned(SignalPlan),
    /// Only from the decider (a replay), or none at all.
    #[default]
    Decider,
}

/// The arrivals an exploration plans for one execution, in step order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SignalPlan {
    /// (the step after which it arrives, or `u64::MAX` for "when every thread waits";
    /// signal; si_code; sender)
    pub(crate) arrivals: Vec<(u64, u32, i32, u32)>,
}

/// One subscription of the program (a `Signals`).
#[derive(Debug)]
struct Subscription {
    object: ObjectId,
    mask: u64,
    pending: u64,
    closed: bool,
}

/// The execution's signal state.
#[derive(Debug, Default)]
pub(crate) struct SignalState {
    source: SignalSource,
    subscriptions: Vec<Subscription>,
    /// `flag::register`s: (id, signal, flag).
    flags: Vec<(u64, u32, Arc<AtomicBool>)>,
    next_flag_id: u64,
    /// The step from which the plan's next arrival is due (`u64::MAX`: none, or only when
    /// every thread waits).
    next_planned: u64,
    /// Below this step no arrival can be due: `next_planned`, or 0 while the execution
    /// subscribes to OS signals (then the process-wide mask is asked). The hot path's one
    /// comparison.
    gate: u64,
    /// Signals this execution holds OS subscriptions for, each once per subscription.
    os_held: Vec<u32>,
    /// The OS signals it subscribes to now, as a mask (0 when not a plain run).
    os_mask: u64,
}

impl SignalState {
    pub(crate) fn new(source: SignalSource) -> SignalState {
        let mut state = SignalState::default();
        state.source = source;
        if let SignalSource::Planned(plan) = &mut state.source {
            plan.arrivals.sort_by_key(|arrival| arrival.0);
        }
        state.set_next_planned(state.plan_due());
        state
    }

    /// Sets the step of the plan's next arrival, and the gate with it.
    fn set_next_planned(&mut self, step: u64) {
        self.next_planned = step;
        self.gate = if self.os_mask != 0 { 0 } else { step };
    }

    fn plan_due(&self) -> u64 {
        match &self.source {
            SignalSource::Planned(plan) => plan.arrivals.first().map_or(u64::MAX, |a| a.0),
            _ => u64::MAX,
        }
    }

    /// The OS signals the execution subscribes to now (0 unless a plain run subscribes).
    pub(super) fn os_mask(&self) -> u64 {
        self.os_mask
    }

    /// Whether no arrival is due after `step` (rule 1): the hot path's one question.
    #[inline(always)]
    pub(crate) fn quiet(&self, step: u64) -> bool {
        step < self.gate || self.quiet_past_gate(step)
    }

    /// [`SignalState::quiet`] past the gate: a planned arrival is due, or the OS may have
    /// noted one.
    #[cold]
    #[inline(never)]
    fn quiet_past_gate(&self, step: u64) -> bool {
        step < self.next_planned && (self.os_mask == 0 || !os_signals::any_pending(self.os_mask))
    }

    /// The union of the open subscriptions' and flags' signals.
    fn subscribed(&self) -> u64 {
        let subscriptions = self
            .subscriptions
            .iter()
            .filter(|subscription| !subscription.closed)
            .fold(0, |mask, subscription| mask | subscription.mask);
        self.flags
            .iter()
            .fold(subscriptions, |mask, (_, signal, _)| {
                mask | os_signals::bit(*signal)
            })
    }

    /// Whether the signal can be delivered now (rule 3).
    fn wants(&self, signal: u32) -> bool {
        self.subscribed() & os_signals::bit(signal) != 0
    }

    fn hold_os(&mut self, signal: u32) -> std::io::Result<()> {
        if matches!(self.source, SignalSource::Os) {
            os_signals::subscribe(signal)?;
            self.os_held.push(signal);
            self.os_mask |= os_signals::bit(signal);
            self.set_next_planned(self.next_planned);
        }
        Ok(())
    }

    fn release_os(&mut self, signals: u64) {
        for signal in 1..=os_signals::MAX_SIGNAL {
            if signals & os_signals::bit(signal) == 0 {
                continue;
            }
            if let Some(position) = self.os_held.iter().position(|&held| held == signal) {
                self.os_held.swap_remove(position);
                os_signals::unsubscribe(signal);
            }
        }
        self.os_mask = self
            .os_held
            .iter()
            .fold(0, |mask, &signal| mask | os_signals::bit(signal));
        self.set_next_planned(self.next_planned);
    }
}

impl Drop for SignalState {
    fn drop(&mut self) {
        for signal in self.os_held.drain(..) {
            os_signals::unsubscribe(signal);
        }
    }
}

/// How `raise` reaches the program.
pub(crate) enum Raise {
    /// Send the OS signal (a plain run): it arrives through the handler.
    Os,
    /// Nothing to send: the arrival is planned (exploration) or recorded (replay).
    Done,
}

impl Execution {
    /// A new subscription on `object` to `mask`'s signals (its first, or more).
    pub(crate) fn subscribe_signals(&mut self, object: ObjectId, mask: u64) -> std::io::Result<()> {
        let known = self
            .signals
            .subscriptions
            .iter()
            .position(|subscription| subscription.object == object);
        let added = match known {
            Some(index) => mask & !self.signals.subscriptions[index].mask,
            None => mask,
        };
        for signal in 1..=os_signals::MAX_SIGNAL {
            if added & os_signals::bit(signal) != 0
                && let Err(error) = self.signals.hold_os(signal)
            {
                let done = added & (os_signals::bit(signal) - 1);
                self.signals.release_os(done);
                return Err(error);
            }
        }
        match known {
            Some(index) => self.signals.subscriptions[index].mask |= mask,
            None => self.signals.subscriptions.push(Subscription {
                object,
                mask,
                pending: 0,
                closed: false,
            }),
        }
        self.catch_up_plan();
        Ok(())
    }

    /// A subscription ends (its `Signals` was dropped).
    pub(crate) fn unsubscribe_signals(&mut self, object: ObjectId) {
        if let Some(index) = self
            .signals
            .subscriptions
            .iter()
            .position(|subscription| subscription.object == object)
        {
            let subscription = self.signals.subscriptions.swap_remove(index);
            self.signals.release_os(subscription.mask);
            self.wake_all_waiters(object);
        }
    }

    /// Registers a flag set to true when `signal` arrives; returns its id.
    pub(crate) fn register_signal_flag(
        &mut self,
        signal: u32,
        flag: Arc<AtomicBool>,
    ) -> std::io::Result<u64> {
        self.signals.hold_os(signal)?;
        self.signals.next_flag_id += 1;
        let id = self.signals.next_flag_id;
        self.signals.flags.push((id, signal, flag));
        self.catch_up_plan();
        Ok(id)
    }

    /// Removes a flag registered with [`Execution::register_signal_flag`].
    pub(crate) fn unregister_signal_flag(&mut self, id: u64) -> bool {
        let Some(index) = self.signals.flags.iter().position(|flag| flag.0 == id) else {
            return false;
        };
        let (_, signal, _) = self.signals.flags.swap_remove(index);
        self.signals.release_os(os_signals::bit(signal));
        true
    }

    /// Takes the pending signals of the subscription on `object`: `None` when it is closed
    /// and nothing is pending.
    pub(crate) fn take_pending_signals(&mut self, object: ObjectId) -> Option<u64> {
        let subscription = self
            .signals
            .subscriptions
            .iter_mut()
            .find(|subscription| subscription.object == object)?;
        let pending = std::mem::take(&mut subscription.pending);
        (pending != 0 || !subscription.closed).then_some(pending)
    }

    /// Closes the subscription on `object`: its waiters wake and its `forever` ends.
    pub(crate) fn close_signals(&mut self, object: ObjectId) {
        if let Some(subscription) = self
            .signals
            .subscriptions
            .iter_mut()
            .find(|subscription| subscription.object == object)
        {
            subscription.closed = true;
        }
        self.wake_all_waiters(object);
    }

    /// Whether the subscription on `object` is closed (or gone).
    pub(crate) fn signals_closed(&self, object: ObjectId) -> bool {
        self.signals
            .subscriptions
            .iter()
            .find(|subscription| subscription.object == object)
            .is_none_or(|subscription| subscription.closed)
    }

    /// `raise(signal)`: what the caller does next.
    pub(crate) fn raise_signal(&mut self, signal: u32) -> Raise {
        match &mut self.signals.source {
            SignalSource::Os => Raise::Os,
            SignalSource::Planned(plan) => {
                // It arrives at the next decision, as a raised signal would (si_code SI_TKILL).
                let at = self.step;
                let position = plan
                    .arrivals
                    .iter()
                    .position(|arrival| arrival.0 > at)
                    .unwrap_or(plan.arrivals.len());
                plan.arrivals
                    .insert(position, (at, signal, libc::SI_TKILL, 0));
                let due = self.signals.plan_due();
                self.signals.set_next_planned(due);
                Raise::Done
            }
            SignalSource::Decider => Raise::Done,
        }
    }

    /// A subscription came: a planned arrival that waited for one may be due now.
    fn catch_up_plan(&mut self) {
        let due = self.signals.plan_due();
        self.signals.set_next_planned(due);
    }

    /// Delivers the arrivals due at this decision (rule 1); `Some` when the execution stops.
    #[cold]
    #[inline(never)]
    pub(super) fn deliver_due_signals(&mut self) -> Option<Action> {
        if self.signals.os_mask != 0 {
            for (signal, code, sender) in os_signals::take(self.signals.os_mask) {
                if !self.signals.wants(signal) {
                    continue; // Only closed subscriptions have it: nobody takes it (rule 3).
                }
                let input = SignalInput {
                    signal,
                    code,
                    sender,
                };
                if let Some(action) = self.deliver_signal(input) {
                    return Some(action);
                }
            }
        }
        self.deliver_planned(self.step, false)
    }

    /// Whether a thread waits on a subscription that is not closed.
    fn a_signal_can_wake_a_thread(&self) -> bool {
        self.signals.subscriptions.iter().any(|subscription| {
            !subscription.closed && !self.objects[subscription.object].waiters.is_empty()
        })
    }

    /// How many planned arrivals are still to come.
    pub(super) fn planned_arrivals(&self) -> usize {
        match &self.signals.source {
            SignalSource::Planned(plan) => plan.arrivals.len(),
            _ => 0,
        }
    }

    /// Delivers the planned arrivals due by `step` whose signal the program subscribes to
    /// (only the first, with `only_one`).
    fn deliver_planned(&mut self, step: u64, only_one: bool) -> Option<Action> {
        let mut delivered = 0;
        loop {
            if only_one && delivered == 1 {
                return None;
            }
            delivered += 1;
            let SignalSource::Planned(plan) = &mut self.signals.source else {
                return None;
            };
            let subscribed = {
                let subscriptions = self
                    .signals
                    .subscriptions
                    .iter()
                    .filter(|subscription| !subscription.closed)
                    .fold(0, |mask, subscription| mask | subscription.mask);
                self.signals
                    .flags
                    .iter()
                    .fold(subscriptions, |mask, flag| mask | os_signals::bit(flag.1))
            };
            let Some(index) = plan.arrivals.iter().position(|arrival| {
                arrival.0 <= step && subscribed & os_signals::bit(arrival.1) != 0
            }) else {
                // Rule 3: what is due waits for a subscription (the next one re-checks).
                let next = plan
                    .arrivals
                    .iter()
                    .map(|arrival| arrival.0)
                    .find(|&at| at > step)
                    .unwrap_or(u64::MAX);
                self.signals.set_next_planned(next);
                return None;
            };
            let (_, signal, code, sender) = plan.arrivals.remove(index);
            let input = SignalInput {
                signal,
                code,
                sender,
            };
            if let Some(action) = self.deliver_signal(input) {
                return Some(action);
            }
        }
    }

    /// Rule 4: every thread waits. `Some(Some(action))` when the execution stops,
    /// `Some(None)` when a thread can run now (or the oracle is to be asked), `None` when no
    /// signal can come this way (timers and the deadlock check go on as before).
    #[cold]
    #[inline(never)]
    pub(super) fn idle_for_signals(&mut self) -> Option<Option<Action>> {
        match self.signals.source {
            // While an arrival could matter before the wait ends: a thread waits on an open
            // subscription, or a timer will wake one (which then sees what arrived, a flag
            // set). With neither, no signal can end the wait: it is a deadlock.
            SignalSource::Os
                if self.signals.os_mask != 0
                    && self.fires_own_timers
                    && (self.a_signal_can_wake_a_thread() || !self.timers.is_empty()) =>
            {
                loop {
                    let now = self.clock.now_nanos();
                    let timeout = self
                        .timers
                        .first()
                        .map(|&(deadline, _)| deadline.saturating_sub(now));
                    if timeout == Some(0) {
                        return None; // A timer is due: it goes first.
                    }
                    // Idle until a signal or the deadline: not a stall.
                    self.set_watched(false);
                    os_signals::wait(self.signals.os_mask, timeout);
                    self.set_watched(true);
                    if let Some(action) = self.deliver_due_signals() {
                        return Some(Some(action));
                    }
                    if !self.runnable.is_empty() {
                        return Some(None);
                    }
                }
            }
            // One arrival at a time; one that wakes nobody (a flag, a subscription with no
            // waiter) is followed by the next, so no planned arrival is left behind a false
            // deadlock.
            SignalSource::Planned(_) => loop {
                let planned = self.planned_arrivals();
                if let Some(action) = self.deliver_planned(u64::MAX, true) {
                    return Some(Some(action));
                }
                if !self.runnable.is_empty() {
                    return Some(None);
                }
                if self.planned_arrivals() == planned {
                    return None;
                }
            },
            _ if !self.fires_own_timers
                && self.timers.is_empty()
                && self.signals.subscribed() != 0 =>
            {
                Some(None)
            }
            _ => None,
        }
    }

    /// Delivers one arrival (rule 2) and tells the observers; `Some` when the execution
    /// stops (an observer found it off its expectations, or the program has no
    /// subscription to it: rule 3).
    pub(super) fn deliver_signal(&mut self, input: SignalInput) -> Option<Action> {
        let bit = os_signals::bit(input.signal);
        if !self.signals.wants(input.signal) {
            let actual = format!(
                "the program does not subscribe to {} here",
                os_signals::name(input.signal)
            );
            self.stop_on(self.decider.mismatch(), actual);
            return Some(self.switch_away());
        }
        let mut woken = Vec::new();
        for subscription in &mut self.signals.subscriptions {
            if !subscription.closed && subscription.mask & bit != 0 {
                subscription.pending |= bit;
                woken.push(subscription.object);
            }
        }
        for object in woken {
            self.wake_all_waiters(object);
        }
        for (_, signal, flag) in &self.signals.flags {
            if *signal == input.signal {
                flag.store(true, Ordering::SeqCst);
            }
        }
        if !self.observers.is_empty() && !self.quiet {
            let signal = input.signal;
            for position in 0..self.observers.len() {
                if let Err(mismatch) = self.observers[position].on_input(Input::Signal(input)) {
                    let actual = format!(
                        "{} arrives after step {}",
                        os_signals::name(signal),
                        self.step
                    );
                    self.stop_on(mismatch, actual);
                    return Some(self.switch_away());
                }
            }
        }
        None
    }
}
