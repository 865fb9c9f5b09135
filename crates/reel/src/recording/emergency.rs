//! The last flush: when a recorded program dies of a fatal signal or calls
//! `std::process::exit`, the chunk being filled is written out before the process ends, so
//! the trace keeps everything up to the last complete event.
//!
//! A recording publishes an [`EmergencyTarget`] while it runs. The handlers (SIGABRT,
//! SIGTERM, SIGINT, SIGHUP, SIGQUIT, and the stack overflow handler's SIGSEGV/SIGBUS, plus an
//! `atexit` hook) take it, write what it holds with write(2), and let the signal go on as it
//! would have. A file recording's target is its file descriptor and encoder: the open
//! chunk's committed events are appended. An exploration's (in memory) is where the failing
//! trace would be saved: the whole execution so far is written to a new file there, so a
//! crash in the middle of an exploration leaves the trace of the execution that crashed.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use reel_trace::ChunkEncoder;

use super::recorder::LocationInterner;

/// Where a handler writes.
enum Destination {
    /// The recording's file: append the open chunk.
    File(libc::c_int),
    /// An execution kept in memory: create `<prefix><iteration>.reel` and write the prologue,
    /// the location definitions, the sealed chunks and the open chunk.
    NewFile {
        prefix: Vec<u8>,
        prologue: Vec<u8>,
        iteration: AtomicU64,
    },
}

/// What a handler needs to write out a recording.
pub(crate) struct EmergencyTarget {
    destination: Destination,
    encoder: AtomicPtr<ChunkEncoder>,
    /// For `Destination::NewFile`: the interned locations.
    interner: AtomicPtr<LocationInterner>,
    /// Set once a handler wrote the open chunk; the recorder writes nothing after that, as
    /// the chunk it would seal next is already in the file.
    fired: AtomicBool,
}

/// The published target, if a file recording runs.
static ACTIVE: AtomicPtr<EmergencyTarget> = AtomicPtr::new(std::ptr::null_mut());

impl EmergencyTarget {
    /// A target that appends to `file`.
    pub(crate) fn append_to(file: &File) -> EmergencyTarget {
        EmergencyTarget::new(Destination::File(file.as_raw_fd()))
    }

    /// A target that saves an in-memory execution to `<prefix><iteration>.reel`, starting
    /// with `prologue`.
    pub(crate) fn new_file(prefix: Vec<u8>, prologue: Vec<u8>) -> EmergencyTarget {
        EmergencyTarget::new(Destination::NewFile {
            prefix,
            prologue,
            iteration: AtomicU64::new(0),
        })
    }

    fn new(destination: Destination) -> EmergencyTarget {
        EmergencyTarget {
            destination,
            encoder: AtomicPtr::new(std::ptr::null_mut()),
            interner: AtomicPtr::new(std::ptr::null_mut()),
            fired: AtomicBool::new(false),
        }
    }

    /// Names the execution an in-memory target would save.
    pub(crate) fn set_iteration(&self, iteration: u64) {
        if let Destination::NewFile { iteration: at, .. } = &self.destination {
            at.store(iteration, Ordering::Release);
        }
    }

    /// Publishes `encoder` and `interner`; they and `self` must stay where they are until
    /// [`EmergencyTarget::withdraw`].
    pub(crate) fn publish(&mut self, encoder: &ChunkEncoder, interner: &LocationInterner) {
        self.encoder
            .store(encoder as *const ChunkEncoder as *mut _, Ordering::Release);
        self.interner.store(
            interner as *const LocationInterner as *mut _,
            Ordering::Release,
        );
        if let Destination::NewFile { .. } = self.destination {
            // Each execution is a trace of its own: an earlier save does not stop this one.
            self.fired.store(false, Ordering::Release);
        }
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
        self.interner.store(std::ptr::null_mut(), Ordering::Release);
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
    match &target.destination {
        Destination::File(fd) => write_open_chunk(*fd, encoder),
        Destination::NewFile {
            prefix,
            prologue,
            iteration,
        } => {
            let interner = target.interner.load(Ordering::Acquire);
            if interner.is_null() {
                return;
            }
            save_execution(
                prefix,
                prologue,
                iteration.load(Ordering::Acquire),
                encoder,
                interner,
            );
        }
    }
}

/// Appends the open chunk's committed events to `fd`.
fn write_open_chunk(fd: libc::c_int, encoder: *const ChunkEncoder) {
    // SAFETY: the encoder was published with the target and is live for as long as it is;
    // `committed_chunk` only reads bytes published before the committed length.
    if let Some((frame, payload)) = unsafe { ChunkEncoder::committed_chunk(encoder) } {
        write_all(fd, &frame);
        write_all(fd, payload);
    }
}

/// Writes an execution recorded in memory to `<prefix><iteration>.reel`, creating its
/// directory, and says so on standard error. Allocates nothing: the path is built on the
/// stack, the definitions are encoded as they are written.
fn save_execution(
    prefix: &[u8],
    prologue: &[u8],
    iteration: u64,
    encoder: *const ChunkEncoder,
    interner: *const LocationInterner,
) {
    // Small: a handler may run on a small alternate signal stack.
    let mut path = [0u8; 1024];
    let mut len = 0;
    let mut digits = [0u8; 20];
    let mut digit_count = 0;
    let mut value = iteration;
    loop {
        digits[digit_count] = b'0' + (value % 10) as u8;
        digit_count += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    if prefix.len() + digit_count + 6 > path.len() {
        return;
    }
    path[..prefix.len()].copy_from_slice(prefix);
    len += prefix.len();
    for index in (0..digit_count).rev() {
        path[len] = digits[index];
        len += 1;
    }
    path[len..len + 5].copy_from_slice(b".reel");
    len += 5;
    path[len] = 0;
    // mkdir -p of the parent: each '/' in turn ends a directory to create.
    for at in 1..len {
        if path[at] == b'/' {
            path[at] = 0;
            // SAFETY: `path` is NUL-terminated at `at`; mkdir(2) is async-signal-safe.
            unsafe { libc::mkdir(path.as_ptr().cast(), 0o755) };
            path[at] = b'/';
        }
    }
    // SAFETY: `path` is NUL-terminated; open(2) is async-signal-safe.
    let fd = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        return;
    }
    write_all(fd, prologue);
    // SAFETY: the interner and encoder were published with the target and live as long as
    // it is published; the handler runs on the recording's kernel thread, which it
    // interrupted between (not inside) the appends that could reallocate these vectors,
    // except in the rare case of a fault inside the recorder itself.
    unsafe {
        let interner = &*interner;
        reel_trace::write_definitions(&interner.file_names, &interner.locations, &mut |bytes| {
            write_all(fd, bytes)
        });
        write_all(fd, (*encoder).sealed());
    }
    write_open_chunk(fd, encoder);
    // SAFETY: closing the descriptor we opened.
    unsafe { libc::close(fd) };
    write_all(
        2,
        b"reel: the crashed execution's trace so far was saved to ",
    );
    write_all(2, &path[..len]);
    write_all(2, b"\n");
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
