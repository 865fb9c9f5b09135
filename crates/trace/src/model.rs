//! The trace's data model: the header that names the program and the run, and the events
//! that record what the run did.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Everything a trace says about the program and the run before its first event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Which program was recorded.
    pub program: Program,
    /// How and where it ran.
    pub run: RunInfo,
    /// The runtime settings a replay must use to reproduce it.
    pub settings: Settings,
}

/// The identity of the recorded program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// The executable's path when it was recorded.
    pub exe_path: String,
    /// The executable's name without cargo's `-<hash>` suffix: the same for a debug and a
    /// release build of one program, so that either replays the other's traces.
    pub exe_name: String,
    /// xxh3-64 of the executable's contents, when it could be read.
    pub exe_hash: Option<u64>,
    /// The test (or entry point) that was recorded, when there is one.
    pub entry: Option<String>,
    /// The process's arguments (at most [`crate::MAX_ARGS`], each at most
    /// [`crate::MAX_STRING_BYTES`]).
    pub args: Vec<String>,
    /// The reel version that recorded it.
    pub reel_version: String,
    /// `rustc --version` of the toolchain that built it.
    pub rustc_version: String,
    /// The target triple it was built for.
    pub target: String,
    /// `debug` or `release` (whether debug assertions were on).
    pub profile: String,
}

/// How and where the program ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The exploration strategy ("random", "pct(depth 3)"), or "run" for a plain run.
    pub strategy: String,
    /// The exploration's seed.
    pub seed: Option<u64>,
    /// The 1-based execution of the exploration that this trace records.
    pub iteration: Option<u64>,
    /// The host name.
    pub host: String,
    /// When the recording started, in milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    /// The process id.
    pub pid: u32,
    /// The kernel thread id that ran every green thread.
    pub kernel_thread: u64,
    /// The commit CI was building, when the environment named one (`GITHUB_SHA`,
    /// `CI_COMMIT_SHA`, ...).
    pub ci_commit: Option<String>,
}

/// The runtime settings of the recorded run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The step bound, if any.
    pub max_steps: Option<u64>,
    /// The plain run's spin detector limit, if any.
    pub spin_limit: Option<u64>,
    /// Usable stack bytes of each green thread.
    pub stack_bytes: u64,
    /// Whether a panic in any thread failed the run (exploration) or only main's (a plain run).
    pub any_thread_panic_fails: bool,
    /// Which clock the run used.
    pub clock: ClockKind,
}

/// The clock a run used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockKind {
    /// Virtual time, a function of the schedule.
    Virtual,
    /// Real time; its effects (timeouts that fired) are recorded as events.
    Real,
}

/// The kind of operation a scheduling step performed. The wire code of each is fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum OpKind {
    /// Spawned a thread.
    Spawn = 0,
    /// Joined (or asked whether a thread finished).
    Join = 1,
    /// The thread exited.
    Exit = 2,
    /// Yielded.
    Yield = 3,
    /// Began a sleep.
    Sleep = 4,
    /// Parked.
    Park = 5,
    /// Unparked another thread.
    Unpark = 6,
    /// Locked a mutex.
    Lock = 7,
    /// Unlocked a mutex.
    Unlock = 8,
    /// Read-locked an RwLock.
    ReadLock = 9,
    /// Write-locked an RwLock.
    WriteLock = 10,
    /// Released a read lock.
    ReadUnlock = 11,
    /// Released a write lock.
    WriteUnlock = 12,
    /// Waited on a condvar.
    CondvarWait = 13,
    /// Notified a condvar.
    CondvarNotify = 14,
    /// Waited at a barrier.
    BarrierWait = 15,
    /// Called a Once (or OnceLock, LazyLock) initialiser.
    OnceCall = 16,
    /// Sent on a channel.
    Send = 17,
    /// Received from a channel.
    Recv = 18,
    /// Loaded an atomic.
    AtomicLoad = 19,
    /// Stored an atomic.
    AtomicStore = 20,
    /// Read-modify-wrote an atomic.
    AtomicUpdate = 21,
    /// A fence.
    Fence = 22,
    /// Read a clock (the reading follows as a [`Event::ClockRead`]).
    ClockRead = 28,
    /// Drew the run's random seed (it follows as a [`Event::RandomSeed`]): the first random
    /// draw of the run.
    RandomSeed = 29,
    /// Blocked: waiting to lock a mutex.
    BlockLock = 32,
    /// Blocked: waiting to read-lock an RwLock.
    BlockRead = 33,
    /// Blocked: waiting to write-lock an RwLock.
    BlockWrite = 34,
    /// Blocked: waiting for a condvar notification.
    BlockCondvar = 35,
    /// Blocked: waiting for a thread (the step's object is that thread's id) to finish.
    BlockJoin = 36,
    /// Blocked: waiting for a message.
    BlockRecv = 37,
    /// Blocked: waiting for room on a channel (or a rendezvous).
    BlockSend = 38,
    /// Blocked: waiting for the rest of a barrier's threads.
    BlockBarrier = 39,
    /// Blocked: waiting for another thread's Once initialiser.
    BlockOnce = 40,
    /// Blocked: parked, waiting for an unpark.
    BlockPark = 41,
    /// Blocked: sleeping.
    BlockSleep = 42,
    /// Took the pending signals of a `signal::Signals` (or found none).
    SignalPoll = 30,
    /// Blocked: waiting for a signal.
    BlockSignal = 47,
    /// Blocked: waiting for I/O (a descriptor to be ready, or a helper's job to finish).
    BlockIo = 43,
    /// I/O: opened a descriptor (bound a socket, opened a file); its result follows as an
    /// [`Event::Io`], as for every I/O step.
    IoOpen = 48,
    /// I/O: connected a socket.
    IoConnect = 49,
    /// I/O: accepted a connection.
    IoAccept = 50,
    /// I/O: read or received bytes.
    IoRead = 51,
    /// I/O: wrote or sent bytes.
    IoWrite = 52,
    /// I/O: any other operation on a descriptor (shutdown, an address, an option, a seek, a
    /// sync, metadata, a directory entry, a rename or removal).
    IoControl = 53,
    /// I/O: resolved a host name on a helper thread.
    IoResolve = 54,
    /// I/O: submitted a job to a helper thread, or took its completion.
    IoHelper = 55,
}

impl OpKind {
    /// Every operation kind, in code order.
    pub const ALL: [OpKind; 47] = [
        OpKind::Spawn,
        OpKind::Join,
        OpKind::Exit,
        OpKind::Yield,
        OpKind::Sleep,
        OpKind::Park,
        OpKind::Unpark,
        OpKind::Lock,
        OpKind::Unlock,
        OpKind::ReadLock,
        OpKind::WriteLock,
        OpKind::ReadUnlock,
        OpKind::WriteUnlock,
        OpKind::CondvarWait,
        OpKind::CondvarNotify,
        OpKind::BarrierWait,
        OpKind::OnceCall,
        OpKind::Send,
        OpKind::Recv,
        OpKind::AtomicLoad,
        OpKind::AtomicStore,
        OpKind::AtomicUpdate,
        OpKind::Fence,
        OpKind::ClockRead,
        OpKind::RandomSeed,
        OpKind::BlockLock,
        OpKind::BlockRead,
        OpKind::BlockWrite,
        OpKind::BlockCondvar,
        OpKind::BlockJoin,
        OpKind::BlockRecv,
        OpKind::BlockSend,
        OpKind::BlockBarrier,
        OpKind::BlockOnce,
        OpKind::BlockPark,
        OpKind::BlockSleep,
        OpKind::SignalPoll,
        OpKind::BlockSignal,
        OpKind::BlockIo,
        OpKind::IoOpen,
        OpKind::IoConnect,
        OpKind::IoAccept,
        OpKind::IoRead,
        OpKind::IoWrite,
        OpKind::IoControl,
        OpKind::IoResolve,
        OpKind::IoHelper,
    ];

    /// The wire code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind with this wire code, if there is one.
    pub fn from_code(code: u8) -> Option<OpKind> {
        OpKind::ALL.iter().copied().find(|kind| kind.code() == code)
    }

    /// Whether the thread blocks at this step (codes `0x20`..`0x2f`).
    pub fn is_block(self) -> bool {
        (OpKind::BlockLock.code()..=OpKind::BlockSignal.code()).contains(&self.code())
    }

    /// Whether the step is an I/O operation, whose result follows it (codes `0x30`..`0x37`).
    pub fn is_io(self) -> bool {
        (OpKind::IoOpen.code()..=OpKind::IoHelper.code()).contains(&self.code())
    }

    /// Whether the thread lets the others run after this step of its own accord: it blocked,
    /// yielded or exited. A switch after any other step is a preemption.
    pub fn gives_way(self) -> bool {
        self.is_block() || self == OpKind::Exit || self == OpKind::Yield
    }

    /// Whether the step's object is a thread id (a join's target) rather than a shared object.
    pub fn object_is_thread(self) -> bool {
        self == OpKind::BlockJoin
    }

    /// How reports and `reel show` name the operation.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Spawn => "spawn",
            OpKind::Join => "join",
            OpKind::Exit => "exit",
            OpKind::Yield => "yield",
            OpKind::Sleep => "sleep",
            OpKind::Park => "park",
            OpKind::Unpark => "unpark",
            OpKind::Lock => "lock",
            OpKind::Unlock => "unlock",
            OpKind::ReadLock => "read-lock",
            OpKind::WriteLock => "write-lock",
            OpKind::ReadUnlock => "read-unlock",
            OpKind::WriteUnlock => "write-unlock",
            OpKind::CondvarWait => "condvar wait",
            OpKind::CondvarNotify => "condvar notify",
            OpKind::BarrierWait => "barrier wait",
            OpKind::OnceCall => "once call",
            OpKind::Send => "send",
            OpKind::Recv => "receive",
            OpKind::AtomicLoad => "atomic load",
            OpKind::AtomicStore => "atomic store",
            OpKind::AtomicUpdate => "atomic read-modify-write",
            OpKind::Fence => "fence",
            OpKind::ClockRead => "clock read",
            OpKind::RandomSeed => "random seed",
            OpKind::BlockLock => "blocks: lock",
            OpKind::BlockRead => "blocks: read-lock",
            OpKind::BlockWrite => "blocks: write-lock",
            OpKind::BlockCondvar => "blocks: condvar wait",
            OpKind::BlockJoin => "blocks: join",
            OpKind::BlockRecv => "blocks: receive",
            OpKind::BlockSend => "blocks: send",
            OpKind::BlockBarrier => "blocks: barrier",
            OpKind::BlockOnce => "blocks: once",
            OpKind::BlockPark => "blocks: park",
            OpKind::BlockSleep => "blocks: sleep",
            OpKind::SignalPoll => "signal poll",
            OpKind::BlockSignal => "blocks: signal wait",
            OpKind::BlockIo => "blocks: I/O",
            OpKind::IoOpen => "I/O open",
            OpKind::IoConnect => "I/O connect",
            OpKind::IoAccept => "I/O accept",
            OpKind::IoRead => "I/O read",
            OpKind::IoWrite => "I/O write",
            OpKind::IoControl => "I/O control",
            OpKind::IoResolve => "I/O resolve",
            OpKind::IoHelper => "I/O helper job",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of a shared object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    /// `sync::Mutex`.
    Mutex,
    /// `sync::RwLock`.
    RwLock,
    /// `sync::Condvar`.
    Condvar,
    /// `sync::Barrier`.
    Barrier,
    /// `sync::Once` (and what is built on it).
    Once,
    /// An mpsc channel.
    Channel,
    /// An atomic.
    Atomic,
    /// A `signal::Signals` subscription.
    Signals,
    /// A socket (`net::TcpListener`, `net::TcpStream`, `net::UdpSocket`).
    Socket,
    /// An open file, or a file-system operation on a path.
    File,
    /// A job on a helper thread (`task::spawn_blocking`, a host-name resolution).
    Task,
}

impl ObjectKind {
    /// The type's name, as in "Mutex#3".
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

/// One scheduling step: `thread` performed `op` on `object` at `location`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// The green thread (0 is main).
    pub thread: u32,
    /// What it did.
    pub op: OpKind,
    /// The object it did it to: an index into [`crate::Trace::objects`], or a thread id when
    /// [`OpKind::object_is_thread`].
    pub object: Option<u32>,
    /// Where: an index into [`crate::Trace::locations`].
    pub location: u32,
}

/// A thread came to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spawn {
    /// The thread that spawned it (`None` for main).
    pub parent: Option<u32>,
    /// Its name, if it has one.
    pub name: Option<String>,
}

/// A source file, interned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDef {
    /// The path as the compiler saw it.
    pub path: String,
}

/// A source location, interned: an index into the trace's files, a line and a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LocationDef {
    /// Index into [`crate::Trace::files`].
    pub file: u32,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// A source location spelled out (for outcomes, whose locations are not step locations).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceLocation {
    /// The path as the compiler saw it.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// How a recorded run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutcomeKind {
    /// Main returned and nothing failed.
    Ok,
    /// A thread panicked.
    Panic,
    /// No thread could run.
    Deadlock,
    /// Threads waited for each other in a cycle while others could run.
    PartialDeadlock,
    /// A thread locked a lock it held.
    ReentrantLock,
    /// The step bound (or the spin detector) stopped a likely livelock.
    StepBoundExceeded,
    /// The watchdog saw a head-of-line stall and the run was asked to fail on one.
    Stall,
}

impl OutcomeKind {
    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Panic => "panic",
            OutcomeKind::Deadlock => "deadlock",
            OutcomeKind::PartialDeadlock => "partial deadlock",
            OutcomeKind::ReentrantLock => "re-entrant lock",
            OutcomeKind::StepBoundExceeded => "step bound exceeded",
            OutcomeKind::Stall => "head-of-line stall",
        }
    }
}

/// The end of a recorded run: the last event of a complete trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// How it ended.
    pub kind: OutcomeKind,
    /// The step at which it ended.
    pub step: u64,
    /// The thread it is blamed on, if one.
    pub thread: Option<u32>,
    /// Where, if known.
    pub location: Option<SourceLocation>,
    /// The panic message or the report's summary (at most [`crate::MAX_STRING_BYTES`]).
    pub message: String,
    /// A deadlock's wait-for cycle, in order.
    pub cycle: Vec<u32>,
}

/// One event of a trace, as the reader gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A scheduling step. The scheduler's decision at each point is the thread of the step
    /// that follows it.
    Step(Step),
    /// A thread was created; it gets the next thread id (main is 0).
    Spawn(Box<Spawn>),
    /// A shared object was first used; it gets the next object id.
    Object(ObjectKind),
    /// A timed wait of this thread ran out, before the next step.
    Timeout {
        /// The thread whose timeout fired.
        thread: u32,
    },
    /// The run ended.
    Outcome(Box<Outcome>),
    /// A signal arrived and was delivered to the program at the decision point after a
    /// step, before the next step.
    Signal(SignalArrival),
    /// What the clock read at the step before (a [`OpKind::ClockRead`] step).
    ClockRead(ClockReading),
    /// The seed of the run's random generators, drawn at the step before (a
    /// [`OpKind::RandomSeed`] step).
    RandomSeed {
        /// The seed.
        seed: u64,
    },
    /// The running thread used up its time slice and was switched away from before the
    /// next step (a plain run's fair scheduling); a replay preempts it at the same step.
    Preemption {
        /// The thread that was preempted.
        thread: u32,
    },
    /// The kernel thread was held by one green thread, outside any scheduling point, for
    /// longer than the watchdog's threshold while others waited. Informational: a replay
    /// does not re-enact it.
    Stall(Box<Stall>),
    /// What an I/O step did (right after it), or the end of a thread's wait for I/O (at a
    /// decision point, before the next step).
    Io(Box<IoEvent>),
}

/// An I/O event (tag `0x94`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IoEvent {
    /// The result of the I/O step just before.
    Done(IoDone),
    /// The wait of this thread for I/O ([`OpKind::BlockIo`]) ended: its descriptor is ready
    /// or its helper job finished. Delivered at the decision point after a step.
    Ready {
        /// The thread that waited.
        thread: u32,
    },
}

/// The result of one I/O step, and what the program asked for there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoDone {
    /// The length the program asked for: the buffer's length for a read, the bytes handed
    /// over for a write (0 when the operation has no length).
    pub asked: u64,
    /// The xxh3-64 hash of the bytes a write handed over (none for other operations): a
    /// replay that writes other bytes diverges.
    pub written: Option<u64>,
    /// The xxh3-64 hash of where the operation went (none for operations that name no
    /// place): the bytes of the path it opened or named, or the text of the socket address
    /// it sent to, connected to or bound. A replay that goes elsewhere diverges.
    pub target: Option<u64>,
    /// What the operation gave the program.
    pub result: IoResult,
}

/// What an I/O operation gave the program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IoResult {
    /// It succeeded with nothing to give back.
    Done,
    /// A count: bytes written, a position, a length.
    Count(u64),
    /// The bytes read (at most [`crate::MAX_IO_BYTES`] from a stream or a file, at most
    /// [`crate::MAX_DATAGRAM_BYTES`] of a datagram).
    Bytes(Vec<u8>),
    /// The bytes of a datagram and its sender.
    BytesFrom {
        /// The bytes (at most [`crate::MAX_DATAGRAM_BYTES`]).
        bytes: Vec<u8>,
        /// Who sent them.
        from: std::net::SocketAddr,
    },
    /// An address: a bound or peer address, an accepted connection's peer.
    Addr(std::net::SocketAddr),
    /// Resolved addresses (at most [`crate::MAX_IO_ADDRS`]).
    Addrs(Vec<std::net::SocketAddr>),
    /// Bytes that are not the contents of a read (a file's metadata, a directory entry's
    /// name), at most [`crate::MAX_IO_BYTES`].
    Value(Vec<u8>),
    /// It failed: the OS error number (0 when the error came from elsewhere) and, for an
    /// error without one, its message (at most [`crate::MAX_STRING_BYTES`]).
    Error {
        /// `errno`, or 0.
        errno: i32,
        /// The message of an error without an OS error number, else empty.
        message: String,
    },
    /// It would have blocked: the thread waits for its descriptor or its job (the program
    /// does not see this result; it sees the one after the wait).
    WouldBlock,
}

impl IoResult {
    /// How reports name the result.
    pub fn describe(&self) -> String {
        match self {
            IoResult::Done => "done".to_owned(),
            IoResult::Count(count) => format!("{count}"),
            IoResult::Bytes(bytes) => format!("{} bytes", bytes.len()),
            IoResult::BytesFrom { bytes, from } => format!("{} bytes from {from}", bytes.len()),
            IoResult::Addr(addr) => addr.to_string(),
            IoResult::Addrs(addrs) => format!(
                "[{}]",
                addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            IoResult::Value(bytes) => format!("a value of {} bytes", bytes.len()),
            IoResult::Error { errno, message } if *errno != 0 => {
                format!(
                    "error {} (errno {errno})",
                    std::io::Error::from_raw_os_error(*errno)
                )
            }
            IoResult::Error { message, .. } => format!("error: {message}"),
            IoResult::WouldBlock => "would block".to_owned(),
        }
    }

    /// Bytes of I/O data the result carries (read contents).
    pub fn data_bytes(&self) -> u64 {
        match self {
            IoResult::Bytes(bytes) | IoResult::BytesFrom { bytes, .. } => bytes.len() as u64,
            _ => 0,
        }
    }
}

/// A signal's arrival, as the trace holds it: what arrived, from whom, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignalArrival {
    /// The signal number (1 to [`crate::MAX_SIGNAL`]).
    pub signal: u32,
    /// `si_code` of the arrival (`SI_USER` 0 for `kill`, `SI_TKILL` -6 for `raise`, ...).
    pub code: i32,
    /// The sender's process id, when the kernel gave one (0 otherwise).
    pub sender: u32,
    /// The step after which it was delivered: the number of steps before it in the trace.
    pub step: u64,
}

impl SignalArrival {
    /// The signal's name on Linux (`SIGTERM`), or `SIG<n>` for one without a common name
    /// (`SIGRTMIN+n` for a real-time one).
    pub fn name(&self) -> String {
        signal_name(self.signal)
    }

    /// How reports name `si_code`: `SI_USER (kill)`, `SI_TKILL (tkill/raise)`, ...
    pub fn code_name(&self) -> String {
        match self.code {
            0 => "SI_USER".to_owned(),
            0x80 => "SI_KERNEL".to_owned(),
            -1 => "SI_QUEUE".to_owned(),
            -2 => "SI_TIMER".to_owned(),
            -3 => "SI_MESGQ".to_owned(),
            -4 => "SI_ASYNCIO".to_owned(),
            -6 => "SI_TKILL".to_owned(),
            code => format!("code {code}"),
        }
    }
}

/// Which clock a program read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClockSource {
    /// The monotonic clock (`reel::time::Instant`).
    Monotonic,
    /// The system clock (`reel::time::SystemTime`).
    System,
}

impl ClockSource {
    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            ClockSource::Monotonic => "monotonic",
            ClockSource::System => "system",
        }
    }
}

impl fmt::Display for SignalArrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.name(), self.code_name())?;
        if self.sender != 0 {
            write!(f, " from pid {}", self.sender)?;
        }
        write!(f, ") after step {}", self.step)
    }
}

/// The Linux name of signal `signal`: `SIGTERM`, `SIGRTMIN+2`, or `SIG<n>`.
pub fn signal_name(signal: u32) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match signal {
        1..=31 => NAMES[signal as usize].to_owned(),
        34..=64 => format!("SIGRTMIN+{}", signal - 34),
        _ => format!("SIG{signal}"),
    }
}

/// The number of a signal named `name` (`SIGTERM`, `TERM`, `term`, `15`), if it is one.
pub fn signal_number(name: &str) -> Option<u32> {
    let name = name.trim();
    if let Ok(number) = name.parse::<u32>() {
        return (1..=crate::MAX_SIGNAL).contains(&number).then_some(number);
    }
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    (1..=crate::MAX_SIGNAL).find(|&signal| {
        signal_name(signal)
            .strip_prefix("SIG")
            .is_some_and(|candidate| candidate == bare)
    })
}

/// One clock reading: which clock, and its value in nanoseconds. A monotonic reading counts
/// from the clock's own start (never negative, never decreasing within a trace); a system
/// reading counts from the Unix epoch (negative before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClockReading {
    /// The clock.
    pub source: ClockSource,
    /// Its value, in nanoseconds.
    pub nanos: i64,
}

impl fmt::Display for ClockReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let magnitude = self.nanos.unsigned_abs();
        write!(
            f,
            "{} clock {sign}{}.{:09} s",
            self.source.name(),
            magnitude / 1_000_000_000,
            magnitude % 1_000_000_000
        )
    }
}

/// A head-of-line stall the watchdog saw: one green thread held the kernel thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stall {
    /// The green thread that held the kernel thread.
    pub thread: u32,
    /// How long it held it, in microseconds.
    pub duration_micros: u64,
    /// The system call it was blocked in (`"fsync"`), or `None` when it was computing.
    pub syscall: Option<String>,
    /// Where in the program, if the watchdog could tell (the innermost frame of the
    /// program's own code in the kernel thread's backtrace).
    pub location: Option<SourceLocation>,
    /// How many other green threads were ready to run and waited.
    pub ready: u32,
}

/// Event kinds that the format reserves for nondeterministic inputs that this version of the
/// runtime does not produce yet; a reader rejects them by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedKind {
    /// A timer preempted the running thread. Recorded since the format got the preemption
    /// event (tag 0x91): no reader rejects it any more; kept so that the names stay stable.
    TimerPreemption,
    /// An I/O operation completed. Recorded since the format got the I/O event (tag 0x94):
    /// no reader rejects it any more; kept so that the names stay stable.
    IoResult,
}

impl ReservedKind {
    /// How errors name it.
    pub fn name(self) -> &'static str {
        match self {
            ReservedKind::TimerPreemption => "timer preemption",
            ReservedKind::IoResult => "I/O result",
        }
    }
}
