//! Signal timing as an exploration's choice ([`Checker::signal`](crate::Checker::signal)):
//! the step after which each requested signal arrives, for each execution.
//!
//! Execution 1 is the calibration run: its signals arrive when every thread waits (or never,
//! if the program ends first), and its length is what later executions learn. Execution
//! `i > 1` draws each arrival's step uniformly from `1..=length of execution 1`, from a hash
//! of (seed, i, the signal's rank by number among the explored ones): a function of the
//! seed, the iteration and what execution 1 learnt only, so executions can be shared out
//! among kernel threads, and the signals of a trace's planned arrivals give the plan back
//! (unless one never arrived in it: the trace does not hold the request). An
//! arrival due before the program subscribes to its signal waits for the subscription
//! (`runtime/execution/signals.rs`, rule 3).

use std::io;

use super::{c_int, check_signal};
use crate::runtime::execution::{ExecutionConfig, SignalPlan, SignalSource};

/// Plans the arrivals of one exploration's executions.
#[derive(Clone, Debug)]
pub(crate) struct SignalExplorer {
    signals: Vec<u32>,
    seed: u64,
    /// The length of execution 1, once it ran.
    first_length: Option<u64>,
}

/// `si_code` of a planned arrival: `SI_USER`, as a `kill` from another process would give.
const PLANNED_CODE: i32 = libc::SI_USER;

impl SignalExplorer {
    /// A planner for `signals` (checked as [`super::Signals::new`] checks them).
    pub(crate) fn new(signals: &[c_int], seed: u64) -> io::Result<SignalExplorer> {
        let mut signals = signals
            .iter()
            .map(|&signal| check_signal(signal))
            .collect::<io::Result<Vec<u32>>>()?;
        // In order of number, once each: what a trace's arrivals give back (`from_trace`).
        signals.sort_unstable();
        signals.dedup();
        Ok(SignalExplorer {
            signals,
            seed,
            first_length: None,
        })
    }

    /// The signals of a replayed trace, for re-running the executions before it.
    pub(crate) fn from_trace(trace: &reel_trace::Trace, seed: u64) -> SignalExplorer {
        let mut signals: Vec<u32> = trace
            .signal_arrivals()
            .filter(|arrival| is_planned(arrival))
            .map(|arrival| arrival.signal)
            .collect();
        signals.sort_unstable();
        signals.dedup();
        SignalExplorer {
            signals,
            seed,
            first_length: None,
        }
    }

    /// Whether any signal is explored.
    pub(crate) fn any(&self) -> bool {
        !self.signals.is_empty()
    }

    /// The configuration of execution `iteration` (1-based).
    pub(crate) fn config_for(&self, config: &ExecutionConfig, iteration: usize) -> ExecutionConfig {
        let mut config = config.clone();
        config.signals = SignalSource::Planned(self.plan(iteration));
        config
    }

    /// The arrivals of execution `iteration`.
    pub(crate) fn plan(&self, iteration: usize) -> SignalPlan {
        let length = self.first_length.filter(|_| iteration > 1);
        let arrivals = self
            .signals
            .iter()
            .enumerate()
            .map(|(index, &signal)| {
                let step = match length {
                    None => u64::MAX,
                    Some(length) => {
                        let draw = mix(self.seed, iteration as u64, index as u64);
                        1 + draw % length.max(1)
                    }
                };
                (step, signal, PLANNED_CODE, 0)
            })
            .collect();
        SignalPlan { arrivals }
    }

    /// Execution `iteration` ended after `steps` steps.
    pub(crate) fn learn(&mut self, iteration: usize, steps: u64) {
        if iteration == 1 {
            self.first_length = Some(steps);
        }
    }
}

/// The arrivals of a recorded trace, planned at the steps they followed: for runs of a
/// schedule taken from a trace (shrinking it), where the program takes its own steps.
pub(crate) fn recorded_arrivals(trace: &reel_trace::Trace) -> SignalSource {
    SignalSource::Planned(SignalPlan {
        arrivals: trace
            .signal_arrivals()
            .filter(|arrival| is_planned(arrival))
            .map(|arrival| (arrival.step, arrival.signal, arrival.code, arrival.sender))
            .collect(),
    })
}

/// Whether a recorded arrival was planned by an exploration (not raised by the program
/// itself, which raises it again when it runs again).
fn is_planned(arrival: &reel_trace::SignalArrival) -> bool {
    arrival.code == PLANNED_CODE && arrival.sender == 0
}

/// SplitMix64 of the three numbers: a stable, well-spread hash (no dependency, no
/// hasher with random keys).
fn mix(seed: u64, iteration: u64, index: u64) -> u64 {
    let mut z = seed
        ^ iteration.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ index.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    for _ in 0..2 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_one_waits_and_later_ones_draw_within_its_length() {
        let mut explorer = SignalExplorer::new(&[libc::SIGTERM], 7).unwrap();
        assert_eq!(
            explorer.plan(1).arrivals,
            vec![(u64::MAX, 15, libc::SI_USER, 0)]
        );
        explorer.learn(1, 40);
        let steps: Vec<u64> = (2..200).map(|i| explorer.plan(i).arrivals[0].0).collect();
        assert!(steps.iter().all(|&step| (1..=40).contains(&step)));
        // Spread over the length, and a function of (seed, iteration) only.
        assert!(steps.iter().any(|&step| step <= 5) && steps.iter().any(|&step| step >= 35));
        assert_eq!(explorer.plan(9), explorer.clone().plan(9));
    }

    #[test]
    fn refused_signals_are_refused_at_once() {
        let error = SignalExplorer::new(&[libc::SIGKILL], 1).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("SIGKILL"));
    }
}
