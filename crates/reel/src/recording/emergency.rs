//! The last flush: when a recorded program is about to die of a fatal signal, or calls
//! `std::process::exit`, what its recordings hold is written out before the process ends,
//! so each trace keeps everything up to its last complete event.
//!
//! # Targets
//!
//! A recording publishes an [`EmergencyTarget`] while it runs. A file recording's target is
//! its file descriptor and encoder: a flush appends the sealed chunks not written yet and the
//! open chunk's committed events. An exploration's (in memory) is where the failing trace
//! would be saved: a flush writes the whole execution so far to `<prefix><iteration>.reel`,
//! so a crash in the middle of an exploration leaves the trace of the execution that crashed.
//!
//! # Only the owner reads a recording
//!
//! A target belongs to the kernel thread that runs its recording (its owner), which alone
//! ever reads it: the owner finds it in a thread-local (`OWN`). Several recordings may run at
//! once, one per kernel thread (parallel tests), so each also claims a slot in a fixed-size
//! registry (`REGISTRY`) that holds its owner's kernel thread id and whether it has been
//! flushed; nothing else of it, so no thread ever dereferences another's target (which its
//! owner may free at any time).
//!
//! [`flush_all`], what the fatal-signal handlers call, flushes the calling thread's own target
//! directly (the handler interrupted its owner, at an instruction boundary of the recorder's
//! code), then asks the owner of every other registered target to flush its own, by sending
//! it the flush-request signal with tgkill(2) (a real-time signal chosen by [`install`]), and
//! waits until each has (or has withdrawn its target, or about 200 ms have passed: a thread
//! that blocks the signal, or is stopped, does not hold the process up for longer). The other
//! threads are asked once per process: a later [`flush_all`] (the abort that follows a stack
//! overflow, a second signal) flushes only its own thread's recording, so an exploration on
//! another thread does not save the executions it goes on to run meanwhile. (gettid, tgkill
//! and the real-time signals make this Linux-only.)
//!
//! # When
//!
//! - SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT: the handler is not installed over SIG_IGN
//!   (an ignored signal stays ignored: no flush, no EINTR, and exec'd children inherit the
//!   disposition). Over a handler installed before, it calls that handler and flushes
//!   nothing: if the handler returns, the process goes on and the recordings with it. Over the
//!   default action, it flushes everything ([`flush_all`]), restores the default action and
//!   raises the signal again, so the process ends as it would have.
//! - SIGSEGV and SIGBUS (`runtime::overflow`'s handler): a green thread's stack overflow
//!   flushes everything before the abort; any other fault flushes everything before going to
//!   the handler installed before. That handler could recover from the fault (rare), and then
//!   the recordings flushed write nothing more; not flushing would lose the traces in the
//!   common case, where Rust's own handler restores the default action and the fault kills
//!   the process.
//! - `atexit`: only the exiting thread's own recording (the others keep their complete
//!   chunks; the process is on its way out and they are not asked).
//!
//! # Critical sections
//!
//! A handler that interrupts the owner must find the recorder's buffers whole. The event
//! buffer is built for that (an event becomes visible when it is committed), but sealing a
//! chunk appends it to a vector (which may reallocate), draining writes and clears that
//! vector, a new location grows the interner's vectors, and a new execution resets the
//! encoder. The owner runs these in a critical section ([`critical`]) that blocks the
//! asynchronous signals above and the flush-request signal, with two pthread_sigmask calls
//! while the thread publishes a target (an execution recorded in memory is reset before it
//! is published and sealed for the last time after it is withdrawn, so that costs nothing):
//! once per chunk of about 8 KiB (its seal, and for a file its write) and per new location,
//! never on the per-step path. A signal that comes meanwhile is delivered when the section
//! ends. A synchronous fault inside a critical section (a stack overflow in a seal, the
//! allocator aborting) finds the section's flag set, and the handler leaves that recording
//! as it is.

use std::cell::Cell;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::{Once, OnceLock};

use reel_trace::ChunkEncoder;

use super::recorder::LocationInterner;
use crate::runtime::signals;

/// Where a handler writes.
enum Destination {
    /// The recording's file: append the chunks not written yet.
    File(libc::c_int),
    /// An execution kept in memory: create `<prefix><iteration>.reel` and write the prologue,
    /// the location definitions, the sealed chunks and the open chunk.
    NewFile {
        prefix: Vec<u8>,
        prologue: Vec<u8>,
        iteration: AtomicU64,
    },
}

/// What a handler needs to write out a recording. Only its owner's kernel thread reads it
/// (see the module documentation); the atomics order its updates against a handler that
/// interrupts the owner.
pub(crate) struct EmergencyTarget {
    destination: Destination,
    encoder: AtomicPtr<ChunkEncoder>,
    /// For `Destination::NewFile`: the interned locations.
    interner: AtomicPtr<LocationInterner>,
    /// Set once a handler wrote the recording out; the recorder writes nothing after that,
    /// as the chunk it would seal next is already in the file.
    fired: AtomicBool,
    /// The registry slot claimed while published, or `NO_SLOT`.
    slot: AtomicUsize,
}

/// How many recordings other threads can ask to flush at once. One more recording runs
/// unprotected from signals taken by other threads (its own thread's signals still flush it).
const SLOTS: usize = 64;
const NO_SLOT: usize = usize::MAX;
/// A slot's `owner` when free.
const FREE: i32 = 0;
/// A slot's `owner` while it is being claimed.
const CLAIMING: i32 = -1;

/// One published recording, as other threads see it: who owns it, and whether it is flushed.
struct Slot {
    /// The owner's kernel thread id, or `FREE` or `CLAIMING`.
    owner: AtomicI32,
    flushed: AtomicBool,
}

static REGISTRY: [Slot; SLOTS] = [const {
    Slot {
        owner: AtomicI32::new(FREE),
        flushed: AtomicBool::new(false),
    }
}; SLOTS];

thread_local! {
    // Const-initialised Cells of plain data: reading them needs no allocation or lock, so a
    // signal handler may (as overflow.rs's RUNNING).
    /// The target this kernel thread publishes, if any.
    static OWN: Cell<*const EmergencyTarget> = const { Cell::new(std::ptr::null()) };
    /// Whether this kernel thread is inside a critical section.
    static CRITICAL: Cell<bool> = const { Cell::new(false) };
    /// This kernel thread's id, once asked (0: not yet).
    static TID: Cell<libc::pid_t> = const { Cell::new(0) };
}

/// The flush-request signal, once chosen by [`install`] (0: none, no cross-thread flush).
static FLUSH_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The real-time signal the recording took for its flush requests, if it took one: a
/// program may not subscribe to it (`reel::signal`).
pub(crate) fn flush_signal() -> Option<libc::c_int> {
    match FLUSH_SIGNAL.load(Ordering::Acquire) {
        0 => None,
        signal => Some(signal),
    }
}

/// How long [`flush_all`] waits for the other threads' flushes, in rounds of [`WAIT_ROUND`]
/// (200 ms in all, at most).
const FLUSH_WAIT_ROUNDS: u32 = 200;
/// One round of waiting: 1 ms.
const WAIT_ROUND: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 1_000_000,
};

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
            slot: AtomicUsize::new(NO_SLOT),
        }
    }

    /// Names the execution an in-memory target would save.
    pub(crate) fn set_iteration(&self, iteration: u64) {
        if let Destination::NewFile { iteration: at, .. } = &self.destination {
            at.store(iteration, Ordering::Release);
        }
    }

    /// Publishes `encoder` and `interner` to the handlers of this kernel thread, and this
    /// thread to the other threads' handlers. They and `self` must stay where they are until
    /// [`EmergencyTarget::withdraw`], which must be called on this kernel thread.
    pub(crate) fn publish(&mut self, encoder: &ChunkEncoder, interner: &LocationInterner) {
        if self.slot.load(Ordering::Relaxed) != NO_SLOT {
            self.withdraw();
        }
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
        // This thread's handlers find it before any other thread can ask for it.
        OWN.with(|own| {
            debug_assert!(
                own.get().is_null() || std::ptr::eq(own.get(), self),
                "one recording at a time per kernel thread"
            );
            own.set(self as *const EmergencyTarget);
        });
        // Then to the other threads: the slot is this target's before it shows this thread.
        if let Some(index) = claim_slot() {
            self.slot.store(index, Ordering::Release);
            REGISTRY[index]
                .owner
                .store(current_tid(), Ordering::Release);
        }
    }

    /// Withdraws this target: no handler will read it or ask for it any more. Idempotent.
    pub(crate) fn withdraw(&mut self) {
        OWN.with(|own| {
            if std::ptr::eq(own.get(), self) {
                own.set(std::ptr::null());
            }
        });
        let slot = self.slot.swap(NO_SLOT, Ordering::AcqRel);
        if let Some(slot) = REGISTRY.get(slot) {
            // Only this thread's claim (a forked child's copy of a target owns no slot).
            let _ = slot.owner.compare_exchange(
                current_tid(),
                FREE,
                Ordering::Release,
                Ordering::Relaxed,
            );
        }
        self.encoder.store(std::ptr::null_mut(), Ordering::Release);
        self.interner.store(std::ptr::null_mut(), Ordering::Release);
    }

    /// Whether a handler already wrote the recording out.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Notes that the owner's flush is over (done or not needed), for [`flush_all`].
    fn mark_flushed(&self) {
        if let Some(slot) = REGISTRY.get(self.slot.load(Ordering::Acquire)) {
            slot.flushed.store(true, Ordering::Release);
        }
    }
}

/// Claims a free registry slot, left `CLAIMING` (so no thread asks for it yet) with its
/// `flushed` flag reset; None if all are taken.
fn claim_slot() -> Option<usize> {
    REGISTRY.iter().position(|slot| {
        let claimed = slot
            .owner
            .compare_exchange(FREE, CLAIMING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if claimed {
            slot.flushed.store(false, Ordering::Relaxed);
        }
        claimed
    })
}

/// This kernel thread's id (gettid), asked once per thread.
fn current_tid() -> libc::pid_t {
    TID.with(|tid| {
        if tid.get() == 0 {
            // SAFETY: gettid takes no argument and cannot fail.
            tid.set(unsafe { libc::syscall(libc::SYS_gettid) } as libc::pid_t);
        }
        tid.get()
    })
}

/// Runs `body`, a mutation of what a handler of this thread reads, with the asynchronous
/// fatal signals and the flush-request signal blocked, and marked as a critical section for
/// a synchronous fault's handler. Free when this thread publishes no recording.
pub(crate) fn critical<R>(body: impl FnOnce() -> R) -> R {
    if CRITICAL.with(Cell::get) || OWN.with(Cell::get).is_null() {
        return body();
    }
    let _section = Section::enter();
    body()
}

/// [`critical`] in the form the encoder takes (see `ChunkEncoder::set_critical_section`).
pub(crate) fn encoder_section(body: &mut dyn FnMut()) {
    critical(body);
}

/// A critical section, ended when dropped (also by a panic in it).
struct Section {
    old: libc::sigset_t,
}

impl Section {
    fn enter() -> Section {
        let set = async_signals();
        // SAFETY: a zeroed sigset_t is a valid out-argument for pthread_sigmask, which only
        // changes this thread's mask.
        let old = unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            old
        };
        CRITICAL.with(|critical| critical.set(true));
        // The flag is set before the mutation starts, for a handler of this thread.
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        Section { old }
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        CRITICAL.with(|critical| critical.set(false));
        // SAFETY: restores the mask saved by `enter`, on the same thread.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// The signals a critical section blocks: the fatal signals whose handler flushes, and the
/// flush request. Not SIGSEGV or SIGBUS, which a fault raises whatever the mask (and a
/// blocked one kills the process without its handler).
fn async_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t we own; both are
    // async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in FATAL_SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
        let flush = FLUSH_SIGNAL.load(Ordering::Relaxed);
        if flush != 0 {
            libc::sigaddset(&mut set, flush);
        }
        set
    }
}

/// Blocks [`async_signals`] in a handler (or the `atexit` hook) until dropped, so that no
/// other handler of this thread runs in the middle of a flush; keeps errno as it was.
struct HandlerScope {
    old: libc::sigset_t,
    errno: libc::c_int,
}

impl HandlerScope {
    fn enter() -> HandlerScope {
        let set = async_signals();
        // SAFETY: __errno_location returns this thread's errno; sigprocmask (per thread on
        // Linux) is async-signal-safe and gets a valid set and out pointer.
        unsafe {
            let errno = *libc::__errno_location();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
            HandlerScope { old, errno }
        }
    }
}

impl Drop for HandlerScope {
    fn drop(&mut self) {
        // SAFETY: as in `enter`.
        unsafe {
            libc::sigprocmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
            *libc::__errno_location() = self.errno;
        }
    }
}

/// Writes out the recording of the calling kernel thread, if it has one, once; then the
/// other threads' (see the module documentation), waiting up to 200 ms for them.
/// Async-signal-safe: atomics, thread-locals, write(2), open(2), tgkill(2), nanosleep(2).
pub(crate) fn flush_all() {
    let _scope = HandlerScope::enter();
    flush_own_in_scope();
    match ASKING.compare_exchange(NOT_ASKED, ASKING_NOW, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            ask_the_others();
            ASKING.store(ALL_ASKED, Ordering::Release);
        }
        Err(ASKING_NOW) => {
            // Another thread's handler is asking: the process ends when it is done.
            for _ in 0..FLUSH_WAIT_ROUNDS {
                if ASKING.load(Ordering::Acquire) == ALL_ASKED {
                    break;
                }
                // SAFETY: nanosleep is async-signal-safe; an interruption shortens a round.
                unsafe { libc::nanosleep(&WAIT_ROUND, std::ptr::null_mut()) };
            }
        }
        // Asked once already (a fault handed on and recovered from, or the abort after a
        // stack overflow): the recordings flushed then are over, and the ones still going
        // (an exploration's next executions) are not saved again.
        Err(_) => {}
    }
}

/// Whether a [`flush_all`] has asked the other threads: once per process.
static ASKING: AtomicU8 = AtomicU8::new(NOT_ASKED);
const NOT_ASKED: u8 = 0;
const ASKING_NOW: u8 = 1;
const ALL_ASKED: u8 = 2;

/// Asks the owner of every registered recording but this thread's to flush it, and waits
/// until they have (or withdrew it, or 200 ms passed).
fn ask_the_others() {
    let signal = FLUSH_SIGNAL.load(Ordering::Acquire);
    if signal == 0 {
        return;
    }
    // SAFETY: getpid and gettid take no argument and cannot fail.
    let (pid, me) = unsafe {
        (
            libc::getpid(),
            libc::syscall(libc::SYS_gettid) as libc::pid_t,
        )
    };
    // The slots asked, with the owner asked (a slot may change hands meanwhile).
    let mut asked = [(0u8, 0 as libc::pid_t); SLOTS];
    let mut count = 0;
    for (index, slot) in REGISTRY.iter().enumerate() {
        let owner = slot.owner.load(Ordering::Acquire);
        if owner <= 0 || owner == me || slot.flushed.load(Ordering::Acquire) {
            continue;
        }
        // SAFETY: tgkill sends a signal whose handler flushes its thread's own recording;
        // it names this process, so a stale thread id reaches no other process.
        let sent = unsafe { libc::syscall(libc::SYS_tgkill, pid, owner, signal) } == 0;
        if sent {
            asked[count] = (index as u8, owner);
            count += 1;
        }
    }
    for _ in 0..FLUSH_WAIT_ROUNDS {
        let pending = asked[..count].iter().any(|&(index, owner)| {
            let slot = &REGISTRY[usize::from(index)];
            slot.owner.load(Ordering::Acquire) == owner && !slot.flushed.load(Ordering::Acquire)
        });
        if !pending {
            break;
        }
        // SAFETY: nanosleep is async-signal-safe; an interruption only shortens the round.
        unsafe { libc::nanosleep(&WAIT_ROUND, std::ptr::null_mut()) };
    }
}

/// Writes out the recording of the calling kernel thread only, if it has one, once.
/// Async-signal-safe (see [`flush_all`]).
pub(crate) fn flush_own() {
    let _scope = HandlerScope::enter();
    flush_own_in_scope();
}

fn flush_own_in_scope() {
    let target = OWN.with(Cell::get);
    if target.is_null() {
        return;
    }
    // SAFETY: a target in OWN is published by this kernel thread and lives until this
    // thread has withdrawn it, which clears OWN first; this handler interrupted this thread
    // (or runs on it, at exit), so OWN is null or the target is live until the handler ends.
    let target = unsafe { &*target };
    if !target.fired.swap(true, Ordering::AcqRel) {
        if CRITICAL.with(Cell::get) {
            // A fault (or an abort) inside a mutation of the buffers: reading them is not
            // safe. A file keeps what was written before.
            write_all(
                2,
                b"reel: the process died while the recorder was updating its buffers; the \
                  trace in progress keeps only what was already written\n",
            );
        } else {
            write_target(target);
        }
    }
    target.mark_flushed();
}

/// Writes `target` out. The caller runs on its owner's kernel thread, outside a critical
/// section.
fn write_target(target: &EmergencyTarget) {
    let encoder = target.encoder.load(Ordering::Acquire);
    if encoder.is_null() {
        return;
    }
    match &target.destination {
        Destination::File(fd) => {
            // Chunks sealed but not drained yet (a seal and its drain are a few events
            // apart), then the open chunk: the file gets them in order, once.
            // SAFETY: the encoder is published by this thread, whose recorder is suspended
            // outside a critical section (the caller checked).
            write_all(*fd, unsafe { ChunkEncoder::sealed_chunks(encoder) });
            write_open_chunk(*fd, encoder);
        }
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
    // SAFETY: the encoder is published by this kernel thread, which this handler interrupted
    // (or runs on, at exit); `committed_chunk` reads only bytes committed before.
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
    // Small: a handler runs on an alternate signal stack.
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
    // SAFETY: the interner and encoder are published by this kernel thread, which this
    // handler interrupted outside a critical section (the caller checked): their vectors
    // are not in the middle of an append or a reallocation, and nothing changes them while
    // the handler runs.
    unsafe {
        let interner = &*interner;
        reel_trace::write_definitions(&interner.file_names, &interner.locations, &mut |bytes| {
            write_all(fd, bytes)
        });
        write_all(fd, ChunkEncoder::sealed_chunks(encoder));
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
        if written < 0 {
            // SAFETY: reading this thread's errno.
            if unsafe { *libc::__errno_location() } == libc::EINTR {
                continue;
            }
            return;
        }
        if written == 0 {
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

/// The dispositions found by [`install`]; a signal left SIG_IGN has reel's handler not
/// installed. Reading a set OnceLock is one atomic load, which is async-signal-safe.
static PREVIOUS: [OnceLock<libc::sigaction>; 5] = [const { OnceLock::new() }; 5];
static INSTALL: Once = Once::new();

/// The real-time signals tried for the flush request, in order: away from both ends of the
/// range, where programs (timers at SIGRTMIN, Valgrind at SIGRTMAX) usually take theirs.
fn flush_signal_candidates() -> impl Iterator<Item = libc::c_int> {
    let (low, high) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    (low + 11..=high - 4).chain((low + 2..low + 11).rev())
}

/// Installs the handlers and the `atexit` hook, once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        // A stack overflow aborts from the runtime's own handler: it flushes through this.
        signals::set_fatal_flush(flush_all);
        // The handlers installed are async-signal-safe (see `flush_all`).
        for signal in flush_signal_candidates() {
            if signals::disposition(signal)
                .is_none_or(|current| current.sa_sigaction != libc::SIG_DFL)
            {
                continue; // Someone else's.
            }
            let mut mask = signals::empty_set();
            for fatal in FATAL_SIGNALS {
                // SAFETY: `mask` is an initialised set and `fatal` a valid signal.
                unsafe { libc::sigaddset(&mut mask, fatal) };
            }
            let flags = libc::SA_RESTART | libc::SA_ONSTACK;
            if signals::install(signal, flush_request_handler, flags, mask).is_some() {
                FLUSH_SIGNAL.store(signal, Ordering::Release);
                break;
            }
        }
        let mask = async_signals();
        for (index, &signal) in FATAL_SIGNALS.iter().enumerate() {
            let Some(old) = signals::disposition(signal) else {
                continue;
            };
            if old.sa_sigaction == libc::SIG_IGN {
                // Ignored (nohup, a shell's background job): it stays so.
                let _ = PREVIOUS[index].set(old);
                continue;
            }
            // On the alternate stack: a green thread's stack may be small. Interrupted calls
            // restart as they did for the handler installed before, if any.
            let flags = libc::SA_ONSTACK | (old.sa_flags & libc::SA_RESTART);
            if let Some(old) = signals::install(signal, fatal_handler, flags, mask) {
                let _ = PREVIOUS[index].set(old);
            }
        }
        // SAFETY: atexit and pthread_atfork register functions with no preconditions.
        unsafe {
            libc::atexit(at_exit);
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

extern "C" fn at_exit() {
    flush_own();
}

/// A forked child is not the owner of the recordings it copied: it must not write to their
/// files (it shares their descriptors) or ask threads it does not have.
extern "C" fn after_fork_in_child() {
    OWN.with(|own| own.set(std::ptr::null()));
    TID.with(|tid| tid.set(0));
    for slot in &REGISTRY {
        slot.owner.store(FREE, Ordering::Relaxed);
    }
}

/// The flush request of another thread's [`flush_all`]: flushes this thread's own recording.
extern "C" fn flush_request_handler(
    _signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    flush_own();
}

extern "C" fn fatal_handler(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let index = FATAL_SIGNALS.iter().position(|&fatal| fatal == signal);
    let previous = index.and_then(|index| PREVIOUS[index].get());
    match previous {
        // Not installed over SIG_IGN; only a signal that came while `install` ran gets here.
        Some(old) if old.sa_sigaction == libc::SIG_IGN => {}
        // A handler installed before decides; if it returns, the process goes on, and so do
        // the recordings: nothing is flushed.
        Some(old) if signals::is_handler(old) => {
            signals::call_previous(old, signal, info, context);
        }
        _ => {
            // The default action ends the process: flush, then restore it and raise the
            // signal again, so the process ends as it would have (with the right status, and
            // a core dump where due).
            flush_all();
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
}
