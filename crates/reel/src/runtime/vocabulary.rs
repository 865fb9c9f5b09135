//! The one vocabulary of a step: which thread ([`ThreadId`]), what it did ([`Op`]), on which
//! object ([`ObjectId`] of an [`ObjectKind`]), and, when it waits, on what ([`Blocker`]).
//!
//! The runtime, the schedulers, the failure reports and the debugger all speak these types;
//! the trace's wire types are mapped from them in one table (`recording::wire`).

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};

/// A green thread's id, unique within one execution. The main thread is `T0`; spawned
/// threads count up from 1 in spawn order, so ids are the same in every replay.
///
/// It holds the index plus one, never zero, so `Option<ThreadId>` is the size of a
/// `ThreadId`, as with std's.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(NonZeroU32);

impl ThreadId {
    /// The id of thread `index`: spawning checks that an execution has fewer than 2^32 - 1
    /// threads, so the hot path only converts.
    #[inline(always)]
    pub(crate) fn from_index(index: usize) -> ThreadId {
        debug_assert!(index < u32::MAX as usize, "fewer than 2^32 - 1 threads");
        ThreadId(NonZeroU32::MIN.saturating_add(index as u32))
    }

    /// The thread's index in its execution: 0 for main, then 1, 2, ... in spawn order.
    pub fn index(self) -> usize {
        self.0.get() as usize - 1
    }

    /// The id as a number: 1 for the main thread, then 2, 3, ... in spawn order (the index
    /// plus one).
    pub fn as_u64(self) -> NonZeroU64 {
        NonZeroU64::from(self.0)
    }
}

impl fmt::Debug for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ThreadId({})", self.index())
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.index())
    }
}

/// A shared object's id within one execution: objects are numbered in order of first use,
/// so ids are the same in every replay. It belongs to the execution, not to the primitive.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(u32);

impl ObjectId {
    /// The id of object `index`: registering checks that an execution has fewer than 2^24
    /// objects, so the hot path only converts.
    #[inline(always)]
    pub(crate) fn from_index(index: usize) -> ObjectId {
        debug_assert!(u32::try_from(index).is_ok(), "fewer than 2^32 objects");
        ObjectId(index as u32)
    }

    /// The object's index in its execution, in order of first use.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.0)
    }
}

/// The kind of a shared object, for naming it in reports ("Mutex#3").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `sync::Mutex`.
    Mutex,
    /// `sync::RwLock`.
    RwLock,
    /// `sync::Condvar`.
    Condvar,
    /// `sync::Barrier`.
    Barrier,
    /// `sync::Once` (and `OnceLock`, `LazyLock`).
    Once,
    /// An `mpsc` channel.
    Channel,
    /// An atomic variable.
    Atomic,
    /// A `signal::Signals` subscription.
    Signals,
    /// A socket (`net`).
    Socket,
    /// An open file, or a file-system operation on a path (`fs`).
    File,
    /// A job on a helper thread (`task::spawn_blocking`, a host-name resolution).
    Task,
}

impl ObjectKind {
    /// The kind's name in reports and traces.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Mutex => "Mutex",
            ObjectKind::RwLock => "RwLock",
            ObjectKind::Condvar => "Condvar",
            ObjectKind::Barrier => "Barrier",
            ObjectKind::Once => "Once",
            ObjectKind::Channel => "Channel",
            ObjectKind::Atomic => "Atomic",
            ObjectKind::Signals => "Signals",
            ObjectKind::Socket => "Socket",
            ObjectKind::File => "File",
            ObjectKind::Task => "Task",
        }
    }
}

/// What a blocked thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Blocker {
    /// To lock a mutex.
    Lock(ObjectId),
    /// To read-lock an RwLock.
    ReadLock(ObjectId),
    /// To write-lock an RwLock.
    WriteLock(ObjectId),
    /// A condvar notification.
    Condvar(ObjectId),
    /// The end of a thread.
    Join(ThreadId),
    /// A message on a channel.
    Recv(ObjectId),
    /// Room (or a receiver) on a channel.
    Send(ObjectId),
    /// The rest of a barrier's threads.
    Barrier(ObjectId),
    /// Another thread running a Once's initialiser.
    Once(ObjectId),
    /// An unpark.
    Park,
    /// The end of a sleep.
    Sleep,
    /// A signal for a `signal::Signals` (or its closing).
    Signal(ObjectId),
    /// I/O: the descriptor to be ready, or the helper job to finish.
    Io(ObjectId),
}

impl Blocker {
    /// Whether a thread blocked on this waits for definite other threads (a lock's holders,
    /// a joined thread), so that it can be part of a wait-for cycle.
    pub(crate) fn has_wait_edges(self) -> bool {
        matches!(
            self,
            Blocker::Lock(_)
                | Blocker::ReadLock(_)
                | Blocker::WriteLock(_)
                | Blocker::Once(_)
                | Blocker::Join(_)
        )
    }

    /// The object whose waiter queue holds a thread blocked on this, if any.
    pub fn object(self) -> Option<ObjectId> {
        match self {
            Blocker::Lock(object)
            | Blocker::ReadLock(object)
            | Blocker::WriteLock(object)
            | Blocker::Condvar(object)
            | Blocker::Recv(object)
            | Blocker::Send(object)
            | Blocker::Barrier(object)
            | Blocker::Once(object)
            | Blocker::Signal(object)
            | Blocker::Io(object) => Some(object),
            Blocker::Join(_) | Blocker::Park | Blocker::Sleep => None,
        }
    }

    /// The verb of a report ("lock", "join", "wait on"), before the object's name.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Blocker::Lock(_) => "lock",
            Blocker::ReadLock(_) => "read-lock",
            Blocker::WriteLock(_) => "write-lock",
            Blocker::Condvar(_) => "wait on",
            Blocker::Join(_) => "join",
            Blocker::Recv(_) => "receive on",
            Blocker::Send(_) => "send on",
            Blocker::Barrier(_) => "wait at",
            Blocker::Once(_) => "wait for",
            Blocker::Park => "park",
            Blocker::Sleep => "sleep",
            Blocker::Signal(_) => "wait for a signal on",
            Blocker::Io(_) => "wait for I/O on",
        }
    }
}

/// The operation a scheduling step performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Spawning a thread.
    Spawn,
    /// Joining a thread that has finished (a join that waits is a [`Op::Block`]).
    Join,
    /// A thread's last step.
    Exit,
    /// `yield_now` or a spin-loop hint.
    Yield,
    /// The start of a sleep.
    Sleep,
    /// `park` (with a token at hand).
    Park,
    /// `unpark`.
    Unpark,
    /// Locking a mutex.
    Lock,
    /// Unlocking a mutex.
    Unlock,
    /// Read-locking an RwLock.
    ReadLock,
    /// Write-locking an RwLock.
    WriteLock,
    /// Releasing a read lock.
    ReadUnlock,
    /// Releasing a write lock (also when downgrading it to a read lock).
    WriteUnlock,
    /// Waiting on a condvar (releasing its mutex).
    Wait,
    /// Notifying a condvar.
    Notify,
    /// Arriving at a barrier.
    BarrierWait,
    /// Calling a Once.
    OnceCall,
    /// Sending on a channel.
    Send,
    /// Receiving from a channel.
    Recv,
    /// An atomic load.
    AtomicLoad,
    /// An atomic store.
    AtomicStore,
    /// An atomic read-modify-write.
    AtomicUpdate,
    /// A fence.
    Fence,
    /// Took the pending signals of a `signal::Signals` (or found none).
    SignalPoll,
    /// A clock read (`time::Instant::now`, `time::SystemTime::now`): an input.
    ClockRead,
    /// The execution's first random draw, which draws the seed of every thread's generator:
    /// an input.
    RandomSeed,
    /// An I/O operation (`net`, `fs`, `task::spawn_blocking`): an input, its result follows.
    Io(IoOp),
    /// The thread blocks on this.
    Block(Blocker),
}

/// The kind of an I/O step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoOp {
    /// Opened a descriptor: bound a socket, opened a file.
    Open,
    /// Connected a socket.
    Connect,
    /// Accepted a connection.
    Accept,
    /// Read or received bytes.
    Read,
    /// Wrote or sent bytes.
    Write,
    /// Any other operation on a descriptor or a path.
    Control,
    /// Resolved a host name (on a helper thread).
    Resolve,
    /// Submitted a job to a helper thread, or took its completion.
    Helper,
}

impl IoOp {
    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            IoOp::Open => "I/O open",
            IoOp::Connect => "I/O connect",
            IoOp::Accept => "I/O accept",
            IoOp::Read => "I/O read",
            IoOp::Write => "I/O write",
            IoOp::Control => "I/O control",
            IoOp::Resolve => "I/O resolve",
            IoOp::Helper => "I/O helper job",
        }
    }
}

impl Op {
    /// How a report names the operation ("lock", "condvar wait", "block").
    pub fn name(self) -> &'static str {
        match self {
            Op::Spawn => "spawn",
            Op::Join => "join",
            Op::Exit => "exit",
            Op::Yield => "yield",
            Op::Sleep => "sleep",
            Op::Park => "park",
            Op::Unpark => "unpark",
            Op::Lock => "lock",
            Op::Unlock => "unlock",
            Op::ReadLock => "read-lock",
            Op::WriteLock => "write-lock",
            Op::ReadUnlock => "read-unlock",
            Op::WriteUnlock => "write-unlock",
            Op::Wait => "condvar wait",
            Op::Notify => "condvar notify",
            Op::BarrierWait => "barrier wait",
            Op::OnceCall => "once call",
            Op::Send => "send",
            Op::Recv => "receive",
            Op::AtomicLoad => "atomic load",
            Op::AtomicStore => "atomic store",
            Op::AtomicUpdate => "atomic read-modify-write",
            Op::Fence => "fence",
            Op::SignalPoll => "signal poll",
            Op::ClockRead => "clock read",
            Op::RandomSeed => "random seed",
            Op::Io(io) => io.name(),
            Op::Block(_) => "block",
        }
    }

    /// Whether the operation may change its object's state, for deciding which steps race
    /// (two steps on one object race when one of them writes). A lock, an unlock and a send
    /// count as writes; a load and a read lock do not.
    pub fn writes(self) -> bool {
        !matches!(
            self,
            Op::AtomicLoad
                | Op::ReadLock
                | Op::Yield
                | Op::Sleep
                | Op::Fence
                | Op::Block(_)
                | Op::ClockRead
                | Op::RandomSeed
        )
    }
}

/// One step as the runtime, the schedulers and the observers see it: the thread, what it
/// did, the object it did it on (a join's thread is in its [`Blocker`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The thread that took the step.
    pub thread: ThreadId,
    /// What it did.
    pub op: Op,
    /// The object it did it on, if any.
    pub object: Option<ObjectId>,
}

/// How a blocked thread was woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Someone made its condition possible (or it is worth re-checking).
    Notified,
    /// Its deadline passed first.
    TimedOut,
    /// Not a wake-up: the debug agent switched in to take the thread's backtrace on its own
    /// stack. `suspend` answers it and suspends again; no caller ever sees it.
    Introspect,
}
