//! Green threads with the API of `std::thread`: spawn, Builder, JoinHandle, scope, park, sleep.
//!
//! Every green thread of a runtime runs on the kernel thread that started it; only one runs
//! at a time, and each call here that lets threads affect each other is a scheduling point.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

mod local;

pub use local::{AccessError, LocalKey};

use crate::runtime::execution::{self, Blocker, Op, Wake};
use crate::runtime::stack;

/// The result of joining a thread: its return value, or the payload it panicked with.
pub type Result<T> = std::result::Result<T, Box<dyn Any + Send + 'static>>;

pub use crate::runtime::vocabulary::ThreadId;

/// A handle to a green thread, as `std::thread::Thread`.
#[derive(Clone, Debug)]
pub struct Thread {
    id: ThreadId,
    name: Option<Arc<str>>,
    generation: u64,
}

impl Thread {
    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The thread's name: "main" for the main thread, the Builder's name, or None.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Makes the thread's park token available, waking it if it is parked.
    #[track_caller]
    pub fn unpark(&self) {
        let same_execution = execution::with(|execution| execution.generation == self.generation);
        if !same_execution {
            return; // A handle from an earlier execution: that thread no longer exists.
        }
        execution::schedule_point(Op::Unpark, None);
        execution::with(|execution| execution.unpark(self.id.index()));
    }
}

/// Where a thread leaves its result for whoever joins it.
struct Packet<T> {
    result: UnsafeCell<Option<Result<T>>>,
}

// SAFETY: a packet is only touched on the kernel thread that runs the execution, by one green
// thread at a time (the runtime never runs two at once), so there are no concurrent accesses;
// T: Send because the value moves from the spawned thread to the joiner.
unsafe impl<T: Send> Sync for Packet<T> {}

impl<T> Packet<T> {
    fn new() -> Packet<T> {
        Packet {
            result: UnsafeCell::new(None),
        }
    }

    fn set(&self, result: Result<T>) {
        // SAFETY: see the Sync impl: no other access is in progress.
        unsafe { *self.result.get() = Some(result) }
    }

    fn take(&self) -> Option<Result<T>> {
        // SAFETY: see the Sync impl: no other access is in progress.
        unsafe { (*self.result.get()).take() }
    }

    fn holds_panic(&self) -> bool {
        // SAFETY: see the Sync impl: no other access is in progress.
        unsafe { matches!(&*self.result.get(), Some(Err(_))) }
    }
}

/// Thread factory, as `std::thread::Builder`.
#[derive(Debug, Default)]
#[must_use = "a Builder does nothing until spawn is called"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
    priority: Option<i32>,
}

impl Builder {
    /// A builder with no name and the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread; the name appears in reports, panics and the debugger. As with std,
    /// it must not contain a NUL byte (`\0`): `spawn` panics if it does.
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages, at least 16 KiB).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Sets the thread's priority (default 0; higher runs first). A plain run schedules by
    /// strict priority: while a thread of a higher priority can run, no lower one does, so a
    /// high-priority thread that spins on a lock a low-priority one holds spins forever (a
    /// priority inversion, which the spin detector reports). Exploration ignores
    /// priorities: every interleaving may happen.
    pub fn priority(mut self, priority: i32) -> Builder {
        self.priority = Some(priority);
        self
    }

    /// Spawns a green thread; `Err` if its stack could not be mapped.
    ///
    /// # Panics
    ///
    /// As std's: if the name set with [`Builder::name`] contains a NUL byte.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: F and T are 'static, so the body outlives anything.
        let handle = unsafe { self.spawn_inner(f, None)? };
        Ok(JoinHandle { handle })
    }

    /// Spawns a scoped green thread, as `std::thread::Builder::spawn_scoped`.
    ///
    /// # Panics
    ///
    /// As std's: if the name set with [`Builder::name`] contains a NUL byte.
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        // SAFETY: the scope joins this thread before 'scope ends; if the execution ends first,
        // the thread is abandoned and never runs again (execution rule 5).
        let handle = unsafe { self.spawn_inner(f, Some(scope))? };
        Ok(ScopedJoinHandle {
            handle,
            scope: PhantomData,
        })
    }

    /// # Safety
    /// `f` and its result must stay valid until the thread has finished or been abandoned.
    #[track_caller]
    unsafe fn spawn_inner<'a, F, T>(
        self,
        f: F,
        scope: Option<&Scope<'_, '_>>,
    ) -> io::Result<Handle<T>>
    where
        F: FnOnce() -> T + Send + 'a,
        T: Send + 'a,
    {
        let location = std::panic::Location::caller();
        if let Some(name) = &self.name
            && name.contains('\0')
        {
            // std's check and panic, word for word: its threads carry their names as C
            // strings.
            std::ffi::CString::new(name.as_str())
                .expect("thread name may not contain interior null bytes");
        }
        let packet = Arc::new(Packet::new());
        let their_packet = Arc::clone(&packet);
        let body = move || {
            their_packet.set(execution::run_program(f));
        };
        let name: Option<Arc<str>> = self.name.map(Arc::from);
        // Map the stack outside any borrow of the execution: on failure `body` drops here,
        // and what it captured may use reel in its destructors.
        let stack_bytes = match self.stack_size {
            Some(stack_bytes) => stack_bytes,
            None => execution::with(|execution| execution.default_stack_bytes()),
        };
        let stack = stack::allocate(stack_bytes)?;
        let (index, generation) = execution::with(|execution| {
            // SAFETY: forwarded from this function's contract.
            let index = unsafe { execution.spawn_thread(name.clone(), stack, body, location) };
            if let Some(priority) = self.priority {
                execution.set_priority(index, priority);
            }
            (index, execution.generation)
        });
        if let Some(scope) = scope {
            let status: Arc<dyn PanicStatus + 'a> =
                Arc::clone(&packet) as Arc<dyn PanicStatus + 'a>;
            // SAFETY: lifetime erasure only; the scope drops these entries before it returns,
            // which is before 'a ends.
            let status: Arc<dyn PanicStatus> = unsafe { std::mem::transmute(status) };
            lock_scope(scope).push((index, status));
        }
        execution::schedule_point_at(Op::Spawn, None, false, location);
        let thread = Thread {
            id: ThreadId::from_index(index),
            name,
            generation,
        };
        Ok(Handle { thread, packet })
    }
}

/// Spawns a green thread, as `std::thread::spawn`.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(f)
        .expect("reel: failed to spawn a green thread")
}

/// Waits for thread `index` to finish.
#[track_caller]
fn wait_for_exit(index: usize) {
    let location = std::panic::Location::caller();
    execution::schedule_point_at(Op::Join, None, false, location);
    loop {
        let finished = execution::with(|execution| {
            let finished = execution.is_finished(index);
            if !finished {
                execution.add_joiner(index);
            }
            finished
        });
        if finished {
            return;
        }
        execution::block_at(Blocker::Join(ThreadId::from_index(index)), None, location);
    }
}

/// What both kinds of join handle hold: the thread and where its result lands.
struct Handle<T> {
    thread: Thread,
    packet: Arc<Packet<T>>,
}

impl<T> Handle<T> {
    #[track_caller]
    fn join(self) -> Result<T> {
        wait_for_exit(self.thread.id.index());
        self.packet
            .take()
            .expect("a finished thread left its result")
    }

    #[track_caller]
    fn is_finished(&self) -> bool {
        execution::schedule_point(Op::Join, None);
        execution::with(|execution| execution.is_finished(self.thread.id.index()))
    }
}

/// An owned permission to join a thread, as `std::thread::JoinHandle`.
pub struct JoinHandle<T> {
    handle: Handle<T>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish; its result, or `Err` with its panic payload.
    #[track_caller]
    pub fn join(self) -> Result<T> {
        self.handle.join()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &Thread {
        &self.handle.thread
    }

    /// Whether the thread has finished running.
    #[track_caller]
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.handle.thread)
            .finish_non_exhaustive()
    }
}

/// Lets a scope see whether a thread's panic went unobserved.
trait PanicStatus: Send + Sync {
    fn unobserved_panic(&self) -> bool;
}

impl<T: Send> PanicStatus for Packet<T> {
    fn unobserved_panic(&self) -> bool {
        self.holds_panic()
    }
}

type ScopeThreads = Vec<(usize, Arc<dyn PanicStatus>)>;

/// A scope to spawn scoped threads in, as `std::thread::Scope`.
pub struct Scope<'scope, 'env: 'scope> {
    threads: std::sync::Mutex<ScopeThreads>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

fn lock_scope<'a>(scope: &'a Scope<'_, '_>) -> std::sync::MutexGuard<'a, ScopeThreads> {
    scope
        .threads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a thread that may borrow from outside the scope.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        Builder::new()
            .spawn_scoped(self, f)
            .expect("reel: failed to spawn a green thread")
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

/// An owned permission to join a scoped thread.
pub struct ScopedJoinHandle<'scope, T> {
    handle: Handle<T>,
    scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to finish; its result, or `Err` with its panic payload.
    #[track_caller]
    pub fn join(self) -> Result<T> {
        self.handle.join()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &Thread {
        &self.handle.thread
    }

    /// Whether the thread has finished running.
    #[track_caller]
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("thread", &self.handle.thread)
            .finish_non_exhaustive()
    }
}

/// Runs `f` with a scope; every thread spawned in it is joined before `scope` returns, as
/// `std::thread::scope`. Panics if a scoped thread panicked and nobody joined it.
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        threads: std::sync::Mutex::new(Vec::new()),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // A scoped thread may spawn more threads in the scope while we wait: take the list
    // until it stays empty.
    let mut a_thread_panicked = false;
    loop {
        let next = lock_scope(&scope).pop();
        let Some((index, status)) = next else { break };
        wait_for_exit(index);
        a_thread_panicked |= status.unobserved_panic();
    }
    match result {
        Err(payload) => panic::resume_unwind(payload),
        Ok(_) if a_thread_panicked => panic!("a scoped thread panicked"),
        Ok(value) => value,
    }
}

/// The calling green thread's handle.
#[track_caller]
pub fn current() -> Thread {
    execution::with(|execution| {
        let index = execution.current;
        Thread {
            id: ThreadId::from_index(index),
            name: execution.threads[index].name.clone(),
            generation: execution.generation,
        }
    })
}

/// Lets other threads run, as `std::thread::yield_now`.
#[track_caller]
pub fn yield_now() {
    execution::yield_point(Op::Yield);
}

/// Blocks the thread for at least `duration`: virtual time under exploration (no real
/// waiting), real time in a plain run.
#[track_caller]
pub fn sleep(duration: Duration) {
    let location = std::panic::Location::caller();
    execution::schedule_point_at(Op::Sleep, None, duration.is_zero(), location);
    if duration.is_zero() {
        return;
    }
    let deadline = execution::with(|execution| execution.clock.deadline_after(duration));
    while execution::block_at(Blocker::Sleep, Some(deadline), location) != Wake::TimedOut {}
}

/// Blocks the thread until `deadline` (reel's [`Instant`](crate::time::Instant), on the
/// runtime's clock) has passed, as std's unstable `sleep_until`; returns at once (after a
/// step) if it has.
#[track_caller]
pub fn sleep_until(deadline: crate::time::Instant) {
    let location = std::panic::Location::caller();
    execution::schedule_point_at(Op::Sleep, None, false, location);
    let deadline = deadline.timeline_nanos();
    while execution::block_at(Blocker::Sleep, Some(deadline), location) != Wake::TimedOut {}
}

/// Blocks until the thread's park token is available, then consumes it.
#[track_caller]
pub fn park() {
    park_inner(None, std::panic::Location::caller());
}

/// Like [`park`], but gives up after `timeout`.
#[track_caller]
pub fn park_timeout(timeout: Duration) {
    park_inner(Some(timeout), std::panic::Location::caller());
}

fn park_inner(timeout: Option<Duration>, location: &'static std::panic::Location<'static>) {
    execution::schedule_point_at(Op::Park, None, false, location);
    let deadline =
        timeout.map(|timeout| execution::with(|execution| execution.clock.deadline_after(timeout)));
    loop {
        let had_token = execution::with(|execution| {
            let slot = &mut execution.threads[execution.current];
            std::mem::replace(&mut slot.park_token, false)
        });
        if had_token {
            return;
        }
        if execution::block_at(Blocker::Park, deadline, location) == Wake::TimedOut {
            return;
        }
    }
}

/// Whether the current thread is unwinding because of a panic.
pub fn panicking() -> bool {
    std::thread::panicking()
}
