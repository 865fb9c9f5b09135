//! The green threads of an execution: their slots, spawning, the outermost frame every
//! thread runs in (entry, panics, thread-locals, exit), parking, and looking at a suspended
//! thread's stack from outside.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe, Location as StdLocation};
use std::sync::Arc;

use corosensei::{Coroutine, Yielder};

use super::super::failure::{Failure, FailureKind, Location, ThreadInfo};
use super::super::overflow::{self, RunningStack};
use super::super::seams::PendingStep;
use super::super::stack::GreenStack;
use super::super::vocabulary::{Blocker, Op, ThreadId, Wake};
use super::step::Action;
use super::{Execution, PanicPolicy, try_with, with};

type Location_ = &'static StdLocation<'static>;

/// A green thread's coroutine. It is resumed with how it was woken (read by `block_at`).
pub(crate) type GreenCoroutine = Coroutine<Wake, (), (), GreenStack>;

/// Where a thread's coroutine lives: boxed, so that it does not move while it runs (the
/// driver resumes it through a pointer while `threads` may grow). Empty once the thread
/// finished or was abandoned; the box itself is kept for the next thread (`Buffers`), so
/// that spawning does not allocate it every time.
pub(crate) type CoroutineBox = Box<Option<GreenCoroutine>>;

#[derive(Debug)]
pub(crate) enum ThreadState {
    Runnable,
    Blocked {
        on: Blocker,
        location: Location_,
        deadline: Option<u64>,
    },
    Finished,
}

/// Per-thread bookkeeping of the execution.
pub(crate) struct ThreadSlot {
    pub(crate) coroutine: CoroutineBox,
    pub(super) yielder: *const Yielder<Wake, ()>,
    pub(crate) state: ThreadState,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) park_token: bool,
    pub(super) woken_by: Wake,
    /// What the overflow handler is told while this thread runs.
    pub(crate) running_stack: RunningStack,
    /// Threads waiting to join this one.
    joiners: Vec<usize>,
    /// Where the thread is now: the location of its latest step.
    pub(crate) location: Option<Location_>,
    /// Where it was spawned (its exit is reported here if it took no step).
    pub(crate) spawned_at: Location_,
    /// The thread that spawned it (`None` for main).
    pub(crate) parent: Option<u32>,
    /// The panic its hook saw last, until its entry (or a report) takes it.
    last_panic: Option<PanicRecord>,
    /// Its thread-local values, by key id (`thread::LocalKey`).
    locals: Vec<LocalSlot>,
    /// Its priority (`thread::Builder::priority`): higher runs first in a plain run.
    pub(crate) priority: i32,
}

/// Where a thread-local value now lives, and the value it replaced (to drop after the borrow).
pub(crate) type StoredLocal = (*const dyn Any, Option<Box<dyn Any>>);

/// One thread-local key's value in one thread.
enum LocalSlot {
    Empty,
    Value(Box<dyn Any>),
    /// Dropped at the thread's exit; further access is an `AccessError`, as in std.
    Destroyed,
}

/// The panic that a thread's hook saw, kept until the thread's entry catches it.
struct PanicRecord {
    message: String,
    location: Option<Location>,
}

thread_local! {
    /// What a suspended thread resumed with `Wake::Introspect` runs on its own stack.
    static INTROSPECTION: Cell<Option<fn()>> = const { Cell::new(None) };
}

/// Called in `suspend` when a suspended thread is resumed to be looked at: runs what
/// [`Execution::look_at_suspended`] asked for, on this thread's stack.
pub(super) fn introspected() {
    if let Some(look) = INTROSPECTION.with(Cell::get) {
        look();
    }
}

impl Execution {
    pub(crate) fn thread_info(&self, index: usize) -> ThreadInfo {
        ThreadInfo {
            id: ThreadId::from_index(index),
            name: self.threads[index].name.as_deref().map(str::to_owned),
        }
    }

    /// Creates a green thread running `body`. It becomes runnable at once.
    ///
    /// # Safety
    /// `body` must stay valid until the thread finishes or is abandoned: the main closure
    /// outlives `run_execution`, scoped threads are joined or abandoned before their scope
    /// ends, and everything else is 'static.
    ///
    /// The stack is mapped by the caller, outside any borrow of the execution: if that fails,
    /// the caller drops `body`, and the body's captures may run destructors that use reel.
    pub(crate) unsafe fn spawn_thread<'a>(
        &mut self,
        name: Option<Arc<str>>,
        stack: GreenStack,
        body: impl FnOnce() + 'a,
        spawned_at: Location_,
    ) -> usize {
        let index = self.threads.len();
        assert!(
            index < u32::MAX as usize,
            "reel: 2^32 - 1 threads in one execution are the most a ThreadId can name"
        );
        let parent = (index > 0).then_some(self.current);
        if !self.observers.is_empty() && !self.quiet {
            self.tell_spawn(index, parent, name.as_deref());
        }
        let (guard_start, guard_end) = stack.guard_range();
        let usable = stack.usable_bytes();
        // The name's bytes live in the Arc, which the slot keeps until the execution ends.
        let name_bytes = name.as_deref().unwrap_or("");
        let running_stack = RunningStack {
            guard_start,
            guard_end,
            thread_index: index,
            stack_bytes: usable,
            name_ptr: name_bytes.as_ptr(),
            name_len: name_bytes.len(),
        };
        // The body moves onto the thread's own stack: no allocation per spawn.
        // SAFETY: `with_stack_unchecked` drops the 'static bound of `with_stack`: what `body`
        // borrows must stay valid until the coroutine completes or is dropped, or forever if
        // it is leaked. The caller promises that it outlives the thread (this function's
        // contract), and every thread finishes or is abandoned (rule 5) before
        // `run_execution` returns; an abandoned coroutine is reset and never resumed, so its
        // frames (this closure's captures included) are never touched again.
        let coroutine = unsafe {
            Coroutine::with_stack_unchecked(
                stack,
                move |yielder: &Yielder<Wake, ()>, _first: Wake| {
                    thread_entry(yielder, body);
                },
            )
        };
        let mut boxed = self.spare_coroutines.pop().unwrap_or_default();
        debug_assert!(boxed.is_none());
        *boxed = Some(coroutine);
        self.threads.push(ThreadSlot {
            coroutine: boxed,
            yielder: std::ptr::null(),
            state: ThreadState::Runnable,
            name,
            park_token: false,
            woken_by: Wake::Notified,
            running_stack,
            joiners: Vec::new(),
            location: None,
            spawned_at,
            parent: parent.map(|parent| parent as u32),
            last_panic: None,
            locals: Vec::new(),
            priority: 0,
        });
        self.pending.push(PendingStep::START);
        self.runnable.reserve(index);
        self.runnable.insert(index);
        index
    }

    #[cold]
    fn tell_spawn(&mut self, index: usize, parent: Option<usize>, name: Option<&str>) {
        let thread = ThreadId::from_index(index);
        let parent_id = parent.map(ThreadId::from_index);
        for position in 0..self.observers.len() {
            if let Err(mismatch) = self.observers[position].on_spawn(thread, parent_id, name) {
                let actual = match parent {
                    Some(parent) => format!("{} spawns a new thread", self.short_thread(parent)),
                    None => "the runtime starts main".to_owned(),
                };
                self.stop_on(mismatch, actual);
                return;
            }
        }
    }

    /// The current thread's value for thread-local key `id`, if it has one; `Err` once that
    /// key's value has been dropped at the thread's exit.
    pub(crate) fn local_value(
        &self,
        id: usize,
    ) -> Result<Option<*const dyn Any>, crate::thread::AccessError> {
        match self.threads[self.current].locals.get(id) {
            Some(LocalSlot::Destroyed) => Err(crate::thread::AccessError),
            Some(LocalSlot::Value(value)) => Ok(Some(&**value as *const dyn Any)),
            Some(LocalSlot::Empty) | None => Ok(None),
        }
    }

    /// Stores the current thread's value for key `id` and returns where it lives, with the
    /// value it replaced (an initialiser that reached its own key set one meanwhile; as in
    /// std, the outer value wins). The caller drops the replaced value after the borrow.
    pub(crate) fn set_local_value(
        &mut self,
        id: usize,
        value: Box<dyn Any>,
    ) -> Result<StoredLocal, crate::thread::AccessError> {
        let locals = &mut self.threads[self.current].locals;
        if locals.len() <= id {
            locals.resize_with(id + 1, || LocalSlot::Empty);
        }
        let replaced = match std::mem::replace(&mut locals[id], LocalSlot::Value(value)) {
            LocalSlot::Value(old) => Some(old),
            LocalSlot::Empty => None,
            LocalSlot::Destroyed => {
                locals[id] = LocalSlot::Destroyed;
                return Err(crate::thread::AccessError);
            }
        };
        let LocalSlot::Value(stored) = &locals[id] else {
            unreachable!("just stored")
        };
        Ok((&**stored as *const dyn Any, replaced))
    }

    /// Takes the current thread's next live thread-local value for destruction, marking its
    /// key destroyed; None when none is left.
    fn take_next_local(&mut self) -> Option<Box<dyn Any>> {
        let locals = &mut self.threads[self.current].locals;
        let slot = locals
            .iter_mut()
            .find(|slot| matches!(slot, LocalSlot::Value(_)))?;
        match std::mem::replace(slot, LocalSlot::Destroyed) {
            LocalSlot::Value(value) => Some(value),
            LocalSlot::Empty | LocalSlot::Destroyed => None,
        }
    }

    /// Forgets the thread-local values of an abandoned thread (rule 5): they are part of
    /// what it owned, and it may have lent them out.
    pub(super) fn leak_locals(slot: &mut ThreadSlot) {
        std::mem::forget(std::mem::take(&mut slot.locals));
    }

    /// At a step: whether the current thread is unwinding (rule 6); with no panic in flight,
    /// forgets the marks of unwinds that have ended.
    #[inline(always)]
    pub(super) fn note_unwinding(&mut self) -> bool {
        if std::thread::panicking() {
            self.current_is_unwinding()
        } else {
            if !self.unwinding.is_empty() {
                self.unwinding.clear();
            }
            false
        }
    }

    /// Whether the current thread is unwinding from its own panic (not merely running while
    /// another green thread is blocked mid-unwind). A thread is marked by the panic hook, or
    /// when it blocks while a panic is in flight and no other thread is marked (an unwind
    /// begun by `resume_unwind`, which calls no hook); with no marks at all, a panic in flight
    /// can only be the current thread's.
    pub(crate) fn current_is_unwinding(&self) -> bool {
        std::thread::panicking()
            && (self.unwinding.is_empty() || self.unwinding.contains(&self.current))
    }

    /// Whether `thread` has finished.
    pub(crate) fn is_finished(&self, thread: usize) -> bool {
        matches!(self.threads[thread].state, ThreadState::Finished)
    }

    pub(crate) fn add_joiner(&mut self, target: usize) {
        let current = self.current;
        self.threads[target].joiners.push(current);
    }

    fn finish_current(&mut self) {
        let current = self.current;
        self.threads[current].state = ThreadState::Finished;
        self.runnable.remove(current);
        for joiner in std::mem::take(&mut self.threads[current].joiners) {
            self.wake(joiner);
        }
    }

    /// Unparks `thread`: sets its token and wakes it if it is parked.
    pub(crate) fn unpark(&mut self, thread: usize) {
        if thread >= self.threads.len() {
            return;
        }
        self.threads[thread].park_token = true;
        if let ThreadState::Blocked {
            on: Blocker::Park, ..
        } = self.threads[thread].state
        {
            self.wake(thread);
        }
    }

    /// Runs `look` on the stack of the suspended thread `thread`: its coroutine is resumed
    /// with `Wake::Introspect`, `suspend` calls `look` and suspends again, and no code of the
    /// thread runs. For a debugger's backtraces; `look` must not touch the execution.
    pub(crate) fn look_at_suspended(&mut self, thread: usize, look: fn()) -> Result<(), String> {
        let Some(slot) = self.threads.get_mut(thread) else {
            return Err(format!(
                "there is no thread T{thread} (the threads are T0..T{})",
                self.threads.len().saturating_sub(1)
            ));
        };
        let running_stack = slot.running_stack;
        let spawned_at = slot.spawned_at;
        let Some(coroutine) = slot.coroutine.as_mut().as_mut() else {
            return Err(format!("T{thread} has finished"));
        };
        if !coroutine.started() {
            return Err(format!(
                "T{thread} has not started yet (it was spawned at {spawned_at})"
            ));
        }
        if coroutine.done() {
            return Err(format!("T{thread} has finished"));
        }
        // While it runs on its stack, an overflow there is reported as its own.
        let previous = overflow::running();
        overflow::set_running(running_stack);
        INTROSPECTION.with(|slot| slot.set(Some(look)));
        let _ = coroutine.resume(Wake::Introspect);
        INTROSPECTION.with(|slot| slot.set(None));
        overflow::set_running(previous);
        Ok(())
    }
}

// Never inlined: the debugger's backtraces end at this frame.
#[inline(never)]
fn thread_entry(yielder: &Yielder<Wake, ()>, body: impl FnOnce()) {
    with(|execution| {
        let current = execution.current;
        execution.threads[current].yielder = yielder as *const _;
    });
    body();
    drop_locals();
    thread_exit();
    // Keeps `thread_exit` from being a tail call, which would take this frame off the stack
    // before the thread's last step, where the debugger still looks for it.
    std::hint::black_box(());
}

/// Drops the current thread's thread-local values, on the thread, as std does at exit. A
/// destructor that panics is a panic of the thread.
fn drop_locals() {
    // One key at a time, outside the borrow: a destructor may use reel, and may read keys
    // not destroyed yet (only the ones already destroyed give `AccessError`).
    while let Some(value) = with(Execution::take_next_local) {
        let _ = run_program(|| drop(value));
    }
}

/// Runs a thread's program code (its body, or main), catching its panic: the panic is noted
/// (it may fail the execution) and handed back, for `join` or for `reel::run` to resume.
pub(crate) fn run_program<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    panic::catch_unwind(AssertUnwindSafe(f)).inspect_err(|payload| note_panic(payload.as_ref()))
}

/// Called when the current green thread's body panicked: decides whether that fails the
/// execution (always for main; for others, by the panic policy).
fn note_panic(payload: &(dyn Any + Send)) {
    with(|execution| {
        let current = execution.current;
        // The hook's record belongs to this panic only if the messages agree: a panic the
        // program caught earlier leaves a record, and `resume_unwind` calls no hook.
        let message = panic_message(payload);
        let record = execution.threads[current]
            .last_panic
            .take()
            .filter(|record| record.message == message);
        if current == 0 || execution.config.panic_policy == PanicPolicy::AnyThreadFails {
            let location = record.and_then(|record| record.location);
            let mut failure = Failure::new(FailureKind::Panic, execution.step, message);
            failure.thread = Some(execution.thread_info(current));
            failure.location = location;
            execution.fail(failure);
        }
    });
}

/// The last step of a thread: wakes its joiners and hands the kernel thread to another.
fn thread_exit() {
    let action = with(|execution| {
        let current = execution.current;
        // An exit happens where the thread's last step was, or where it was spawned.
        let slot = &execution.threads[current];
        let location = slot.location.unwrap_or(slot.spawned_at);
        execution.begin_step(Op::Exit, None, location);
        execution.finish_current();
        if current == 0 {
            execution.main_finished = true;
            return Action::Continue;
        }
        if execution.failure.is_some() || execution.halt.is_some() {
            return Action::Continue;
        }
        // The exiting thread is not runnable, so decide() picks another (or records a
        // deadlock); returning from the coroutine hands control to the driver, which
        // resumes `next`.
        let action = execution.decide(false);
        debug_assert!(
            matches!(action, Action::Switch(_)),
            "an exiting thread cannot be picked"
        );
        action
    });
    // Whatever was decided, this thread's part is over: the coroutine returns.
    let _ = action;
}

/// Extracts the message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Called by the panic hook on a green thread: remembers the message and location, and says
/// whether the hook should print (a plain run) or stay quiet (exploration), and who panics.
pub(crate) fn record_panic(message: String, location: Option<Location>) -> Option<(bool, String)> {
    try_with(|execution| {
        if !execution.in_green_thread {
            return None; // A panic of the runtime itself: let the previous hook report it.
        }
        let print = execution.config.print_panics;
        let current = execution.current;
        let who = execution.thread_info(current).to_string();
        execution.threads[current].last_panic = Some(PanicRecord { message, location });
        if !execution.unwinding.contains(&current) {
            execution.unwinding.push(current);
        }
        Some((print, who))
    })
    .flatten()
}

/// Called by the panic hook after `record_panic` (and after printing): the observers hear of
/// the panic before the unwind (the recorder flushes, a debugger may pause here).
pub(crate) fn panic_observed(message: &str, location: Option<String>) {
    try_with(|execution| {
        if execution.observers.is_empty() {
            return;
        }
        execution.with_observers(|observer, execution| {
            observer.on_panic(execution, message, location.clone());
        });
    });
}
