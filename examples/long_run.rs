//! A long deterministic run for measuring the debugger on a big trace: two threads take turns
//! on a Mutex and a Condvar for about a million steps.
//!
//! Run it with `cargo run --release --example long_run [STEPS]`: the threads `ping` and
//! `pong` hand a counter back and forth, each turn locking the Mutex, waiting on the Condvar
//! until it is the thread's turn, incrementing the counter and waking the other; the run
//! takes at least STEPS steps (default 1,050,000). Nothing depends on time, so a recording
//! (`REEL_RECORD=long_run.reel`) replays step for step, under `reel replay` or `reel debug`
//! (`crates/cli/benches/reverse.rs` steps backwards through it).

use std::process::ExitCode;

use reel::sync::{Arc, Condvar, Mutex};
use reel::thread;

/// Steps of the run when no argument says otherwise.
const DEFAULT_STEPS: u64 = 1_050_000;
/// Steps one turn takes: lock, condvar wait, its block, the relock on waking, notify, unlock.
const STEPS_PER_TURN: u64 = 6;
/// The threads that take turns.
const PLAYERS: [&str; 2] = ["ping", "pong"];

/// Whose turn it is, and how many turns were taken.
struct Table {
    turn: usize,
    count: u64,
}

fn main() -> ExitCode {
    let steps = match std::env::args().nth(1) {
        None => DEFAULT_STEPS,
        Some(argument) => match argument.replace('_', "").parse::<u64>() {
            Ok(steps) => steps,
            Err(_) => {
                eprintln!("usage: long_run [STEPS] (a number of steps, default {DEFAULT_STEPS})");
                return ExitCode::from(2);
            }
        },
    };
    let turns = steps.div_ceil(STEPS_PER_TURN);
    let count = reel::run(move || {
        let table = Arc::new((Mutex::new(Table { turn: 0, count: 0 }), Condvar::new()));
        let players: Vec<_> = PLAYERS
            .iter()
            .enumerate()
            .map(|(me, name)| {
                let table = Arc::clone(&table);
                // Player `me` takes the turns me, me + 2, me + 4, ...
                let my_turns = (turns + (PLAYERS.len() - 1 - me) as u64) / PLAYERS.len() as u64;
                thread::Builder::new()
                    .name((*name).to_owned())
                    .spawn(move || {
                        let (lock, turn_changed) = &*table;
                        for _ in 0..my_turns {
                            let mut state = lock.lock().expect("no player panics");
                            while state.turn != me {
                                state = turn_changed.wait(state).expect("no player panics");
                            }
                            state.count += 1;
                            state.turn = (me + 1) % PLAYERS.len();
                            turn_changed.notify_one();
                        }
                    })
                    .expect("spawn a player")
            })
            .collect();
        for player in players {
            player.join().expect("the players finish");
        }
        let (lock, _) = &*table;
        lock.lock().expect("no player panics").count
    });
    assert_eq!(count, turns, "every turn was taken once");
    println!("{count} turns taken");
    ExitCode::SUCCESS
}
