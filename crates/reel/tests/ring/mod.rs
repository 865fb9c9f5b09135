//! The ring workload shared by the crash tests: green threads passing messages round a ring
//! for as many rounds as asked, deterministic, with busy work between the operations.

use reel::sync::mpsc::{self, Receiver, Sender};
use reel::sync::{Arc, Mutex};

/// Green threads in the ring (main included).
pub const PARTICIPANTS: u64 = 4;
/// Iterations of busy work per participant and round.
const CHURN: u32 = 1000;

/// Four green threads (main and three spawned) in a ring: every round, each locks a shared
/// mutex to add to a total, sends a message to the next one over an mpsc channel, and
/// receives the previous one's. Main calls `at_milestone` when it reaches round
/// `milestone`. Checks the messages and the total at the end.
pub fn ring(rounds: u64, milestone: u64, at_milestone: &dyn Fn()) {
    let total = Arc::new(Mutex::new(0u64));
    let (senders, receivers): (Vec<Sender<u64>>, Vec<Receiver<u64>>) =
        (0..PARTICIPANTS).map(|_| mpsc::channel()).unzip();
    let next_of = |index: u64| senders[((index + 1) % PARTICIPANTS) as usize].clone();
    let mut receivers = receivers.into_iter();
    let main_receiver = receivers.next().expect("one receiver per participant");
    let workers: Vec<_> = (1..)
        .zip(receivers)
        .map(|(index, receiver)| {
            let next = next_of(index);
            let total = Arc::clone(&total);
            reel::thread::spawn(move || participate(index, rounds, &total, &next, &receiver, None))
        })
        .collect();
    let main_next = next_of(0);
    drop(senders);
    let mut received = vec![participate(
        0,
        rounds,
        &total,
        &main_next,
        &main_receiver,
        Some((milestone, at_milestone)),
    )];
    for worker in workers {
        received.push(worker.join().expect("a participant panicked"));
    }
    for (index, &sum) in (0..).zip(&received) {
        let from = (index + PARTICIPANTS - 1) % PARTICIPANTS;
        let expected: u64 = (0..rounds).map(|round| round * PARTICIPANTS + from).sum();
        assert_eq!(
            sum, expected,
            "participant {index} received the wrong messages"
        );
    }
    let expected_total: u64 = (0..rounds)
        .flat_map(|round| (0..PARTICIPANTS).map(move |index| round ^ index))
        .sum();
    assert_eq!(*total.lock().unwrap(), expected_total);
}

/// One participant's rounds; returns the sum of the messages it received.
fn participate(
    index: u64,
    rounds: u64,
    total: &Mutex<u64>,
    next: &Sender<u64>,
    receiver: &Receiver<u64>,
    milestone: Option<(u64, &dyn Fn())>,
) -> u64 {
    let mut received = 0u64;
    for round in 0..rounds {
        if let Some((milestone_round, at_milestone)) = milestone
            && round == milestone_round
        {
            at_milestone();
        }
        *total.lock().unwrap() += round ^ index;
        // Work between the scheduling operations, as a real program has: it slows the run
        // down to a few million steps in several seconds.
        std::hint::black_box(churn(round ^ index));
        next.send(round * PARTICIPANTS + index)
            .expect("the next participant is alive");
        received += receiver.recv().expect("the previous participant is alive");
    }
    received
}

/// Deterministic busy work: `CHURN` rounds of xorshift.
fn churn(mut x: u64) -> u64 {
    x |= 1;
    for _ in 0..CHURN {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = std::hint::black_box(x);
    }
    x
}
