//! The I/O side of the runtime: what an I/O step gives the program ([`IoValue`]), the
//! driver that waits for descriptors, helper jobs, signals and timers in one wait
//! (`driver.rs`), and the bounded pool of helper kernel threads for calls that cannot be made
//! non-blocking (`pool.rs`), and the io_uring that file operations use where the kernel
//! allows it (`uring.rs`, with `position.rs` keeping the file position as read(2) and
//! write(2) would). The execution's use of them is `execution/io/`.

pub(crate) mod driver;
pub(crate) mod pool;
mod position;
pub(crate) mod uring;

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;

/// The most bytes one read takes (a read may always return fewer than asked): the trace's
/// limit for one I/O event.
pub(crate) const MAX_IO_BYTES: usize = reel_trace::MAX_IO_BYTES;

/// The most bytes one datagram read takes: a datagram is read whole or its rest is lost.
pub(crate) const MAX_DATAGRAM_BYTES: usize = reel_trace::MAX_DATAGRAM_BYTES;

/// The most addresses a resolution gives.
pub(crate) const MAX_IO_ADDRS: usize = reel_trace::MAX_IO_ADDRS;

/// Helper threads a runtime starts at most when none is configured.
pub(crate) const DEFAULT_HELPER_THREADS: usize = 4;

thread_local! {
    /// The helper pool size of the runtimes this kernel thread starts (`Runtime::helper_threads`).
    static HELPER_THREADS: Cell<usize> = const { Cell::new(DEFAULT_HELPER_THREADS) };
}

/// Sets the helper pool size of the runtimes this kernel thread starts from now on.
pub(crate) fn set_helper_threads(threads: usize) {
    HELPER_THREADS.with(|cell| cell.set(threads.max(1)));
}

/// The helper pool size of a runtime started now.
pub(crate) fn helper_threads() -> usize {
    HELPER_THREADS.with(Cell::get)
}

/// What an I/O step gave the program: the runtime's side of the trace's I/O result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IoValue {
    /// Done, nothing to give back.
    Done,
    /// A count: bytes written, a position, a length.
    Count(u64),
    /// Bytes read.
    Bytes(Vec<u8>),
    /// This many bytes read straight into the program's buffer: only where nobody observes
    /// the step ([`IoState::observed`](crate::runtime::execution::IoState::observed)), so
    /// never recorded and never replayed.
    Filled(usize),
    /// A datagram and its sender.
    BytesFrom(Vec<u8>, SocketAddr),
    /// An address.
    Addr(SocketAddr),
    /// Resolved addresses.
    Addrs(Vec<SocketAddr>),
    /// Bytes that are a value rather than contents (metadata, a name).
    Value(Vec<u8>),
    /// An error: errno (0 for none) and, without one, the message.
    Error(i32, String),
    /// The operation would block: the thread waits, then tries again.
    WouldBlock,
}

impl IoValue {
    /// The value of a failed operation.
    pub(crate) fn error(error: &io::Error) -> IoValue {
        match error.raw_os_error() {
            // EWOULDBLOCK is EAGAIN on Linux: the common case, told without decoding a kind.
            Some(libc::EAGAIN) => IoValue::WouldBlock,
            _ if error.kind() == io::ErrorKind::WouldBlock => IoValue::WouldBlock,
            Some(errno) if errno != 0 => IoValue::Error(errno, String::new()),
            _ => IoValue::Error(0, error.to_string()),
        }
    }

    /// The value of an operation's result, `f` mapping its success.
    pub(crate) fn of<T>(result: io::Result<T>, f: impl FnOnce(T) -> IoValue) -> IoValue {
        match result {
            Ok(value) => f(value),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => IoValue::WouldBlock,
            Err(error) => IoValue::error(&error),
        }
    }

    /// The error this value stands for, if it is one.
    pub(crate) fn as_error(&self) -> Option<io::Error> {
        match self {
            IoValue::Error(errno, _) if *errno != 0 => Some(io::Error::from_raw_os_error(*errno)),
            IoValue::Error(_, message) => Some(io::Error::other(message.clone())),
            _ => None,
        }
    }

    /// How a divergence names it.
    pub(crate) fn describe(&self) -> String {
        match self {
            IoValue::Done => "done".to_owned(),
            IoValue::Count(count) => format!("{count}"),
            IoValue::Bytes(bytes) => format!("{} bytes", bytes.len()),
            IoValue::Filled(count) => format!("{count} bytes"),
            IoValue::BytesFrom(bytes, from) => format!("{} bytes from {from}", bytes.len()),
            IoValue::Addr(addr) => addr.to_string(),
            IoValue::Addrs(addrs) => format!("{} addresses", addrs.len()),
            IoValue::Value(bytes) => format!("a value of {} bytes", bytes.len()),
            IoValue::Error(errno, _) if *errno != 0 => {
                format!("error: {}", io::Error::from_raw_os_error(*errno))
            }
            IoValue::Error(_, message) => format!("error: {message}"),
            IoValue::WouldBlock => "would block".to_owned(),
        }
    }
}

/// What the program asked of an I/O step, as the observers are told: the length asked and,
/// for a write, the bytes handed over, and where it goes (which observers know by their
/// hashes; the bytes' and an address's are computed only when one asks, so an unobserved
/// send hashes nothing and formats no address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoAsk<'a> {
    /// Bytes asked to read, or handed over to write (0 when the operation has no length).
    pub(crate) asked: u64,
    /// The bytes a write handed over.
    written: Option<&'a [u8]>,
    /// Where the operation goes: the path it opens or names, the address it sends to,
    /// connects to or binds.
    target: Option<Target>,
}

/// Where an I/O operation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// xxh3-64 of a path's bytes (two paths apart by a zero byte for a rename).
    Hash(u64),
    /// A socket address, known by the xxh3-64 of the text of its `Display`.
    Addr(std::net::SocketAddr),
}

impl<'a> IoAsk<'a> {
    /// An operation without a length.
    pub(crate) const NONE: IoAsk<'static> = IoAsk {
        asked: 0,
        written: None,
        target: None,
    };

    /// A read of up to `asked` bytes.
    pub(crate) fn read(asked: usize) -> IoAsk<'static> {
        IoAsk {
            asked: asked as u64,
            written: None,
            target: None,
        }
    }

    /// A write of `bytes`.
    pub(crate) fn write(bytes: &'a [u8]) -> IoAsk<'a> {
        IoAsk {
            asked: bytes.len() as u64,
            written: Some(bytes),
            target: None,
        }
    }

    /// xxh3-64 of the bytes a write handed over.
    pub(crate) fn written_hash(&self) -> Option<u64> {
        self.written.map(xxhash_rust::xxh3::xxh3_64)
    }

    /// xxh3-64 of where the operation goes: of the path's bytes, or of the address's text.
    pub(crate) fn target_hash(&self) -> Option<u64> {
        self.target.map(|target| match target {
            Target::Hash(hash) => hash,
            Target::Addr(address) => xxhash_rust::xxh3::xxh3_64(address.to_string().as_bytes()),
        })
    }

    /// This operation, going to the path `path`.
    pub(crate) fn to_path(self, path: &std::path::Path) -> IoAsk<'a> {
        use std::os::unix::ffi::OsStrExt;
        self.to_target(path.as_os_str().as_bytes())
    }

    /// This operation, going to the socket address `address`.
    pub(crate) fn to_addr(self, address: &std::net::SocketAddr) -> IoAsk<'a> {
        IoAsk {
            target: Some(Target::Addr(*address)),
            ..self
        }
    }

    /// This operation, going to where `bytes` name (a path's or an address's bytes).
    pub(crate) fn to_target(self, bytes: &[u8]) -> IoAsk<'a> {
        IoAsk {
            target: Some(Target::Hash(xxhash_rust::xxh3::xxh3_64(bytes))),
            ..self
        }
    }
}

/// Readiness a waiter waits for, and a descriptor has (bits).
pub(crate) mod interest {
    /// Readable (or a connection to accept, or closed by the peer).
    pub(crate) const READ: u8 = 1;
    /// Writable (or a connection attempt ended).
    pub(crate) const WRITE: u8 = 2;
    /// A helper job finished.
    pub(crate) const DONE: u8 = 4;
    /// The reading side is closed (the peer's close or shutdown, this end's
    /// `shutdown(Read)`, a hang-up) or the socket has an error: never cleared, so a read
    /// of a stream that showed itself drained still asks the kernel, which answers at once.
    pub(crate) const CLOSED: u8 = 8;
    /// Urgent data came (TCP's out-of-band byte): a read stops short at its mark with bytes
    /// still queued, so from then on a short read shows nothing. Never cleared.
    pub(crate) const PRIORITY: u8 = 16;
}
