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
use std::os::fd::AsRawFd;
use std::sync::{Arc, OnceLock};

use io_uring::{IoUring, opcode, types};

/// Submissions the ring holds at once.
const RING_ENTRIES: u32 = 64;

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
    ring: IoUring,
    next_token: u64,
    in_flight: HashMap<u64, InFlight>,
    /// Completions reaped and not yet taken: (result, the read's bytes).
    completed: HashMap<u64, (i32, Vec<u8>)>,
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
            ring: IoUring::new(RING_ENTRIES)?,
            next_token: 0,
            in_flight: HashMap::new(),
            completed: HashMap::new(),
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
            self.ring.submit()?;
            self.reap();
        }
        // SAFETY: the entry points into `in_flight.buffer`, whose heap allocation stays
        // where it is (the Vec is moved into the map, not its buffer) and is freed only
        // when the completion is reaped (or, at drop, after it is); the file it names stays
        // open through `in_flight._file` just as long.
        let pushed = unsafe { self.ring.submission().push(&entry) };
        if pushed.is_err() {
            return Err(io::Error::other("the io_uring submission queue is full"));
        }
        self.in_flight.insert(token, in_flight);
        self.ring.submit()?;
        Ok(token)
    }

    /// Moves the completions the kernel posted into `completed`; returns their tokens.
    pub(crate) fn reap(&mut self) -> Vec<u64> {
        let completions: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|entry| (entry.user_data(), entry.result()))
            .collect();
        let mut tokens = Vec::with_capacity(completions.len());
        for (token, result) in completions {
            if let Some(mut flight) = self.in_flight.remove(&token) {
                let read = usize::try_from(result).unwrap_or(0);
                flight.buffer.truncate(read);
                self.completed.insert(token, (result, flight.buffer));
                tokens.push(token);
            }
        }
        tokens
    }

    /// The completion of `token`, once reaped: the result (bytes, or `-errno`) and a read's
    /// bytes.
    pub(crate) fn take(&mut self, token: u64) -> Option<(i32, Vec<u8>)> {
        self.completed.remove(&token)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // The kernel may still write into the buffers of what is in flight: wait for it.
        while !self.in_flight.is_empty() {
            if self.ring.submit_and_wait(1).is_err() {
                // Nothing more can be learnt of them: leak the buffers rather than free
                // memory the kernel may write.
                for (_, flight) in self.in_flight.drain() {
                    std::mem::forget(flight);
                }
                return;
            }
            self.reap();
        }
    }
}
