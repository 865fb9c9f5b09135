//! A long deterministic run for measuring the debugger on a big trace: two threads take turns
//! on a Mutex and a Condvar for about a million steps.
//!
//! Run it with `cargo run --release --example long_run [STEPS [WORK]]`: the threads `ping`
//! and `pong` hand a counter back and forth, each turn locking the Mutex, waiting on the
//! Condvar until it is the thread's turn, incrementing the counter and waking the other; the
//! run takes at least STEPS steps (default 1,050,000). WORK (default 0) is a computation of
//! that many rounds each turn does outside the lock, so that a replay of the run takes time
//! (the debugger's tests interrupt one). Nothing depends on time, so a recording
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

/// A number from the command line, or `default` when it is not given.
fn argument(position: usize, default: u64) -> Option<u64> {
    match std::env::args().nth(position) {
        None => Some(default),
        Some(argument) => argument.replace('_', "").parse::<u64>().ok(),
    }
}

/// A deterministic computation of `rounds` rounds (xorshift), for the time it takes.
fn work(rounds: u64) -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..rounds {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state = std::hint::black_box(state);
    }
    state
}

fn main() -> ExitCode {
    let (Some(steps), Some(rounds)) = (argument(1, DEFAULT_STEPS), argument(2, 0)) else {
        eprintln!(
            "usage: long_run [STEPS [WORK]] (numbers: the steps, default {DEFAULT_STEPS}; \
             rounds of computation per turn, default 0)"
        );
        return ExitCode::from(2);
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
                            std::hint::black_box(work(rounds));
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
