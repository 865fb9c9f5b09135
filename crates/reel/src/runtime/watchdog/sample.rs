//! Sampling a stalled runtime thread from its watchdog: whether it sleeps in a system call
//! and which one (`/proc/self/task/TID/stat` and `.../syscall`), its CPU time, and its
//! backtrace, taken by a signal handler that runs on the stalled thread itself and only
//! notes raw instruction pointers; they are symbolized later, on the runtime thread, when
//! the stall is reported.

use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use super::Shared;

/// Frames a sample keeps, innermost first.
const MAX_FRAMES: usize = 64;

/// No backtrace is asked for.
const IDLE: u8 = 0;
/// The watchdog asked for one; the handler has not run yet.
const REQUESTED: u8 = 1;
/// The handler is writing it.
const TAKING: u8 = 2;
/// The handler wrote it.
const TAKEN: u8 = 3;

/// Where the sampling handler writes: preallocated, so that the handler allocates nothing.
pub(crate) struct BacktraceBuffer {
    state: AtomicU8,
    len: AtomicUsize,
    ips: [AtomicUsize; MAX_FRAMES],
}

impl BacktraceBuffer {
    pub(crate) fn new() -> BacktraceBuffer {
        BacktraceBuffer {
            state: AtomicU8::new(IDLE),
            len: AtomicUsize::new(0),
            ips: [const { AtomicUsize::new(0) }; MAX_FRAMES],
        }
    }
}

thread_local! {
    /// The buffer of this kernel thread's watchdog, for the handler: set while the watchdog
    /// lives (the thread-local `Watchdog` keeps it alive and clears this first when it goes).
    static BUFFER: Cell<*const BacktraceBuffer> = const { Cell::new(std::ptr::null()) };
}

/// The signal the sampling handler is on (0 until installed, or when none was free).
static SAMPLE_SIGNAL: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();

/// Installs the sampling handler, once per process, on a free real-time signal (from the
/// top of the range down; the recording's flush request takes them from the middle up).
pub(super) fn install_handler() {
    INSTALL.call_once(|| {
        let (low, high) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        for signal in (low + 3..=high - 5).rev() {
            if super::super::signals::disposition(signal)
                .is_none_or(|current| current.sa_sigaction != libc::SIG_DFL)
            {
                continue; // Someone else's.
            }
            let flags = libc::SA_RESTART | libc::SA_ONSTACK;
            let mask = super::super::signals::empty_set();
            if super::super::signals::install(signal, on_sample_signal, flags, mask).is_some() {
                SAMPLE_SIGNAL.store(signal, Ordering::Release);
                return;
            }
        }
    });
}

/// The real-time signal the sampling handler is on, once installed: a program's
/// subscription must not take it over.
pub(crate) fn sample_signal() -> Option<libc::c_int> {
    match SAMPLE_SIGNAL.load(Ordering::Acquire) {
        0 => None,
        signal => Some(signal),
    }
}

/// Points this kernel thread's handler at `shared`'s buffer.
pub(super) fn attach(shared: &Shared) {
    BUFFER.with(|buffer| buffer.set(&shared.backtrace));
}

/// Detaches this kernel thread's handler from its buffer (before the buffer goes).
pub(super) fn detach() {
    BUFFER.with(|buffer| buffer.set(std::ptr::null()));
}

/// The sampling handler: writes the interrupted thread's instruction pointers into the
/// buffer the watchdog asked it to fill.
extern "C" fn on_sample_signal(
    _signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    // SAFETY: errno is thread-local; saving and restoring it keeps the interrupted code's.
    let saved_errno = unsafe { *libc::__errno_location() };
    // A const thread-local without a destructor is a plain TLS read: no lazy
    // initialisation, no allocation.
    let buffer = BUFFER.with(Cell::get);
    if !buffer.is_null() {
        // SAFETY: the pointer is cleared (on this very thread, so never under this handler)
        // before the buffer it points at is freed.
        let buffer = unsafe { &*buffer };
        if buffer
            .state
            .compare_exchange(REQUESTED, TAKING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            let mut taken = 0;
            // SAFETY: `trace_unsynchronized` walks the stack with the system unwinder
            // (`_Unwind_Backtrace`) and calls the closure, which only stores integers into
            // the preallocated buffer: nothing here allocates or takes a lock of Rust's.
            // The unwinder finds each frame's unwind table with `_dl_find_object` (glibc
            // 2.35 and later: lock-free, async-signal-safe) or `dl_iterate_phdr`, whose
            // loader lock is recursive, so a thread interrupted while holding it (inside
            // `dlopen` or another unwind) takes it again rather than deadlocking; the
            // loader's list is only changed under that same lock, so it is consistent
            // here. The walk reads this thread's own stacks, which are alive (the thread
            // is stopped in this handler), and stops at `MAX_FRAMES`.
            unsafe {
                backtrace::trace_unsynchronized(|frame| {
                    buffer.ips[taken].store(frame.ip() as usize, Ordering::Relaxed);
                    taken += 1;
                    taken < MAX_FRAMES
                });
            }
            buffer.len.store(taken, Ordering::Relaxed);
            buffer.state.store(TAKEN, Ordering::Release);
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

/// The CPU time `thread` has used (zero if it cannot be read).
pub(super) fn thread_cpu_time(thread: libc::pthread_t) -> Duration {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `thread` is a live thread of this process (the watchdog stops before the
    // runtime thread exits); the out pointers are valid.
    unsafe {
        if libc::pthread_getcpuclockid(thread, &mut clock) != 0 {
            return Duration::ZERO;
        }
        let mut now: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(clock, &mut now) != 0 {
            return Duration::ZERO;
        }
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }
}

/// Whether kernel thread `tid` of this process sleeps in the kernel (state S or D).
pub(super) fn in_system_call(tid: libc::pid_t) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold anything.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next());
    matches!(state, Some("S" | "D"))
}

/// What the watchdog saw of a stall.
#[derive(Clone, Debug)]
pub(crate) struct StallSample {
    /// How long the thread was held, as measured so far.
    pub(crate) held: Duration,
    /// The system call it was in, by name; `None` when it was computing.
    pub(crate) syscall: Option<String>,
    /// The green thread that was running (by index), as the runtime last said.
    pub(crate) thread: usize,
}

impl StallSample {
    /// Samples kernel thread `tid`: its system call now, and a backtrace the handler takes.
    pub(super) fn take(shared: &Shared, held: Duration) -> StallSample {
        let syscall = std::fs::read_to_string(format!("/proc/self/task/{}/syscall", shared.tid))
            .ok()
            .and_then(|text| {
                let number: libc::c_long = text.split_whitespace().next()?.parse().ok()?;
                (number >= 0).then(|| syscall_name(number))
            });
        let signal = SAMPLE_SIGNAL.load(Ordering::Acquire);
        if signal != 0
            && shared
                .backtrace
                .state
                .compare_exchange(IDLE, REQUESTED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // SAFETY: tgkill has no memory preconditions; the target is this process's
            // runtime thread, alive while its watchdog runs. A blocked system call is
            // restarted (SA_RESTART) or, for sleeps, resumed by std with the time left.
            unsafe {
                libc::syscall(
                    libc::SYS_tgkill,
                    libc::getpid(),
                    shared.tid,
                    signal as libc::c_long,
                );
            }
        }
        StallSample {
            held,
            syscall,
            thread: shared.running.load(Ordering::Relaxed) as usize,
        }
    }
}

/// What the backtrace of a stall says.
#[derive(Default)]
pub(crate) struct Symbolized {
    /// The innermost frame in the program's own code: file, line, column.
    pub(crate) location: Option<(String, u32, u32)>,
    /// The system call the thread was in, when the innermost frame is the C library's
    /// wrapper of one (`.../sysdeps/unix/sysv/linux/fsync.c`): the handler runs when the
    /// thread returns to user space, so a thread that was busy inside the kernel (an fsync
    /// writing back pages, which `/proc` shows as running) is caught right after the call.
    pub(crate) syscall: Option<String>,
}

/// What the backtrace the handler took on this thread (if it took one) says: the innermost
/// frame in the program's own code, not in std, the runtime or a dependency, and the system
/// call it was in. Run on the runtime thread, off the signal path.
pub(crate) fn symbolize(shared: &Shared) -> Symbolized {
    let buffer = &shared.backtrace;
    let state = buffer.state.load(Ordering::Acquire);
    if state != TAKEN {
        // Not taken (no free signal, or it is still on its way): nothing to show, and the
        // handler must not write any more.
        let _ = buffer
            .state
            .compare_exchange(REQUESTED, IDLE, Ordering::AcqRel, Ordering::Relaxed);
        return Symbolized::default();
    }
    let len = buffer.len.load(Ordering::Relaxed).min(MAX_FRAMES);
    let ips: Vec<usize> = buffer.ips[..len]
        .iter()
        .map(|ip| ip.load(Ordering::Relaxed))
        .collect();
    buffer.state.store(IDLE, Ordering::Release);
    let runtime_source = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
    let mut found = None;
    let mut syscall = None;
    let mut innermost = true;
    for ip in ips {
        // A return address points after the call: look up the call itself.
        let address = ip.saturating_sub(1) as *mut std::ffi::c_void;
        backtrace::resolve(address, |symbol| {
            if found.is_some() {
                return;
            }
            let (Some(file), Some(line)) = (symbol.filename(), symbol.lineno()) else {
                return;
            };
            let file = file.to_string_lossy();
            if std::mem::take(&mut innermost)
                && let Some((_, wrapper)) = file.rsplit_once("sysdeps/unix/sysv/linux/")
                && let Some(name) = wrapper.strip_suffix(".c")
                && !name.contains('/')
            {
                syscall = Some(name.to_owned());
            }
            // The program's own code is Rust, outside std, the runtime and dependencies
            // (the C library's frames name C files).
            let foreign = !file.ends_with(".rs")
                || file.starts_with("/rustc/")
                || file.contains("/.cargo/registry/")
                || file.contains("/.cargo/git/")
                || file.contains("/rustlib/")
                || file.starts_with(runtime_source);
            if !foreign {
                found = Some((file.into_owned(), line, symbol.colno().unwrap_or(0)));
            }
        });
        if found.is_some() {
            break;
        }
    }
    // Relative to the working directory, as the compiler spells the program's own paths.
    if let Some((file, _, _)) = &mut found
        && let Ok(here) = std::env::current_dir()
        && let Ok(relative) = std::path::Path::new(file.as_str()).strip_prefix(&here)
    {
        *file = relative.to_string_lossy().into_owned();
    }
    Symbolized {
        location: found,
        syscall,
    }
}

/// The name of system call `number` on this architecture.
fn syscall_name(number: libc::c_long) -> String {
    SYSCALL_NAMES
        .iter()
        .find(|&&(known, _)| known == number)
        .map(|&(_, name)| name.to_owned())
        .unwrap_or_else(|| format!("system call {number}"))
}

/// The system calls a stalled thread is commonly found in.
const SYSCALL_NAMES: &[(libc::c_long, &str)] = &[
    (libc::SYS_read, "read"),
    (libc::SYS_write, "write"),
    (libc::SYS_readv, "readv"),
    (libc::SYS_writev, "writev"),
    (libc::SYS_pread64, "pread64"),
    (libc::SYS_pwrite64, "pwrite64"),
    (libc::SYS_openat, "openat"),
    (libc::SYS_close, "close"),
    (libc::SYS_fsync, "fsync"),
    (libc::SYS_fdatasync, "fdatasync"),
    (libc::SYS_sync_file_range, "sync_file_range"),
    (libc::SYS_syncfs, "syncfs"),
    (libc::SYS_nanosleep, "nanosleep"),
    (libc::SYS_clock_nanosleep, "clock_nanosleep"),
    (libc::SYS_futex, "futex"),
    (libc::SYS_ppoll, "ppoll"),
    (libc::SYS_pselect6, "pselect6"),
    (libc::SYS_epoll_pwait, "epoll_pwait"),
    (libc::SYS_connect, "connect"),
    (libc::SYS_accept4, "accept4"),
    (libc::SYS_recvfrom, "recvfrom"),
    (libc::SYS_sendto, "sendto"),
    (libc::SYS_recvmsg, "recvmsg"),
    (libc::SYS_sendmsg, "sendmsg"),
    (libc::SYS_wait4, "wait4"),
    (libc::SYS_waitid, "waitid"),
    (libc::SYS_flock, "flock"),
    (libc::SYS_fcntl, "fcntl"),
    (libc::SYS_ioctl, "ioctl"),
    (libc::SYS_getrandom, "getrandom"),
    (libc::SYS_io_uring_enter, "io_uring_enter"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_poll, "poll"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_select, "select"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_epoll_wait, "epoll_wait"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_accept, "accept"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_pause, "pause"),
];
