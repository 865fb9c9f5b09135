//! Signals from the operating system, for a plain run whose program subscribed to them
//! (`reel::signal`): the handler only notes an arrival (a bit in a process-wide mask, the
//! `si_code` and sender of the latest one) and wakes a runtime that sleeps in its idle wait
//! (a self-pipe); the execution takes the arrival at its next scheduling point, where it
//! becomes an input (`seams::Input::Signal`). Nothing else of the runtime learns of OS
//! signals.
//!
//! # Rules
//! 1. The handler of a signal is installed the first time a program subscribes to it, and
//!    stays (as signal-hook's do): uninstalling races with arrivals on other threads.
//! 2. An arrival while no execution subscribes to the signal goes where it would have gone
//!    without reel: to the handler installed before (the recording's emergency flush, which
//!    then ends the process), nowhere if the signal was ignored, or to the default action
//!    (restored, and the signal raised again).
//! 3. Arrivals of one signal coalesce until taken, as a standard signal's do; the `si_code`
//!    and sender are those of the latest.
//!
//! Everything the handler calls is async-signal-safe: atomics, write(2), sigaction(2),
//! sigprocmask(2) and raise(3).

use std::io;
use std::os::fd::RawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use super::signals;

/// The highest signal number (Linux's SIGRTMAX).
pub(crate) const MAX_SIGNAL: u32 = 64;

const SLOTS: usize = MAX_SIGNAL as usize + 1;

/// Signals noted and not yet taken: bit `signal - 1`.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Per signal: `si_code` (as u32) << 32 | the sender's pid, of the latest arrival.
static INFO: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// Per signal: how many subscriptions of running executions want it (rule 2).
static SUBSCRIBERS: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];
/// Per signal: whether reel's handler is installed.
static INSTALLED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
/// Per signal: the disposition reel's handler replaced, as (sa_sigaction, sa_flags), set
/// before the handler is installed.
static PREVIOUS: [(AtomicU64, AtomicI32); SLOTS] =
    [const { (AtomicU64::new(0), AtomicI32::new(0)) }; SLOTS];
/// The self-pipe: read and write ends, -1 before it is made.
static PIPE_READ: AtomicI32 = AtomicI32::new(-1);
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Serialises installs (never taken by the handler).
static INSTALL: Mutex<()> = Mutex::new(());

/// The mask bit of `signal`.
#[inline]
pub(crate) fn bit(signal: u32) -> u64 {
    debug_assert!((1..=MAX_SIGNAL).contains(&signal));
    1u64 << (signal - 1)
}

/// Whether any of `mask`'s signals is noted and not yet taken. One relaxed load: the
/// execution asks at each decision of a plain run that subscribed to signals.
#[inline(always)]
pub(crate) fn any_pending(mask: u64) -> bool {
    PENDING.load(Ordering::Relaxed) & mask != 0
}

/// Takes the noted arrivals of `mask`'s signals: (signal, si_code, sender pid), lowest
/// signal first.
pub(crate) fn take(mask: u64) -> Vec<(u32, i32, u32)> {
    let taken = PENDING.fetch_and(!mask, Ordering::AcqRel) & mask;
    (1..=MAX_SIGNAL)
        .filter(|&signal| taken & bit(signal) != 0)
        .map(|signal| {
            let info = INFO[signal as usize].load(Ordering::Acquire);
            (signal, (info >> 32) as u32 as i32, info as u32)
        })
        .collect()
}

/// A subscription of a running execution to `signal`: installs reel's handler if it is not
/// (rule 1). Undone by [`unsubscribe`].
pub(crate) fn subscribe(signal: u32) -> io::Result<()> {
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    make_pipe()?;
    SUBSCRIBERS[signal as usize].fetch_add(1, Ordering::AcqRel);
    if INSTALLED[signal as usize].load(Ordering::Acquire) {
        return Ok(());
    }
    let previous = signals::disposition(signal as libc::c_int);
    if let Some(previous) = previous {
        PREVIOUS[signal as usize]
            .0
            .store(previous.sa_sigaction as u64, Ordering::Release);
        PREVIOUS[signal as usize]
            .1
            .store(previous.sa_flags, Ordering::Release);
    }
    let flags = libc::SA_RESTART | libc::SA_ONSTACK;
    match signals::install(signal as libc::c_int, note, flags, signals::empty_set()) {
        Some(_) => {
            INSTALLED[signal as usize].store(true, Ordering::Release);
            Ok(())
        }
        None => {
            SUBSCRIBERS[signal as usize].fetch_sub(1, Ordering::AcqRel);
            Err(io::Error::last_os_error())
        }
    }
}

/// Ends a subscription made with [`subscribe`]. The last one drops an arrival noted and not
/// taken: it was for the executions that subscribed, not for a later one.
pub(crate) fn unsubscribe(signal: u32) {
    // Under the install lock: no subscription comes between the last one's end and the
    // clearing, to have its arrival cleared.
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before =
        SUBSCRIBERS[signal as usize]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    if before == Ok(1) {
        PENDING.fetch_and(!bit(signal), Ordering::AcqRel);
    }
}

/// Makes the self-pipe, once.
fn make_pipe() -> io::Result<()> {
    if PIPE_READ.load(Ordering::Acquire) >= 0 {
        return Ok(());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    PIPE_WRITE.store(fds[1], Ordering::Release);
    PIPE_READ.store(fds[0], Ordering::Release);
    Ok(())
}

/// The idle wait of a plain run whose threads all wait: sleeps until a signal is noted or
/// `timeout_nanos` passes (`None`: no limit), then empties the self-pipe.
pub(crate) fn wait(mask: u64, timeout_nanos: Option<u64>) {
    let read = PIPE_READ.load(Ordering::Acquire);
    if read < 0 || any_pending(mask) {
        return;
    }
    let timeout_ms = match timeout_nanos {
        None => -1,
        // Rounded up, so that the deadline has passed when poll returns.
        Some(nanos) => libc::c_int::try_from(nanos.div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX),
    };
    let mut poll = libc::pollfd {
        fd: read,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; an interrupted poll (EINTR) just returns.
    unsafe { libc::poll(&mut poll, 1, timeout_ms) };
    drain_pipe();
}

/// The self-pipe's read end, for the I/O driver's wait to include (`None` before it is
/// made, or while an arrival of `mask`'s signals is already noted: no wait then).
pub(crate) fn pipe_for_wait(mask: u64) -> Option<RawFd> {
    let read = PIPE_READ.load(Ordering::Acquire);
    (read >= 0 && !any_pending(mask)).then_some(read)
}

/// Empties the self-pipe (after a wait it ended).
pub(crate) fn drain_pipe() {
    let read = PIPE_READ.load(Ordering::Acquire);
    if read < 0 {
        return;
    }
    let mut drain = [0u8; 64];
    // SAFETY: reads into a local buffer from a non-blocking pipe this module owns.
    while unsafe { libc::read(read, drain.as_mut_ptr().cast(), drain.len()) } > 0 {}
}

/// The handler (rules 2 and 3). Async-signal-safe.
extern "C" fn note(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let Ok(slot) = usize::try_from(signal) else {
        return;
    };
    if slot == 0 || slot >= SLOTS {
        return;
    }
    if SUBSCRIBERS[slot].load(Ordering::Acquire) == 0 {
        pass_on(signal, info, context);
        return;
    }
    let (code, sender) = if info.is_null() {
        (0, 0)
    } else {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler; si_pid is
        // meaningful for the codes that carry a sender and zero-filled otherwise.
        unsafe { ((*info).si_code, (*info).si_pid()) }
    };
    INFO[slot].store(
        (u64::from(code as u32) << 32) | u64::from(sender as u32),
        Ordering::Release,
    );
    PENDING.fetch_or(1u64 << (slot - 1), Ordering::AcqRel);
    let write = PIPE_WRITE.load(Ordering::Acquire);
    if write >= 0 {
        let errno = errno_location();
        // SAFETY: errno is saved and restored around the write, which may set it.
        let saved = unsafe { *errno };
        // SAFETY: a one-byte write to a non-blocking pipe; a full pipe already wakes.
        unsafe { libc::write(write, [1u8].as_ptr().cast(), 1) };
        // SAFETY: as above.
        unsafe { *errno = saved };
    }
}

fn errno_location() -> *mut libc::c_int {
    // SAFETY: __errno_location has no preconditions and returns this thread's errno.
    unsafe { libc::__errno_location() }
}

/// An arrival nobody subscribes to goes where it would have gone without reel (rule 2).
fn pass_on(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let slot = signal as usize;
    // SAFETY: a zeroed sigaction is valid; its handler and flags are those saved.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    previous.sa_sigaction = PREVIOUS[slot].0.load(Ordering::Acquire) as libc::sighandler_t;
    previous.sa_flags = PREVIOUS[slot].1.load(Ordering::Acquire);
    if signals::is_handler(&previous) {
        signals::call_previous(&previous, signal, info, context);
    } else if previous.sa_sigaction == libc::SIG_DFL {
        INSTALLED[slot].store(false, Ordering::Release);
        signals::restore_default(signal);
        let mut unblock = signals::empty_set();
        // SAFETY: sigaddset, sigprocmask and raise are async-signal-safe and get valid
        // arguments.
        unsafe {
            libc::sigaddset(&mut unblock, signal);
            libc::sigprocmask(libc::SIG_UNBLOCK, &unblock, std::ptr::null_mut());
            libc::raise(signal);
        }
    }
}

/// The Linux name of `signal`: `SIGTERM`, `SIGRTMIN+2`, or `SIG<n>` (the trace's naming, so
/// that a report and `reel show` spell a signal alike).
pub(crate) fn name(signal: u32) -> String {
    reel_trace::signal_name(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_subscription_drops_an_arrival_nobody_took() {
        // SIGURG: no other test of the library subscribes to it.
        let signal = libc::SIGURG as u32;
        subscribe(signal).unwrap();
        subscribe(signal).unwrap();
        PENDING.fetch_or(bit(signal), Ordering::AcqRel);
        unsubscribe(signal);
        assert!(
            any_pending(bit(signal)),
            "another subscription still wants it"
        );
        unsubscribe(signal);
        assert!(
            !any_pending(bit(signal)),
            "a later run would take it as its own"
        );
    }
}
