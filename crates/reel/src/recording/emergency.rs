//! The last flush: when a recorded program dies of a fatal signal or calls
//! `std::process::exit`, the chunk being filled is written out before the process ends, so
//! the trace keeps everything up to the last complete event.
//!
//! A file recording publishes an [`EmergencyTarget`] (its file descriptor and its encoder)
//! while it runs. The handlers (SIGABRT, SIGTERM, SIGINT, SIGHUP, SIGQUIT, and the stack
//! overflow handler's SIGSEGV/SIGBUS, plus an `atexit` hook) take it, write the open chunk's
//! committed events with write(2), and let the signal go on as it would have.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Once, OnceLock};

use reel_trace::ChunkEncoder;

/// What a handler needs to write out a recording's open chunk.
pub(crate) struct EmergencyTarget {
    fd: libc::c_int,
    encoder: AtomicPtr<ChunkEncoder>,
    /// Set once a handler wrote the open chunk; the recorder writes nothing after that, as
    /// the chunk it would seal next is already in the file.
    fired: AtomicBool,
}

/// The published target, if a file recording runs.
static ACTIVE: AtomicPtr<EmergencyTarget> = AtomicPtr::new(std::ptr::null_mut());

impl EmergencyTarget {
    pub(crate) fn new(file: &File) -> EmergencyTarget {
        EmergencyTarget {
            fd: file.as_raw_fd(),
            encoder: AtomicPtr::new(std::ptr::null_mut()),
            fired: AtomicBool::new(false),
        }
    }

    /// Publishes `encoder`; both it and `self` must stay where they are until
    /// [`EmergencyTarget::withdraw`].
    pub(crate) fn publish(&mut self, encoder: &ChunkEncoder) {
        self.encoder
            .store(encoder as *const ChunkEncoder as *mut _, Ordering::Release);
        ACTIVE.store(self, Ordering::Release);
    }

    /// Withdraws this target, if it is the published one.
    pub(crate) fn withdraw(&mut self) {
        let _ = ACTIVE.compare_exchange(
            self,
            std::ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.encoder.store(std::ptr::null_mut(), Ordering::Release);
    }

    /// Whether a handler already wrote the open chunk.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

/// Writes the published recording's open chunk, once. Async-signal-safe: atomics,
/// arithmetic, and write(2) only.
pub(crate) fn flush() {
    let target = ACTIVE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if target.is_null() {
        return;
    }
    // SAFETY: a published target lives until it is withdrawn, and withdrawal happens on
    // the recording's kernel thread after the run; a handler running on that thread has
    // interrupted it before that point. (A handler on another thread could race with the
    // end of the run; the swap above makes at most one handler use it.)
    let target = unsafe { &*target };
    let encoder = target.encoder.load(Ordering::Acquire);
    if encoder.is_null() || target.fired.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the encoder was published with the target and is live for as long as it is;
    // `committed_chunk` only reads bytes published before the committed length.
    let Some((frame, payload)) = (unsafe { ChunkEncoder::committed_chunk(encoder) }) else {
        return;
    };
    write_all(target.fd, &frame);
    write_all(target.fd, payload);
}

fn write_all(fd: libc::c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write(2) reads `bytes.len()` bytes from a live slice.
        let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if written <= 0 {
            return;
        }
        bytes = &bytes[written as usize..];
    }
}

/// The signals whose default action ends the process, which a recording flushes before.
const FATAL_SIGNALS: [libc::c_int; 5] = [
    libc::SIGABRT,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
];

static PREVIOUS: [OnceLock<libc::sigaction>; 5] = [const { OnceLock::new() }; 5];
static INSTALL: Once = Once::new();

/// Installs the handlers and the `atexit` hook, once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        for (index, &signal) in FATAL_SIGNALS.iter().enumerate() {
            // SAFETY: sigaction gets a zeroed, then filled, struct and a valid out pointer.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    let _ = PREVIOUS[index].set(old);
                }
            }
        }
        // SAFETY: registering a function with no preconditions.
        unsafe { libc::atexit(at_exit) };
    });
}

extern "C" fn at_exit() {
    flush();
}

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    flush();
    let index = FATAL_SIGNALS.iter().position(|&fatal| fatal == signal);
    let previous = index.and_then(|index| PREVIOUS[index].get());
    match previous {
        Some(old) if old.sa_sigaction == libc::SIG_IGN => {}
        Some(old) if old.sa_sigaction != libc::SIG_DFL => {
            if old.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this
                // signature.
                let previous: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(old.sa_sigaction) };
                previous(signal, info, context);
            } else {
                // SAFETY: a handler installed without SA_SIGINFO takes the signal number.
                let previous: extern "C" fn(libc::c_int) =
                    unsafe { std::mem::transmute(old.sa_sigaction) };
                previous(signal);
            }
        }
        _ => {
            // The default action: restore it and raise the signal again, so the process ends
            // as it would have (with the right status, and a core dump where due).
            // SAFETY: a zeroed sigaction with SIG_DFL is a valid argument; raise and
            // sigaction are async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &action, std::ptr::null_mut());
                let mut unblock: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut unblock);
                libc::sigaddset(&mut unblock, signal);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, std::ptr::null_mut());
                libc::raise(signal);
            }
        }
    }
}
