//! Stack overflow reports: a SIGSEGV/SIGBUS handler on an alternate stack that names the
//! green thread whose guard page was hit.
//!
//! The runtime publishes the running green thread's guard range and name in a thread-local
//! before every resume (`set_running`). The handler compares the fault address with it; on a
//! match it writes `thread '<name>' (reel T<n>) has overflowed its stack` and aborts, as std
//! does for kernel threads. Any other fault goes to the handler that was installed before.
//! Either way the recordings are flushed first (see `recording::emergency`).
//!
//! The handler runs on the kernel thread's alternate signal stack, which must hold it, the
//! flush (saving an execution recorded in memory writes its definitions and checksums them)
//! and the SIGABRT handler the abort runs on top: std gives its threads one of a few KiB
//! (SIGSTKSZ), so [`install`] gives each kernel thread that runs reel one of at least
//! [`ALT_STACK_BYTES`].

use std::cell::Cell;
use std::sync::{Once, OnceLock};

use super::signals;

/// What the signal handler needs to know about the green thread now running.
#[derive(Clone, Copy)]
pub(crate) struct RunningStack {
    pub(crate) guard_start: usize,
    pub(crate) guard_end: usize,
    pub(crate) thread_index: usize,
    pub(crate) stack_bytes: usize,
    /// Points into the thread's name, kept alive by the thread's slot while it runs.
    pub(crate) name_ptr: *const u8,
    pub(crate) name_len: usize,
}

const NOT_RUNNING: RunningStack = RunningStack {
    guard_start: 0,
    guard_end: 0,
    thread_index: 0,
    stack_bytes: 0,
    name_ptr: std::ptr::null(),
    name_len: 0,
};

thread_local! {
    // A const-initialised Cell of plain data: reading it needs no allocation or lock, so the
    // signal handler may read it.
    static RUNNING: Cell<RunningStack> = const { Cell::new(NOT_RUNNING) };
}

/// Which execution of an exploration runs on this kernel thread, so that an overflow report
/// says how to reproduce it.
#[derive(Clone, Copy)]
pub(crate) struct ExplorationContext {
    pub(crate) seed: u64,
    pub(crate) iteration: usize,
}

thread_local! {
    static EXPLORATION: Cell<Option<ExplorationContext>> = const { Cell::new(None) };
}

/// Publishes (or, with None, withdraws) the exploration context of this kernel thread.
pub(crate) fn set_exploration(context: Option<ExplorationContext>) {
    EXPLORATION.with(|exploration| exploration.set(context));
}

/// Records the green thread about to run on this kernel thread.
pub(crate) fn set_running(stack: RunningStack) {
    RUNNING.with(|running| running.set(stack));
}

/// What the handler is told now.
pub(crate) fn running() -> RunningStack {
    RUNNING.with(Cell::get)
}

/// Records that no green thread runs on this kernel thread.
pub(crate) fn clear_running() {
    RUNNING.with(|running| running.set(NOT_RUNNING));
}

static INSTALL: Once = Once::new();
/// The handlers installed before ours; reading a set OnceLock is one atomic load, which is
/// async-signal-safe.
static PREVIOUS_SEGV: OnceLock<libc::sigaction> = OnceLock::new();
static PREVIOUS_BUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Size of the alternate signal stack made for kernel threads that have none, or a smaller
/// one.
const ALT_STACK_BYTES: usize = 64 * 1024;

/// Installs the handler (once per process) and makes sure this kernel thread has an
/// alternate signal stack, since an overflowing green stack has no room left for a handler.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        for (signal, previous) in [
            (libc::SIGSEGV, &PREVIOUS_SEGV),
            (libc::SIGBUS, &PREVIOUS_BUS),
        ] {
            let installed =
                signals::install(signal, handler, libc::SA_ONSTACK, signals::empty_set());
            if let Some(old) = installed {
                let _ = previous.set(old);
            }
        }
    });
    ensure_alt_stack();
}

thread_local! {
    /// Whether this kernel thread's alternate signal stack was checked already.
    static ALT_STACK_CHECKED: Cell<bool> = const { Cell::new(false) };
    /// The alternate signal stack reel made for this kernel thread, if it made one.
    static ALT_STACK: Cell<Option<AltStack>> = const { Cell::new(None) };
}

/// An alternate signal stack of [`ALT_STACK_BYTES`] above a guard page; unmapped (and
/// disabled first, if it still is this thread's) when its kernel thread exits.
struct AltStack {
    mapping: *mut libc::c_void,
    mapping_bytes: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: querying the alternate stack writes only into `current`.
        let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: see above; a null new-stack pointer only queries.
        if unsafe { libc::sigaltstack(std::ptr::null(), &mut current) } != 0 {
            return; // Leaked rather than unmapped under a handler's feet.
        }
        let ours = current.ss_flags & libc::SS_DISABLE == 0
            && current.ss_sp as usize >= self.mapping as usize
            && (current.ss_sp as usize) < self.mapping as usize + self.mapping_bytes;
        if ours {
            if current.ss_flags & libc::SS_ONSTACK != 0 {
                return; // In use (cannot happen in a thread-local destructor): leaked.
            }
            let disable = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disabling this thread's alternate stack, which no handler is using.
            if unsafe { libc::sigaltstack(&disable, std::ptr::null_mut()) } != 0 {
                return;
            }
        }
        // SAFETY: the mapping was made by `ensure_alt_stack` and no longer serves as this
        // thread's alternate stack (std may have disabled it at the thread's end already).
        unsafe { libc::munmap(self.mapping, self.mapping_bytes) };
    }
}

/// Gives this kernel thread an alternate signal stack of at least [`ALT_STACK_BYTES`],
/// unless it has one already.
fn ensure_alt_stack() {
    if ALT_STACK_CHECKED.with(|checked| checked.replace(true)) {
        return;
    }
    // SAFETY: querying the current alternate stack writes only into `current`.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: see above; a null new-stack pointer only queries.
    if unsafe { libc::sigaltstack(std::ptr::null(), &mut current) } != 0 {
        return;
    }
    if current.ss_flags & libc::SS_ONSTACK != 0 {
        return; // Running on it (not in reel's callers): it cannot be changed.
    }
    if current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= ALT_STACK_BYTES {
        return; // Someone gave this thread a big enough one.
    }
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
        .ok()
        .filter(|&page| page > 0)
        .unwrap_or(4096);
    let mapping_bytes = page + ALT_STACK_BYTES;
    // SAFETY: a fresh anonymous mapping; checked for failure below.
    let mapping = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            mapping_bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mapping == libc::MAP_FAILED {
        return;
    }
    let stack = AltStack {
        mapping,
        mapping_bytes,
    };
    // The lowest page is a guard: a handler that overflows the stack faults rather than
    // writing over whatever lies below.
    // SAFETY: the first page of the mapping made above.
    unsafe { libc::mprotect(mapping, page, libc::PROT_NONE) };
    let alt = libc::stack_t {
        // SAFETY: `page` bytes into the mapping, which is `page + ALT_STACK_BYTES` long.
        ss_sp: unsafe { mapping.cast::<u8>().add(page) }.cast(),
        ss_flags: 0,
        ss_size: ALT_STACK_BYTES,
    };
    // SAFETY: `alt` describes the mapping made above, which lives until this thread's
    // thread-locals are destroyed (and `AltStack::drop` disables it before unmapping it). The
    // stack replaced, if any, is its owner's (std unmaps its own at the thread's end).
    if unsafe { libc::sigaltstack(&alt, std::ptr::null_mut()) } == 0 {
        ALT_STACK.with(|own| own.set(Some(stack)));
    }
}

/// Appends `bytes` to `buffer` at `*len`, truncating at the buffer's end.
fn push(buffer: &mut [u8], len: &mut usize, bytes: &[u8]) {
    for &byte in bytes {
        if *len < buffer.len() {
            buffer[*len] = byte;
            *len += 1;
        }
    }
}

/// Appends a number in 0x-hex without allocating.
fn push_hex(buffer: &mut [u8], len: &mut usize, number: u64) {
    push(buffer, len, b"0x");
    let mut started = false;
    for shift in (0..16).rev() {
        let digit = ((number >> (shift * 4)) & 0xf) as usize;
        if digit != 0 || started || shift == 0 {
            started = true;
            push(buffer, len, &b"0123456789abcdef"[digit..=digit]);
        }
    }
}

/// Appends a decimal number without allocating.
fn push_number(buffer: &mut [u8], len: &mut usize, mut number: usize) {
    let mut digits = [0u8; 20];
    let mut count = 0;
    loop {
        digits[count] = b'0' + (number % 10) as u8;
        count += 1;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    while count > 0 {
        count -= 1;
        push(buffer, len, &digits[count..=count]);
    }
}

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let fault_address = unsafe { (*info).si_addr() } as usize;
    let running = RUNNING.with(|running| running.get());
    if running.guard_end != 0
        && fault_address >= running.guard_start
        && fault_address < running.guard_end
    {
        let mut buffer = [0u8; 768];
        let mut len = 0;
        push(&mut buffer, &mut len, b"\nthread '");
        if running.name_ptr.is_null() {
            push(&mut buffer, &mut len, b"<unnamed>");
        } else {
            // SAFETY: name_ptr/name_len describe the running thread's name, which its slot
            // keeps alive while the thread runs (see `set_running`'s callers).
            let name = unsafe { std::slice::from_raw_parts(running.name_ptr, running.name_len) };
            push(&mut buffer, &mut len, name);
        }
        push(&mut buffer, &mut len, b"' (reel green thread T");
        push_number(&mut buffer, &mut len, running.thread_index);
        push(&mut buffer, &mut len, b") has overflowed its stack of ");
        push_number(&mut buffer, &mut len, running.stack_bytes / 1024);
        push(
            &mut buffer,
            &mut len,
            b" KiB\nhelp: give it a bigger stack with reel::thread::Builder::stack_size\n",
        );
        if let Some(context) = EXPLORATION.with(|exploration| exploration.get()) {
            push(&mut buffer, &mut len, b"note: in execution ");
            push_number(&mut buffer, &mut len, context.iteration);
            push(
                &mut buffer,
                &mut len,
                b" of an exploration; reproduce with REEL_SEED=",
            );
            push_hex(&mut buffer, &mut len, context.seed);
            push(&mut buffer, &mut len, b" REEL_ITERATIONS=");
            push_number(&mut buffer, &mut len, context.iteration);
            push(&mut buffer, &mut len, b"\n");
        }
        push(
            &mut buffer,
            &mut len,
            b"fatal runtime error: stack overflow, aborting\n",
        );
        // SAFETY: write(2) is async-signal-safe; the buffer is ours.
        unsafe { libc::write(2, buffer.as_ptr().cast(), len) };
        // What was recorded goes to disk before the process ends (async-signal-safe too):
        // this thread's recording, and the other threads'.
        signals::run_fatal_flush();
        // SAFETY: abort(3) is async-signal-safe.
        unsafe { libc::abort() };
    }
    // A fault that is not ours usually ends the process too (Rust's own handler restores the
    // default action for it): flush first. A handler installed before that recovers from
    // the fault (rare) leaves the recordings flushed, and they write nothing more.
    signals::run_fatal_flush();
    chain(signal, info, context);
}

/// Hands a fault that is not ours to the handler installed before, or to the default action.
fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let previous = if signal == libc::SIGSEGV {
        PREVIOUS_SEGV.get()
    } else {
        PREVIOUS_BUS.get()
    };
    match previous {
        Some(old) if signals::is_handler(old) => signals::call_previous(old, signal, info, context),
        // Restore the default action and return: the faulting instruction runs again and the
        // kernel delivers the signal with its default effect (a core dump).
        _ => signals::restore_default(signal),
    }
}
