//! Semantics of `reel::sync::mpsc`, ported from std's mpsc tests: FIFO order, many producers,
//! disconnection on both sides, try/timeout receives, bounded and rendezvous sync channels, iterators.

use std::time::Duration;

use reel::sync::Arc;
use reel::sync::atomic::{AtomicBool, Ordering};
use reel::sync::mpsc::{self, RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use reel::thread;

#[test]
fn smoke() {
    reel::run(|| {
        let (sender, receiver) = mpsc::channel();
        sender.send(1).unwrap();
        assert_eq!(receiver.recv().unwrap(), 1);
    });
}

#[test]
fn messages_arrive_in_fifo_order() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel();
            let producer = thread::spawn(move || {
                for n in 0..20 {
                    sender.send(n).unwrap();
                }
            });
            for expected in 0..20 {
                assert_eq!(receiver.recv().unwrap(), expected);
            }
            producer.join().unwrap();
        },
        200,
    );
}

#[test]
fn many_producers_each_keep_their_order() {
    reel::check_random(
        || {
            const PRODUCERS: usize = 3;
            const MESSAGES: usize = 4;
            let (sender, receiver) = mpsc::channel();
            for producer in 0..PRODUCERS {
                let sender = sender.clone();
                thread::spawn(move || {
                    for n in 0..MESSAGES {
                        sender.send((producer, n)).unwrap();
                    }
                });
            }
            drop(sender);
            let mut next = [0; PRODUCERS];
            let mut total = 0;
            for (producer, n) in receiver.iter() {
                assert_eq!(n, next[producer], "messages of one producer out of order");
                next[producer] += 1;
                total += 1;
            }
            assert_eq!(total, PRODUCERS * MESSAGES);
        },
        300,
    );
}

#[test]
fn recv_after_every_sender_dropped_is_an_error() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel::<i32>();
            let sender2 = sender.clone();
            thread::spawn(move || drop(sender2));
            drop(sender);
            assert_eq!(receiver.recv(), Err(RecvError));
        },
        100,
    );
}

#[test]
fn queued_messages_are_still_received_after_disconnect() {
    reel::run(|| {
        let (sender, receiver) = mpsc::channel();
        sender.send(1).unwrap();
        sender.send(2).unwrap();
        drop(sender);
        assert_eq!(receiver.recv(), Ok(1));
        assert_eq!(receiver.try_recv(), Ok(2));
        assert_eq!(receiver.recv(), Err(RecvError));
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Disconnected));
    });
}

#[test]
fn try_recv_is_empty_then_disconnected() {
    reel::run(|| {
        let (sender, receiver) = mpsc::channel::<u8>();
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Empty));
        sender.send(9).unwrap();
        assert_eq!(receiver.try_recv(), Ok(9));
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Empty));
        drop(sender);
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Disconnected));
    });
}

#[test]
fn recv_timeout_times_out_in_virtual_time() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel::<u8>();
            assert_eq!(
                receiver.recv_timeout(Duration::from_secs(3600)),
                Err(RecvTimeoutError::Timeout)
            );
            drop(sender);
            assert_eq!(
                receiver.recv_timeout(Duration::from_secs(3600)),
                Err(RecvTimeoutError::Disconnected)
            );
        },
        50,
    );
}

#[test]
fn recv_timeout_times_out_in_real_time() {
    reel::run(|| {
        let (_sender, receiver) = mpsc::channel::<u8>();
        assert_eq!(
            receiver.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
    });
}

#[test]
fn recv_timeout_gets_a_message_sent_in_time() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel();
            thread::spawn(move || sender.send(5).unwrap());
            assert_eq!(receiver.recv_timeout(Duration::from_secs(1_000_000)), Ok(5));
        },
        200,
    );
}

#[test]
fn send_to_a_dropped_receiver_returns_the_value() {
    reel::run(|| {
        let (sender, receiver) = mpsc::channel();
        drop(receiver);
        assert_eq!(
            sender.send(String::from("lost")),
            Err(SendError(String::from("lost")))
        );
        let (sync_sender, sync_receiver) = mpsc::sync_channel(1);
        drop(sync_receiver);
        assert_eq!(sync_sender.send(7), Err(SendError(7)));
        assert_eq!(sync_sender.try_send(8), Err(TrySendError::Disconnected(8)));
    });
}

#[test]
fn receiver_dropped_by_another_thread_fails_sends() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel::<u32>();
            thread::spawn(move || drop(receiver)).join().unwrap();
            assert_eq!(sender.send(1), Err(SendError(1)));
        },
        50,
    );
}

#[test]
fn iter_ends_when_every_sender_is_gone() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel();
            let producer = thread::spawn(move || {
                for n in 0..10 {
                    sender.send(n).unwrap();
                    if n % 3 == 0 {
                        thread::yield_now();
                    }
                }
            });
            let received: Vec<i32> = receiver.iter().collect();
            assert_eq!(received, (0..10).collect::<Vec<_>>());
            producer.join().unwrap();
        },
        200,
    );
}

#[test]
fn into_iter_and_try_iter() {
    reel::run(|| {
        let (sender, receiver) = mpsc::channel();
        for n in 0..3 {
            sender.send(n).unwrap();
        }
        assert_eq!(receiver.try_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(receiver.try_iter().next(), None);
        sender.send(3).unwrap();
        drop(sender);
        assert_eq!(receiver.into_iter().collect::<Vec<_>>(), vec![3]);
    });
}

#[test]
fn sync_channel_try_send_reports_full() {
    reel::run(|| {
        let (sender, receiver) = mpsc::sync_channel(1);
        assert_eq!(sender.try_send(1), Ok(()));
        assert_eq!(sender.try_send(2), Err(TrySendError::Full(2)));
        assert_eq!(receiver.recv(), Ok(1));
        assert_eq!(sender.try_send(3), Ok(()));
        assert_eq!(receiver.recv(), Ok(3));
    });
}

#[test]
fn sync_channel_blocks_a_sender_when_full() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::sync_channel(1);
            let second_sent = Arc::new(AtomicBool::new(false));
            let producer = {
                let second_sent = second_sent.clone();
                thread::spawn(move || {
                    sender.send(1).unwrap();
                    sender.send(2).unwrap();
                    second_sent.store(true, Ordering::SeqCst);
                })
            };
            for _ in 0..5 {
                thread::yield_now();
                // The buffer holds one message, so the second send cannot have completed.
                assert!(!second_sent.load(Ordering::SeqCst));
            }
            assert_eq!(receiver.recv(), Ok(1));
            assert_eq!(receiver.recv(), Ok(2));
            producer.join().unwrap();
            assert!(second_sent.load(Ordering::SeqCst));
        },
        300,
    );
}

#[test]
fn sync_channel_zero_is_a_rendezvous() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::sync_channel(0);
            let sent = Arc::new(AtomicBool::new(false));
            let producer = {
                let sent = sent.clone();
                thread::spawn(move || {
                    sender.send(42).unwrap();
                    sent.store(true, Ordering::SeqCst);
                })
            };
            for _ in 0..5 {
                thread::yield_now();
                // Nobody is receiving yet, so the send cannot have completed.
                assert!(!sent.load(Ordering::SeqCst));
            }
            assert_eq!(receiver.recv(), Ok(42));
            producer.join().unwrap();
            assert!(sent.load(Ordering::SeqCst));
        },
        300,
    );
}

#[test]
fn sync_channel_zero_try_send_without_a_receiver_waiting_is_full() {
    reel::run(|| {
        let (sender, _receiver) = mpsc::sync_channel(0);
        assert_eq!(sender.try_send(1), Err(TrySendError::Full(1)));
    });
}

#[test]
fn sync_channel_zero_try_send_reaches_a_waiting_receiver() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::sync_channel(0);
            let consumer = thread::spawn(move || receiver.recv().unwrap());
            // Retry until the consumer is blocked in recv; then try_send hands the value over.
            let mut value = 11;
            loop {
                match sender.try_send(value) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        value = back;
                        thread::yield_now();
                    }
                    Err(TrySendError::Disconnected(_)) => panic!("receiver vanished"),
                }
            }
            assert_eq!(consumer.join().unwrap(), 11);
        },
        200,
    );
}

#[test]
fn sync_channel_many_producers_deliver_everything() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::sync_channel(1);
            let producers: Vec<_> = (0..3)
                .map(|n| {
                    let sender = sender.clone();
                    thread::spawn(move || {
                        sender.send(n).unwrap();
                        sender.send(n + 10).unwrap();
                    })
                })
                .collect();
            drop(sender);
            let mut received: Vec<i32> = receiver.iter().collect();
            received.sort_unstable();
            assert_eq!(received, vec![0, 1, 2, 10, 11, 12]);
            for producer in producers {
                producer.join().unwrap();
            }
        },
        300,
    );
}

#[test]
fn a_blocked_sync_sender_is_released_when_the_receiver_drops() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::sync_channel(0);
            let producer = thread::spawn(move || sender.send(1));
            thread::yield_now();
            drop(receiver);
            assert_eq!(producer.join().unwrap(), Err(SendError(1)));
        },
        200,
    );
}

#[test]
fn a_blocked_receiver_is_released_when_the_senders_drop() {
    reel::check_random(
        || {
            let (sender, receiver) = mpsc::channel::<u32>();
            let consumer = thread::spawn(move || receiver.recv());
            thread::yield_now();
            drop(sender);
            assert_eq!(consumer.join().unwrap(), Err(RecvError));
        },
        200,
    );
}

#[test]
fn recv_timeout_gets_a_message_sent_by_a_sleeping_thread_in_real_time() {
    reel::run(|| {
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(2));
            sender.send("woke up").unwrap();
        });
        // Generous: the message comes after ~2 ms of real time.
        assert_eq!(
            receiver.recv_timeout(Duration::from_secs(30)),
            Ok("woke up")
        );
    });
}
