//! File reads, writes and syncs through io_uring, when the kernel allows it (a container may
//! forbid it: the probe fails and file operations run on the helper pool instead). The
//! ring's descriptor is registered with the driver's poll, so a completion ends the idle
//! wait like a ready socket; each submission owns its buffer and keeps its file open until
//! its completion is reaped.
//!
//! The trace does not say which path ran: both give the same steps and results.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::AsRawFd;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, types};

/// Submissions the ring holds at once.
const RING_ENTRIES: u32 = 64;
/// The user data of the cancellations sent at drop (no submission has this token).
const CANCEL: u64 = u64::MAX;
/// How long a dropped ring waits for its cancelled submissions to complete.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// A file operation for the ring.
pub(crate) enum RingOp {
    /// Read up to `len` bytes at `offset` (`None`: at the file's position, moving it).
    Read {
        file: Arc<std::fs::File>,
        len: usize,
        offset: Option<u64>,
    },
    /// Write `bytes` at `offset` (`None`: at the file's position, moving it).
    Write {
        file: Arc<std::fs::File>,
        bytes: Vec<u8>,
        offset: Option<u64>,
    },
    /// Flush the file's data (and metadata unless `data_only`) to the device.
    Sync {
        file: Arc<std::fs::File>,
        data_only: bool,
    },
}

/// A submission in flight: what keeps its buffer and its file alive.
struct InFlight {
    /// The read's buffer, or the write's bytes.
    buffer: Vec<u8>,
    /// The file, open until the completion is reaped.
    _file: Arc<std::fs::File>,
}

/// One execution's ring.
pub(crate) struct Ring {
    /// Dropped by hand, once nothing in flight can be written any more (else leaked).
    ring: ManuallyDrop<IoUring>,
    next_token: u64,
    in_flight: HashMap<u64, InFlight>,
    /// Completions reaped and not yet taken: (result, the read's bytes).
    completed: HashMap<u64, (i32, Vec<u8>)>,
    /// Tokens of completions reaped but not yet returned by [`Ring::reap`].
    reaped: Vec<u64>,
}

thread_local! {
    /// Whether io_uring is to be used by the runtimes this kernel thread starts, as set by
    /// `Runtime::io_uring` (0 unset, 1 off, 2 on).
    static CHOSEN: Cell<u8> = const { Cell::new(0) };
}

/// Turns io_uring off (`false`) or back on for the runtimes this kernel thread starts from
/// now on (REEL_IO_URING=0 turns it off where nothing was chosen).
pub(crate) fn choose(enabled: bool) {
    CHOSEN.with(|chosen| chosen.set(if enabled { 2 } else { 1 }));
}

/// Whether file operations may use io_uring: not turned off, and the kernel allows it
/// (probed once per process; the first failure is logged once).
pub(crate) fn available() -> bool {
    static PROBED: OnceLock<bool> = OnceLock::new();
    let forced_off = match CHOSEN.with(Cell::get) {
        1 => true,
        2 => false,
        _ => std::env::var_os("REEL_IO_URING").is_some_and(|value| value == "0"),
    };
    !forced_off
        && *PROBED.get_or_init(|| match IoUring::new(2) {
            Ok(_) => true,
            Err(error) => {
                eprintln!(
                    "reel: io_uring is not available here ({error}); file operations run on \
                     helper threads"
                );
                false
            }
        })
}

/// Which path file operations take in a runtime started now: `"io_uring"` or
/// `"helper threads"`.
pub(crate) fn backend() -> &'static str {
    if available() {
        "io_uring"
    } else {
        "helper threads"
    }
}

impl Ring {
    pub(crate) fn new() -> io::Result<Ring> {
        Ok(Ring {
            ring: ManuallyDrop::new(IoUring::new(RING_ENTRIES)?),
            next_token: 0,
            in_flight: HashMap::new(),
            completed: HashMap::new(),
            reaped: Vec::new(),
        })
    }

    /// The ring's descriptor, for the driver's poll.
    pub(crate) fn fd(&self) -> std::os::fd::RawFd {
        self.ring.as_raw_fd()
    }

    /// Submits `op`; returns its token.
    pub(crate) fn submit(&mut self, op: RingOp) -> io::Result<u64> {
        let token = self.next_token;
        self.next_token += 1;
        let (in_flight, entry) = match op {
            RingOp::Read { file, len, offset } => {
                let mut flight = InFlight {
                    buffer: vec![0; len],
                    _file: Arc::clone(&file),
                };
                let entry = opcode::Read::new(
                    types::Fd(file.as_raw_fd()),
                    flight.buffer.as_mut_ptr(),
                    u32::try_from(len).unwrap_or(u32::MAX),
                )
                .offset(offset.unwrap_or(u64::MAX))
                .build();
                (flight, entry)
            }
            RingOp::Write {
                file,
                bytes,
                offset,
            } => {
                let flight = InFlight {
                    buffer: bytes,
                    _file: Arc::clone(&file),
                };
                let entry = opcode::Write::new(
                    types::Fd(file.as_raw_fd()),
                    flight.buffer.as_ptr(),
                    u32::try_from(flight.buffer.len()).unwrap_or(u32::MAX),
                )
                .offset(offset.unwrap_or(u64::MAX))
                .build();
                (flight, entry)
            }
            RingOp::Sync { file, data_only } => {
                let flags = if data_only {
                    types::FsyncFlags::DATASYNC
                } else {
                    types::FsyncFlags::empty()
                };
                let entry = opcode::Fsync::new(types::Fd(file.as_raw_fd()))
                    .flags(flags)
                    .build();
                (
                    InFlight {
                        buffer: Vec::new(),
                        _file: file,
                    },
                    entry,
                )
            }
        };
        let entry = entry.user_data(token);
        if self.ring.submission().is_full() {
            let submitted = self.ring.submit();
            self.collect();
            submitted?;
        }
        // SAFETY: the entry points into `in_flight.buffer`, whose heap allocation stays
        // where it is (the Vec is moved into the map, not its buffer) and is freed only
        // when the completion is reaped (or, at drop, after it is, or never); the file it
        // names stays open through `in_flight._file` just as long.
        let pushed = unsafe { self.ring.submission().push(&entry) };
        if pushed.is_err() {
            return Err(io::Error::other("the io_uring submission queue is full"));
        }
        self.in_flight.insert(token, in_flight);
        // Pushed: the kernel will run it whatever this says. A failed submit leaves it
        // queued; `flush` (before each wait of the driver) or the next submit sends it.
        let _ = self.ring.submit();
        Ok(token)
    }

    /// Sends what is queued and not yet submitted; `false` when that failed (it stays
    /// queued, to be tried again).
    pub(crate) fn flush(&mut self) -> bool {
        self.ring.submission().is_empty() || self.ring.submit().is_ok()
    }

    /// Whether completions were reaped that [`Ring::reap`] has not returned yet.
    pub(crate) fn has_reaped(&self) -> bool {
        !self.reaped.is_empty()
    }

    /// Moves the completions the kernel posted into `completed`, their tokens into `reaped`.
    fn collect(&mut self) {
        let completions: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|entry| (entry.user_data(), entry.result()))
            .collect();
        for (token, result) in completions {
            if let Some(mut flight) = self.in_flight.remove(&token) {
                let read = usize::try_from(result).unwrap_or(0);
                flight.buffer.truncate(read);
                self.completed.insert(token, (result, flight.buffer));
                self.reaped.push(token);
            }
        }
    }

    /// Moves the completions the kernel posted into `completed`; returns the tokens of all
    /// completions reaped since the last call.
    pub(crate) fn reap(&mut self) -> Vec<u64> {
        self.collect();
        std::mem::take(&mut self.reaped)
    }

    /// Whether the completion of `token` was reaped and not yet taken.
    pub(crate) fn is_done(&self, token: u64) -> bool {
        self.completed.contains_key(&token)
    }

    /// The completion of `token`, once reaped: the result (bytes, or `-errno`) and a read's
    /// bytes.
    pub(crate) fn take(&mut self, token: u64) -> Option<(i32, Vec<u8>)> {
        self.completed.remove(&token)
    }
}

impl Ring {
    /// Asks the kernel to cancel every submission in flight, then waits (at most
    /// [`CANCEL_WAIT`]) for all of them to complete; `false` when some did not.
    fn cancel_all(&mut self) -> bool {
        let tokens: Vec<u64> = self.in_flight.keys().copied().collect();
        for token in tokens {
            let cancel = opcode::AsyncCancel::new(token).build().user_data(CANCEL);
            loop {
                // SAFETY: a cancellation names its target by user data only: it points
                // at no memory of ours.
                if unsafe { self.ring.submission().push(&cancel) }.is_ok() {
                    break;
                }
                if self.ring.submit().is_err() {
                    return false;
                }
                self.collect();
            }
        }
        let deadline = Instant::now() + CANCEL_WAIT;
        while !self.in_flight.is_empty() {
            if !self.flush() {
                return false;
            }
            self.collect();
            if self.in_flight.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let mut poll = libc::pollfd {
                fd: self.ring.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = (deadline - now).as_millis().clamp(1, 100) as libc::c_int;
            // SAFETY: `poll` is one valid pollfd that outlives the call.
            unsafe { libc::poll(&mut poll, 1, millis) };
        }
        true
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // What is in flight may never complete by itself (a read of a FIFO or a terminal
        // nobody writes to): cancel it, and wait for the completions, since until then the
        // kernel may still write into the buffers.
        if self.in_flight.is_empty() || self.cancel_all() {
            // SAFETY: nothing is in flight any more (every buffer the kernel was given has
            // its completion), and `self.ring` is not used after this.
            unsafe { ManuallyDrop::drop(&mut self.ring) };
        } else {
            // A cancellation did not complete: leak the ring and the buffers deliberately,
            // rather than wait forever or free memory the kernel may still write.
            for (_, flight) in self.in_flight.drain() {
                std::mem::forget(flight);
            }
        }
    }
}
