//! What fair plain runs cost reel: the ping-pong with the watchdog (stall detection) off and
//! on, and with time slicing off and on. The goal is nothing measurable: a step pays one
//! relaxed load of the watchdog's flags, and the watchdog thread wakes a few hundred times
//! a second.
//!
//! Instruction counts, which a loaded machine does not change: `--steps-child SETTING N`
//! runs one plain run of N atomic steps and nothing else, so that
//! `valgrind --tool=callgrind target/release/deps/runtime-* --steps-child off 1000000`
//! against the same with `watchdog`, `slicing` or `both` gives the instructions per step
//! (subtract a run of 0 steps, divide by N).

use std::time::Duration;

use crate::Run;
use crate::measure::in_executions;
use crate::ping_pong::{REEL_ROUND_TRIPS_PER_EXECUTION, on_reel};
use crate::table::{RecordRow, Unit};

/// The goal: turning a feature on makes a round trip take at most this many times as long.
const GOAL_SLOWDOWN: f64 = 1.05;

/// Round trips in runs of `runtime`, timed inside the runs.
fn round_trips_on(runtime: &reel::Runtime, round_trips: u64) -> Duration {
    in_executions(round_trips, REEL_ROUND_TRIPS_PER_EXECUTION, |round_trips| {
        runtime.run(move || on_reel::ping_pong(round_trips))
    })
}

/// `pingpong-watchdog` and `pingpong-slicing`: each feature alone, off against on.
pub fn measure(run: &mut Run) {
    let bare = reel::Runtime::new().time_slice(None).stall_threshold(None);
    let watchdog = bare
        .clone()
        .stall_threshold(Some(Duration::from_millis(reel::DEFAULT_STALL_MS)));
    let slicing = bare
        .clone()
        .time_slice(Some(Duration::from_millis(reel::DEFAULT_TIME_SLICE_MS)));
    for (group, title, on) in [
        (
            "pingpong-watchdog",
            "channel ping-pong round trip, stall watchdog",
            watchdog,
        ),
        (
            "pingpong-slicing",
            "channel ping-pong round trip, 10 ms time slices",
            slicing,
        ),
    ] {
        let off = run.bench.measure(group, "off", |round_trips| {
            round_trips_on(&bare, round_trips)
        });
        let on = run
            .bench
            .measure(group, "on", |round_trips| round_trips_on(&on, round_trips));
        run.report.toggles.push(RecordRow {
            title: title.to_string(),
            unit: Unit::Nanos("round trip"),
            off,
            on,
            max_slowdown: GOAL_SLOWDOWN,
        });
    }
    run.report.notes.push(format!(
        "pingpong-watchdog, pingpong-slicing: reel's pingpong as above (<= \
         {REEL_ROUND_TRIPS_PER_EXECUTION} round trips per run, timed inside the run); off: \
         Runtime::new().time_slice(None).stall_threshold(None); on: the same with only the \
         watchdog's stall detection (100 ms), or only time slicing (10 ms), on"
    ));
}

/// What a `--steps-child` run turns on.
#[derive(Clone, Copy, Debug)]
pub enum StepSetting {
    Off,
    Watchdog,
    Slicing,
    Both,
}

impl StepSetting {
    pub fn from_argument(argument: &str) -> Option<StepSetting> {
        Some(match argument {
            "off" => StepSetting::Off,
            "watchdog" => StepSetting::Watchdog,
            "slicing" => StepSetting::Slicing,
            "both" => StepSetting::Both,
            _ => return None,
        })
    }
}

/// One plain run of `steps` atomic steps (a step that keeps its thread), as `setting` says.
pub fn run_steps(setting: StepSetting, steps: u64) {
    let (watchdog, slicing) = match setting {
        StepSetting::Off => (false, false),
        StepSetting::Watchdog => (true, false),
        StepSetting::Slicing => (false, true),
        StepSetting::Both => (true, true),
    };
    let runtime = reel::Runtime::new()
        .stall_threshold(watchdog.then(|| Duration::from_millis(reel::DEFAULT_STALL_MS)))
        .time_slice(slicing.then(|| Duration::from_millis(reel::DEFAULT_TIME_SLICE_MS)));
    let total = runtime.run(move || {
        let counter = reel::sync::atomic::AtomicU64::new(0);
        for _ in 0..steps {
            counter.fetch_add(1, reel::sync::atomic::Ordering::Relaxed);
        }
        counter.load(reel::sync::atomic::Ordering::Relaxed)
    });
    assert_eq!(total, steps);
    println!("{steps} steps");
}
