//! Channels with the API of `std::sync::mpsc`: `channel` (unbounded), `sync_channel`
//! (bounded; capacity 0 is a rendezvous). Sends and receives are scheduling points.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use crate::runtime::execution::{self, Blocker, ObjectCell, ObjectId, ObjectKind, Op, Wake};

/// One try at a channel operation: finished, or blocked until something changes.
enum Attempt<R> {
    Done(R),
    Block(execution::Blocking),
}

struct State<T> {
    /// Messages with their send tickets.
    queue: VecDeque<(u64, T)>,
    /// Tickets handed to sends so far.
    sent: u64,
}

struct Channel<T> {
    object: ObjectCell,
    /// None: unbounded. Some(0): rendezvous.
    capacity: Option<usize>,
    /// Live senders. Atomic because handles may be cloned and dropped anywhere, even on a
    /// kernel thread that runs no reel runtime.
    senders: AtomicUsize,
    receiver_alive: AtomicBool,
    state: UnsafeCell<State<T>>,
}

// SAFETY: `state` is only touched by channel operations, which first take a scheduling step
// (`point`): that requires this kernel thread's runtime, and the object cell lets only one
// live execution use the channel. Inside it one green thread runs at a time, and
// `with_state` never suspends. Messages (T: Send) move between threads. The counts that
// clone and drop touch are atomics.
unsafe impl<T: Send> Send for Channel<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Channel<T> {}

impl<T> Channel<T> {
    fn new(capacity: Option<usize>) -> Arc<Channel<T>> {
        Arc::new(Channel {
            object: ObjectCell::new(),
            capacity,
            senders: AtomicUsize::new(1),
            receiver_alive: AtomicBool::new(true),
            state: UnsafeCell::new(State {
                queue: VecDeque::new(),
                sent: 0,
            }),
        })
    }

    /// Runs `f` on the state. `f` must not suspend or call back into the channel.
    fn with_state<R>(&self, f: impl FnOnce(&mut State<T>) -> R) -> R {
        // SAFETY: see the Sync impl; the closure cannot reach another borrow of the state.
        f(unsafe { &mut *self.state.get() })
    }

    /// The channel's scheduling point for `op`; returns its object index.
    fn point(&self, op: Op, location: &'static std::panic::Location<'static>) -> ObjectId {
        execution::object_point(&self.object, ObjectKind::Channel, op, location)
    }

    fn wake_all(&self) {
        execution::try_with(|execution| {
            if let Some(object) = self.object.current_id(execution) {
                execution.wake_all_waiters(object);
            }
        });
    }

    fn enqueue_current(&self, object: ObjectId) {
        execution::with(|execution| execution.enqueue_current(object));
    }

    fn send(
        &self,
        message: T,
        location: &'static std::panic::Location<'static>,
    ) -> Result<(), SendError<T>> {
        let object = self.point(Op::Send, location);
        let mut message = Some(message);
        let ticket = loop {
            // One borrow: queue the message and wake receivers, or queue this thread and block.
            let outcome = execution::with(|execution| {
                let pushed = self.with_state(|state| {
                    if !self.receiver_alive() {
                        return Err(());
                    }
                    let room = match self.capacity {
                        None => true,
                        Some(capacity) => state.queue.len() < capacity.max(1),
                    };
                    if !room {
                        return Ok(None);
                    }
                    let ticket = state.sent;
                    state.sent += 1;
                    state
                        .queue
                        .push_back((ticket, message.take().expect("sent once")));
                    Ok(Some(ticket))
                });
                match pushed {
                    Err(()) => Attempt::Done(Err(())),
                    Ok(Some(ticket)) => {
                        execution.wake_all_waiters(object);
                        Attempt::Done(Ok(ticket))
                    }
                    Ok(None) => {
                        execution.enqueue_current(object);
                        Attempt::Block(execution.begin_block(Blocker::Send(object), None, location))
                    }
                }
            });
            match outcome {
                Attempt::Done(Ok(ticket)) => break ticket,
                Attempt::Done(Err(())) => {
                    return Err(SendError(message.take().expect("not yet sent")));
                }
                Attempt::Block(blocking) => {
                    execution::wait(blocking);
                }
            }
        };
        if self.capacity != Some(0) {
            return Ok(());
        }
        // Rendezvous: wait until a receiver took this message.
        loop {
            let outcome = self.with_state(|state| {
                let position = state.queue.iter().position(|(queued, _)| *queued == ticket);
                match (position, self.receiver_alive()) {
                    (None, _) => Some(Ok(())),
                    (Some(position), false) => {
                        let (_, message) = state.queue.remove(position).expect("position is valid");
                        Some(Err(SendError(message)))
                    }
                    (Some(_), true) => None,
                }
            });
            if let Some(result) = outcome {
                return result;
            }
            self.enqueue_current(object);
            execution::block_at(Blocker::Send(object), None, location);
        }
    }

    fn try_send(
        &self,
        message: T,
        location: &'static std::panic::Location<'static>,
    ) -> Result<(), TrySendError<T>> {
        let object = self.point(Op::Send, location);
        // A rendezvous channel takes a message only when a receiver is already waiting for it.
        let receiver_waiting =
            execution::with(|execution| execution.has_waiter_on(object, Blocker::Recv(object)));
        let outcome = self.with_state(|state| {
            if !self.receiver_alive() {
                return Err(TrySendError::Disconnected(message));
            }
            let full = match self.capacity {
                None => false,
                Some(0) => !receiver_waiting || !state.queue.is_empty(),
                Some(capacity) => state.queue.len() >= capacity,
            };
            if full {
                return Err(TrySendError::Full(message));
            }
            let ticket = state.sent;
            state.sent += 1;
            state.queue.push_back((ticket, message));
            Ok(())
        });
        match outcome {
            Ok(()) => self.wake_all(),
            Err(TrySendError::Full(_)) => execution::spin_hint(),
            Err(TrySendError::Disconnected(_)) => {}
        }
        outcome
    }

    fn recv(
        &self,
        deadline: Option<u64>,
        location: &'static std::panic::Location<'static>,
    ) -> Result<T, RecvTimeoutError> {
        let object = self.point(Op::Recv, location);
        loop {
            // One borrow: take a message and wake senders, or queue this thread and block.
            let outcome = execution::with(|execution| {
                let taken = self.with_state(|state| match state.queue.pop_front() {
                    Some((_, message)) => Some(Ok(message)),
                    None if self.disconnected_from_senders() => {
                        Some(Err(RecvTimeoutError::Disconnected))
                    }
                    None => None,
                });
                match taken {
                    Some(Ok(message)) => {
                        execution.wake_all_waiters(object);
                        Attempt::Done(Ok(message))
                    }
                    Some(Err(error)) => Attempt::Done(Err(error)),
                    None => {
                        execution.enqueue_current(object);
                        Attempt::Block(execution.begin_block(
                            Blocker::Recv(object),
                            deadline,
                            location,
                        ))
                    }
                }
            });
            let blocking = match outcome {
                Attempt::Done(result) => return result,
                Attempt::Block(blocking) => blocking,
            };
            if execution::wait(blocking) == Wake::TimedOut {
                let message = self.with_state(|state| state.queue.pop_front());
                return match message {
                    Some((_, message)) => {
                        self.wake_all();
                        Ok(message)
                    }
                    None => Err(RecvTimeoutError::Timeout),
                };
            }
        }
    }

    fn try_recv(
        &self,
        location: &'static std::panic::Location<'static>,
    ) -> Result<T, TryRecvError> {
        self.point(Op::Recv, location);
        let outcome = self.with_state(|state| match state.queue.pop_front() {
            Some((_, message)) => Ok(message),
            None if self.disconnected_from_senders() => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        });
        match outcome {
            Ok(_) => self.wake_all(),
            Err(TryRecvError::Empty) => execution::spin_hint(),
            Err(TryRecvError::Disconnected) => {}
        }
        outcome
    }

    fn receiver_alive(&self) -> bool {
        self.receiver_alive.load(Ordering::Acquire)
    }

    fn disconnected_from_senders(&self) -> bool {
        self.senders.load(Ordering::Acquire) == 0
    }

    fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    fn drop_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.wake_all();
        }
    }

    /// The receiver is gone: later sends fail, and, as in std, the messages queued now go
    /// with it, even while senders live. Not those of a rendezvous channel: each belongs to
    /// a sender still waiting for its hand-over, which takes it back in its `SendError`.
    fn drop_receiver(&self) {
        self.receiver_alive.store(false, Ordering::Release);
        self.wake_all();
        let used_here =
            execution::try_with(|execution| self.object.current_id(execution).is_some());
        // Only an execution that used the channel may touch its state: no other can be using
        // it at the same time (see `ObjectCell::register`). One that never did can find in it
        // only what an earlier execution left, which goes when the channel does.
        if used_here == Some(true) && self.capacity != Some(0) {
            let queued = self.with_state(|state| std::mem::take(&mut state.queue));
            // Dropped outside any borrow: a message's destructor may use reel.
            drop(queued);
        }
    }
}

/// The sending half of an unbounded channel.
pub struct Sender<T> {
    channel: Arc<Channel<T>>,
}

/// The sending half of a bounded channel.
pub struct SyncSender<T> {
    channel: Arc<Channel<T>>,
}

/// The receiving half of a channel.
pub struct Receiver<T> {
    channel: Arc<Channel<T>>,
    /// Receivers are Send but not Sync, as in std.
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

/// An unbounded channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let channel = Channel::new(None);
    (
        Sender {
            channel: Arc::clone(&channel),
        },
        Receiver {
            channel,
            _not_sync: std::marker::PhantomData,
        },
    )
}

/// A channel holding at most `bound` messages; 0 makes every send wait for its receive.
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let channel = Channel::new(Some(bound));
    (
        SyncSender {
            channel: Arc::clone(&channel),
        },
        Receiver {
            channel,
            _not_sync: std::marker::PhantomData,
        },
    )
}

impl<T> Sender<T> {
    /// Sends a message; `Err` with it back if the receiver is gone.
    #[track_caller]
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        self.channel.send(message, std::panic::Location::caller())
    }
}

impl<T> SyncSender<T> {
    /// Sends a message, waiting for room; `Err` with it back if the receiver is gone.
    #[track_caller]
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        self.channel.send(message, std::panic::Location::caller())
    }

    /// Sends a message only if there is room right now.
    #[track_caller]
    pub fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        self.channel
            .try_send(message, std::panic::Location::caller())
    }
}

impl<T> Receiver<T> {
    /// Waits for a message; `Err` once every sender is gone and the channel is empty.
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.channel
            .recv(None, std::panic::Location::caller())
            .map_err(|_| RecvError)
    }

    /// Takes a message if one is waiting.
    #[track_caller]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.channel.try_recv(std::panic::Location::caller())
    }

    /// Waits at most `timeout` for a message (virtual time under exploration).
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let location = std::panic::Location::caller();
        let deadline = execution::with(|execution| execution.clock.deadline_after(timeout));
        self.channel.recv(Some(deadline), location)
    }

    /// Waits for a message until `deadline` (reel's [`Instant`](crate::time::Instant), on the
    /// runtime's clock), as std's unstable `recv_deadline`.
    #[track_caller]
    pub fn recv_deadline(&self, deadline: crate::time::Instant) -> Result<T, RecvTimeoutError> {
        let location = std::panic::Location::caller();
        self.channel.recv(Some(deadline.timeline_nanos()), location)
    }

    /// Blocking iterator over messages; ends when every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// Iterator over the messages waiting now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }
}

/// Blocking iterator, from [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    receiver: &'a Receiver<T>,
}

/// Non-blocking iterator, from [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    receiver: &'a Receiver<T>,
}

/// Owning blocking iterator, from `Receiver::into_iter`.
#[derive(Debug)]
pub struct IntoIter<T> {
    receiver: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.receiver.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { receiver: self }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.channel.add_sender();
        Sender {
            channel: Arc::clone(&self.channel),
        }
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> SyncSender<T> {
        self.channel.add_sender();
        SyncSender {
            channel: Arc::clone(&self.channel),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.channel.drop_sender();
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        self.channel.drop_sender();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.channel.drop_receiver();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
