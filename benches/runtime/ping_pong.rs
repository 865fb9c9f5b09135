//! Channel ping-pong between two threads over two mpsc channels: the round trip in the bench's
//! own form (timed inside the run) and as a user program writes it (a whole `reel::run`).

use std::time::Duration;

use crate::Run;
use crate::measure::{in_executions, in_one_shuttle_execution, timed};
use crate::table::{Goal, Unit, VersusRow};

/// Round trips inside one reel execution; a sample that needs more runs several executions.
pub const REEL_ROUND_TRIPS_PER_EXECUTION: u64 = 100_000;
/// Round trips inside one shuttle execution: shuttle's default step bound is 1,000,000 steps.
const SHUTTLE_ROUND_TRIPS_PER_EXECUTION: u64 = 50_000;
/// Goal: reel's round trip (the bench's form) takes at most this many nanoseconds.
const GOAL_ROUND_TRIP_NS: f64 = 100.0;

for_each_runtime! {
    use std::time::{Duration, Instant};

    use runtime::sync::mpsc;
    use runtime::thread;

    /// The bench's form: main sends a number to a partner thread, which sends it back plus
    /// one, `round_trips` times. Returns the time the round trips took, without the
    /// partner's spawn and join.
    pub fn ping_pong(round_trips: u64) -> Duration {
        let (to_partner, from_main) = mpsc::channel::<u64>();
        let (to_main, from_partner) = mpsc::channel::<u64>();
        let partner = thread::spawn(move || {
            for value in from_main.iter() {
                if to_main.send(value + 1).is_err() {
                    break;
                }
            }
        });
        let start = Instant::now();
        for round_trip in 0..round_trips {
            to_partner
                .send(round_trip)
                .expect("the partner thread outlives the round trips");
            let reply = from_partner
                .recv()
                .expect("the partner thread replies to every message");
            assert_eq!(reply, round_trip + 1, "the partner answers value + 1");
        }
        let elapsed = start.elapsed();
        drop(to_partner);
        partner.join().expect("the partner thread does not panic");
        elapsed
    }

    /// The same round trips as a user program writes them: each thread loops on
    /// `recv().unwrap()` and `send(()).unwrap()`.
    pub fn user_ping_pong(round_trips: u64) {
        let (tx, rx) = mpsc::channel::<()>();
        let (reply_tx, reply_rx) = mpsc::channel::<()>();
        let partner = thread::spawn(move || {
            for _ in 0..round_trips {
                rx.recv().unwrap();
                reply_tx.send(()).unwrap();
            }
        });
        for _ in 0..round_trips {
            tx.send(()).unwrap();
            reply_rx.recv().unwrap();
        }
        partner.join().unwrap();
    }
}

/// `round_trips` round trips of reel's bench-form ping-pong in unrecorded runs of
/// `REEL_ROUND_TRIPS_PER_EXECUTION` at most; the time inside the runs.
pub fn reel_round_trips(round_trips: u64) -> Duration {
    in_executions(round_trips, REEL_ROUND_TRIPS_PER_EXECUTION, |round_trips| {
        reel::run(move || on_reel::ping_pong(round_trips))
    })
}

/// `pingpong`: the bench's form on each runtime.
pub fn measure(run: &mut Run) {
    let group = "pingpong";
    let reel = run.bench.measure(group, "reel", reel_round_trips);
    let shuttle = run.bench.measure(group, "shuttle", |round_trips| {
        in_executions(
            round_trips,
            SHUTTLE_ROUND_TRIPS_PER_EXECUTION,
            |round_trips| in_one_shuttle_execution(move || on_shuttle::ping_pong(round_trips)),
        )
    });
    let std = run.bench.measure(group, "std", on_std::ping_pong);
    run.report.versus.push(VersusRow {
        title: "channel ping-pong round trip (bench form: timed inside the run)".to_string(),
        unit: Unit::Nanos("round trip"),
        reel,
        shuttle,
        std,
        goal: Goal::ReelAtMost {
            limit: GOAL_ROUND_TRIP_NS,
            unit: "ns",
        },
    });
    run.report.notes.push(format!(
        "pingpong: two mpsc channels of u64, the partner answers value + 1 (checked); N round \
         trips timed inside the execution, the partner's spawn and join excluded (reel: \
         reel::run, unrecorded, <= {REEL_ROUND_TRIPS_PER_EXECUTION} per run; shuttle: \
         check_random(.., 1), <= {SHUTTLE_ROUND_TRIPS_PER_EXECUTION} per execution)"
    ));
}

/// `pingpong-user-program`: the user's form on each runtime, each run timed whole.
pub fn measure_user_program(run: &mut Run) {
    let group = "pingpong-user-program";
    let reel = run.bench.measure(group, "reel", |round_trips| {
        in_executions(round_trips, REEL_ROUND_TRIPS_PER_EXECUTION, |round_trips| {
            timed(|| reel::run(move || on_reel::user_ping_pong(round_trips)))
        })
    });
    let shuttle = run.bench.measure(group, "shuttle", |round_trips| {
        in_executions(
            round_trips,
            SHUTTLE_ROUND_TRIPS_PER_EXECUTION,
            |round_trips| {
                timed(|| shuttle::check_random(move || on_shuttle::user_ping_pong(round_trips), 1))
            },
        )
    });
    let std = run.bench.measure(group, "std", |round_trips| {
        timed(|| on_std::user_ping_pong(round_trips))
    });
    run.report.versus.push(VersusRow {
        title: "channel ping-pong round trip (user program: whole reel::run)".to_string(),
        unit: Unit::Nanos("round trip"),
        reel,
        shuttle,
        std,
        goal: Goal::None,
    });
    run.report.notes.push(format!(
        "pingpong-user-program: the same round trips written as a user would, \
         `for _ in 0..n {{ rx.recv().unwrap(); tx.send(()).unwrap(); }}` in both threads \
         (main sends first), each run timed whole from outside: runtime start, spawn, join \
         and teardown included (reel: reel::run(..), <= {REEL_ROUND_TRIPS_PER_EXECUTION} \
         round trips per run; shuttle: check_random(.., 1), \
         <= {SHUTTLE_ROUND_TRIPS_PER_EXECUTION}; std: one run of N)"
    ));
}
