//! Unix signals, shaped like signal-hook: [`Signals`] (with [`Signals::forever`],
//! [`Signals::pending`] and a [`Handle`] that closes it), [`flag::register`] and [`raise`].
//!
//! A signal reaches the program at a scheduling point, never in the middle of its code: the
//! runtime's OS handler only notes it (async-signal-safe) and wakes the runtime if it sleeps;
//! the arrival is delivered at the next decision, and is an input of the execution, recorded
//! in a trace as (signal, si_code, sender, step). So a replay delivers each signal after the
//! same step, with no OS signal involved, and an exploration makes the step of each arrival a
//! choice of its strategy ([`Checker::signal`](crate::Checker::signal)).
//!
//! ```
//! use reel::signal::{Signals, SIGUSR1};
//!
//! reel::run(|| {
//!     let mut signals = Signals::new([SIGUSR1]).unwrap();
//!     let handle = signals.handle();
//!     let waiter = reel::thread::spawn(move || signals.forever().next());
//!     reel::signal::raise(SIGUSR1).unwrap();
//!     assert_eq!(waiter.join().unwrap(), Some(SIGUSR1));
//!     handle.close();
//! });
//! ```
//!
//! A signal the program does not subscribe to keeps its default behaviour (and a recording's
//! emergency flush on a fatal one). Some cannot be subscribed to: SIGKILL and SIGSTOP, the
//! faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE; reel's stack-overflow report uses the first two),
//! the C library's own (32 and 33), the real-time signal a recording takes for its flush
//! requests and the one the watchdog samples stalled threads with; [`Signals::new`] refuses
//! them with an [`io::ErrorKind::InvalidInput`] error.

pub(crate) mod explore;
pub mod flag;

use std::borrow::Borrow;
use std::io;
use std::panic::Location;
use std::sync::Arc;

pub use libc::{
    SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1,
    SIGUSR2, SIGWINCH, c_int,
};

use crate::runtime::execution::{self, Blocker, ObjectCell, ObjectKind, Op, Raise};
use crate::runtime::os_signals;

/// The Linux name of `signal`: `SIGTERM`, `SIGRTMIN+2`, or `SIG<n>`.
pub fn name(signal: c_int) -> String {
    match u32::try_from(signal) {
        Ok(signal) => os_signals::name(signal),
        Err(_) => format!("SIG{signal}"),
    }
}

/// Checks that the program may subscribe to `signal`; its number as the runtime keeps it.
pub(crate) fn check_signal(signal: c_int) -> io::Result<u32> {
    let refuse = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "reel::signal: {} ({signal}) cannot be handled: {why}",
                name(signal)
            ),
        ))
    };
    let number = match u32::try_from(signal) {
        Ok(number) if (1..=os_signals::MAX_SIGNAL).contains(&number) => number,
        _ => {
            return refuse(&format!(
                "it is not a signal number (1 to {})",
                os_signals::MAX_SIGNAL
            ));
        }
    };
    match signal {
        libc::SIGKILL | libc::SIGSTOP => refuse("the kernel lets no process catch it"),
        libc::SIGSEGV | libc::SIGBUS => refuse(
            "it is a fault, and reel's handler for it reports green threads' stack overflows",
        ),
        libc::SIGILL | libc::SIGFPE => {
            refuse("it is a fault: a handler that returns runs the faulting instruction again")
        }
        32 | 33 => refuse("the C library reserves it for its threads"),
        _ if crate::recording::emergency::flush_signal() == Some(signal) => {
            refuse("reel's recording uses it to ask threads to flush their traces")
        }
        _ if crate::runtime::watchdog::sample_signal() == Some(signal) => {
            refuse("reel's watchdog uses it to sample a stalled thread")
        }
        _ => Ok(number),
    }
}

/// The part of a [`Signals`] its [`Handle`]s share: the subscription's object.
#[derive(Debug)]
struct Shared {
    object: ObjectCell,
}

/// A subscription to a set of signals, as signal-hook's `Signals`: arrivals queue up (one
/// per signal until taken, as the kernel's do) and are taken with [`Signals::pending`],
/// [`Signals::wait`] or [`Signals::forever`].
#[derive(Debug)]
pub struct Signals {
    shared: Arc<Shared>,
}

impl Signals {
    /// Subscribes to `signals`. Refuses (with [`io::ErrorKind::InvalidInput`]) a signal that
    /// cannot be handled; see the [module](self) documentation.
    ///
    /// Must be called inside a reel runtime. In a plain run it installs reel's handler for
    /// each signal; under exploration and in a replay no OS signal is involved.
    #[track_caller]
    pub fn new<I, S>(signals: I) -> io::Result<Signals>
    where
        I: IntoIterator<Item = S>,
        S: Borrow<c_int>,
    {
        let mask = mask_of(signals)?;
        let subscription = Signals {
            shared: Arc::new(Shared {
                object: ObjectCell::new(),
            }),
        };
        subscription.subscribe(mask, Location::caller())?;
        Ok(subscription)
    }

    /// Adds `signal` to the subscription.
    #[track_caller]
    pub fn add_signal(&self, signal: c_int) -> io::Result<()> {
        let mask = os_signals::bit(check_signal(signal)?);
        self.subscribe(mask, Location::caller())
    }

    fn subscribe(&self, mask: u64, location: &'static Location<'static>) -> io::Result<()> {
        execution::update_then_point(
            &self.shared.object,
            ObjectKind::Signals,
            Op::SignalPoll,
            location,
            |execution, object| execution.subscribe_signals(object, mask),
        )
    }

    /// The signals that arrived since the last look, lowest number first; never blocks (a
    /// scheduling point).
    #[track_caller]
    pub fn pending(&mut self) -> Pending {
        let location = Location::caller();
        let object = execution::object_point(
            &self.shared.object,
            ObjectKind::Signals,
            Op::SignalPoll,
            location,
        );
        let mask = execution::with(|execution| execution.take_pending_signals(object));
        Pending {
            mask: mask.unwrap_or(0),
        }
    }

    /// Waits until a signal arrives (or the subscription is closed: then the iterator is
    /// empty) and returns those that did.
    #[track_caller]
    pub fn wait(&mut self) -> Pending {
        Pending {
            mask: self.wait_mask(Location::caller()).unwrap_or(0),
        }
    }

    /// Blocks the green thread until a signal is pending: its mask, or `None` when closed.
    fn wait_mask(&self, location: &'static Location<'static>) -> Option<u64> {
        loop {
            let object = execution::object_point(
                &self.shared.object,
                ObjectKind::Signals,
                Op::SignalPoll,
                location,
            );
            let blocking =
                execution::with(|execution| match execution.take_pending_signals(object) {
                    Some(0) => {
                        execution.enqueue_current(object);
                        Ok(execution.begin_block(Blocker::Signal(object), None, location))
                    }
                    taken => Err(taken),
                });
            match blocking {
                Ok(blocking) => {
                    execution::wait(blocking);
                }
                Err(taken) => return taken,
            }
        }
    }

    /// An endless iterator over the arrivals: each `next` blocks until a signal arrives, and
    /// returns `None` only once the subscription is closed ([`Handle::close`]).
    #[track_caller]
    pub fn forever(&mut self) -> Forever<'_> {
        Forever {
            signals: self,
            buffered: 0,
            location: Location::caller(),
        }
    }

    /// A handle that closes the subscription from another thread.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Whether the subscription was closed.
    pub fn is_closed(&self) -> bool {
        self.handle().is_closed()
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // Outside its runtime (it ended) there is nothing left to undo.
        let _ = execution::try_with(|execution| {
            if let Some(object) = self.shared.object.current_id(execution) {
                execution.unsubscribe_signals(object);
            }
        });
    }
}

fn mask_of<I, S>(signals: I) -> io::Result<u64>
where
    I: IntoIterator<Item = S>,
    S: Borrow<c_int>,
{
    signals.into_iter().try_fold(0, |mask, signal| {
        Ok(mask | os_signals::bit(check_signal(*signal.borrow())?))
    })
}

/// Closes a [`Signals`] from anywhere: its `forever` ends and its waiters wake.
#[derive(Clone, Debug)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// Closes the subscription: a blocked [`Forever::next`] or [`Signals::wait`] returns.
    pub fn close(&self) {
        execution::with(|execution| {
            if let Some(object) = self.shared.object.current_id(execution) {
                execution.close_signals(object);
            }
        });
    }

    /// Whether [`Handle::close`] was called (or the subscription is gone).
    pub fn is_closed(&self) -> bool {
        execution::try_with(|execution| {
            self.shared
                .object
                .current_id(execution)
                .is_none_or(|object| execution.signals_closed(object))
        })
        .unwrap_or(true)
    }
}

/// The signals taken at once by [`Signals::pending`] or [`Signals::wait`], lowest first.
#[derive(Clone, Debug)]
pub struct Pending {
    mask: u64,
}

impl Iterator for Pending {
    type Item = c_int;

    fn next(&mut self) -> Option<c_int> {
        pop_lowest(&mut self.mask)
    }
}

fn pop_lowest(mask: &mut u64) -> Option<c_int> {
    if *mask == 0 {
        return None;
    }
    let bit = mask.trailing_zeros();
    *mask &= *mask - 1;
    Some(bit as c_int + 1)
}

/// The iterator of [`Signals::forever`].
#[derive(Debug)]
pub struct Forever<'a> {
    signals: &'a mut Signals,
    buffered: u64,
    location: &'static Location<'static>,
}

impl Iterator for Forever<'_> {
    type Item = c_int;

    fn next(&mut self) -> Option<c_int> {
        if self.buffered == 0 {
            self.buffered = self.signals.wait_mask(self.location)?;
        }
        pop_lowest(&mut self.buffered)
    }
}

/// Sends `signal` to the running program, as `raise(3)`. In a plain run it is a real
/// signal, delivered at the next scheduling point; under exploration it arrives at the next
/// decision (si_code `SI_TKILL`); in a replay, the trace already holds its arrival, so
/// nothing is sent.
pub fn raise(signal: c_int) -> io::Result<()> {
    let number = u32::try_from(signal)
        .ok()
        .filter(|number| (1..=os_signals::MAX_SIGNAL).contains(number))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("reel::signal::raise: {signal} is not a signal number"),
            )
        })?;
    let raise =
        execution::try_with(|execution| execution.raise_signal(number)).unwrap_or(Raise::Os);
    if let Raise::Os = raise {
        // SAFETY: raise has no preconditions; the signal number was checked.
        if unsafe { libc::raise(signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
