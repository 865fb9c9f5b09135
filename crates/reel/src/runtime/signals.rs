//! Every signal handler of the runtime is installed here: the stack-overflow handler
//! (`overflow.rs`) and the recording's flush request and fatal-signal handlers
//! (`recording/emergency.rs`) decide what to do; this module makes the `sigaction` calls,
//! remembers nothing itself, and hands a signal on to the handler that was there before.
//! It is also where the engine hears what a dying process must still flush without knowing
//! who cares: the recording registers its emergency flush (`set_fatal_flush`), and the
//! overflow handler runs it before aborting.
//!
//! Everything a handler calls here is async-signal-safe.

use std::sync::atomic::{AtomicPtr, Ordering};

/// A handler with `SA_SIGINFO`'s three arguments.
pub(crate) type Handler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

/// The registered flush, as a function pointer; null for none.
static FATAL_FLUSH: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Registers what to run before the process dies of a fault (the recording's emergency
/// flush). It must be async-signal-safe.
pub(crate) fn set_fatal_flush(flush: fn()) {
    FATAL_FLUSH.store(flush as *mut (), Ordering::Release);
}

/// Runs the registered flush, if any. Async-signal-safe.
pub(crate) fn run_fatal_flush() {
    let pointer = FATAL_FLUSH.load(Ordering::Acquire);
    if !pointer.is_null() {
        // SAFETY: the only non-null value ever stored is a `fn()` cast to a pointer above,
        // and a function pointer stays valid for the whole program.
        let flush: fn() = unsafe { std::mem::transmute::<*mut (), fn()>(pointer) };
        flush();
    }
}

/// The disposition of `signal` now, if it can be read.
pub(crate) fn disposition(signal: libc::c_int) -> Option<libc::sigaction> {
    // SAFETY: a zeroed sigaction is a valid out buffer; a null new action only reads.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(signal, std::ptr::null(), &mut current) == 0).then_some(current)
    }
}

/// Installs `handler` for `signal` with `SA_SIGINFO | flags`, blocking `mask` while it runs;
/// returns the disposition it replaced, or `None` if the kernel refused.
pub(crate) fn install(
    signal: libc::c_int,
    handler: Handler,
    flags: libc::c_int,
    mask: libc::sigset_t,
) -> Option<libc::sigaction> {
    // SAFETY: the action is zeroed, then filled with a handler of the SA_SIGINFO signature
    // and a valid mask; the out buffer is valid.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | flags;
        action.sa_mask = mask;
        let mut old: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(signal, &action, &mut old) == 0).then_some(old)
    }
}

/// An empty signal set.
pub(crate) fn empty_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set it is given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        set
    }
}

/// Whether `previous` is a handler of someone else's (not the default action, not ignore).
pub(crate) fn is_handler(previous: &libc::sigaction) -> bool {
    previous.sa_sigaction != libc::SIG_DFL && previous.sa_sigaction != libc::SIG_IGN
}

/// Hands the signal to `previous`, a handler installed before ours ([`is_handler`]).
/// Async-signal-safe.
pub(crate) fn call_previous(
    previous: &libc::sigaction,
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    debug_assert!(is_handler(previous));
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so this is its
        // three-argument signature.
        let handler: Handler = unsafe { std::mem::transmute(previous.sa_sigaction) };
        handler(signal, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the handler takes only the signal number.
        let handler: extern "C" fn(libc::c_int) =
            unsafe { std::mem::transmute(previous.sa_sigaction) };
        handler(signal);
    }
}

/// Restores the default action of `signal`. Async-signal-safe.
pub(crate) fn restore_default(signal: libc::c_int) {
    // SAFETY: a zeroed sigaction with SIG_DFL is a valid argument; sigaction is
    // async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}
