//! File operations through io_uring, when the kernel allows it (a container may forbid it:
//! making a ring fails and file operations run on the helper pool instead). Each ring is
//! probed once when it is made, and an operation the kernel's io_uring lacks
//! ([`Ring::supports`]) runs on the helper pool too. The ring's descriptor is registered with
//! the driver's poll, so a completion ends the idle wait like a ready socket; each submission
//! owns what the kernel reads or writes (buffers, paths, a statx buffer) and keeps its file
//! open until its completion is reaped; a descriptor an open gave that nobody took is closed
//! when the ring is dropped.
//!
//! The trace does not say which path ran: both give the same steps and results.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::AsRawFd;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use io_uring::{IoUring, Probe, opcode, types};

use super::position::{fix_position, position};

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
    /// Open `path` (relative to the working directory) with `flags` and `mode`, as openat(2):
    /// the result is the new descriptor, which the taker of the completion owns.
    Open {
        path: CString,
        flags: i32,
        mode: u32,
    },
    /// The status (statx(2)) of `file`, or of the path `path` (following symbolic links)
    /// when there is no file: the completion's bytes are a `libc::statx` ([`statx_of`]).
    Stat {
        file: Option<Arc<std::fs::File>>,
        path: CString,
    },
    /// Rename `from` to `to`, as rename(2).
    Rename { from: CString, to: CString },
    /// Remove the file at `path`, as unlink(2).
    Unlink { path: CString },
    /// Make the directory `path` with `mode`, as mkdir(2).
    MkDir { path: CString, mode: u32 },
    /// Truncate or extend `file` to `len` bytes, as ftruncate(2) (kernel 6.9).
    Truncate { file: Arc<std::fs::File>, len: u64 },
}

impl RingOp {
    /// The io_uring opcode that runs it.
    fn code(&self) -> u8 {
        match self {
            RingOp::Read { .. } => opcode::Read::CODE,
            RingOp::Write { .. } => opcode::Write::CODE,
            RingOp::Sync { .. } => opcode::Fsync::CODE,
            RingOp::Open { .. } => opcode::OpenAt::CODE,
            RingOp::Stat { .. } => opcode::Statx::CODE,
            RingOp::Rename { .. } => opcode::RenameAt::CODE,
            RingOp::Unlink { .. } => opcode::UnlinkAt::CODE,
            RingOp::MkDir { .. } => opcode::MkDirAt::CODE,
            RingOp::Truncate { .. } => opcode::Ftruncate::CODE,
        }
    }
}

/// What a completion gives besides its result.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    /// The buffer's first `result` bytes (a read).
    Bytes,
    /// The whole buffer when the result is 0 (a statx).
    Whole,
    /// A descriptor (the result), closed if nobody takes the completion (an open).
    Descriptor,
    /// Nothing.
    Nothing,
}

/// A submission in flight: what keeps its buffer, its paths and its file alive.
struct InFlight {
    /// The read's buffer, the write's bytes, or the statx buffer.
    buffer: Vec<u8>,
    /// The paths the kernel reads.
    _paths: Vec<CString>,
    /// The file, open until the completion is reaped.
    file: Option<Arc<std::fs::File>>,
    output: Output,
    /// For a read or write at the file's position: the position it started at and the bytes
    /// asked, to put the position right after a short transfer (`position.rs`).
    at_position: Option<(i64, usize)>,
}

/// A completion reaped and not yet taken.
struct Completion {
    /// The count, descriptor or 0, or `-errno`.
    result: i32,
    /// What the operation gave (see [`Output`]).
    bytes: Vec<u8>,
    /// Whether the result is a descriptor that is closed unless taken.
    descriptor: bool,
}

/// The `statx` a ring's [`RingOp::Stat`] gave, from its completion's bytes.
pub(crate) fn statx_of(bytes: &[u8]) -> Option<libc::statx> {
    (bytes.len() == size_of::<libc::statx>()).then(|| {
        // SAFETY: `bytes` holds exactly one `libc::statx` (plain integers, valid for any
        // bit pattern) as the kernel wrote it; the read does not assume alignment.
        unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<libc::statx>()) }
    })
}

/// One execution's ring.
pub(crate) struct Ring {
    /// Dropped by hand, once nothing in flight can be written any more (else leaked).
    ring: ManuallyDrop<IoUring>,
    next_token: u64,
    in_flight: HashMap<u64, InFlight>,
    /// Completions reaped and not yet taken.
    completed: HashMap<u64, Completion>,
    /// What the kernel's io_uring does, asked once when the ring was made (`None`: the
    /// kernel could not say).
    probe: Option<Box<Probe>>,
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
    /// A ring, probed for what its kernel supports.
    pub(crate) fn new() -> io::Result<Ring> {
        let ring = IoUring::new(RING_ENTRIES)?;
        let mut probe = Box::new(Probe::new());
        let probe = match ring.submitter().register_probe(&mut probe) {
            Ok(()) => Some(probe),
            Err(_) => None, // Before 5.6: only what every ring has (fsync).
        };
        Ok(Ring {
            ring: ManuallyDrop::new(ring),
            next_token: 0,
            in_flight: HashMap::new(),
            completed: HashMap::new(),
            probe,
            reaped: Vec::new(),
        })
    }

    /// Whether this ring can run `op`: its opcode is one the probe found (fsync, older than
    /// the probe, is always there). What it cannot run goes to the helper pool.
    pub(crate) fn supports(&self, op: &RingOp) -> bool {
        let code = op.code();
        code == opcode::Fsync::CODE
            || self
                .probe
                .as_ref()
                .is_some_and(|probe| probe.is_supported(code))
    }

    /// The ring's descriptor, for the driver's poll.
    pub(crate) fn fd(&self) -> std::os::fd::RawFd {
        self.ring.as_raw_fd()
    }

    /// Submits `op`; returns its token.
    pub(crate) fn submit(&mut self, op: RingOp) -> io::Result<u64> {
        let token = self.next_token;
        self.next_token += 1;
        let mut flight = InFlight {
            buffer: Vec::new(),
            _paths: Vec::new(),
            file: None,
            output: Output::Nothing,
            at_position: None,
        };
        // Each entry points into `flight`'s heap allocations (the buffer, the paths' bytes),
        // which do not move when `flight` does.
        let entry = match op {
            RingOp::Read { file, len, offset } => {
                flight.buffer = vec![0; len];
                flight.output = Output::Bytes;
                if offset.is_none() {
                    flight.at_position = position(&file).map(|start| (start, len));
                }
                let entry = opcode::Read::new(
                    types::Fd(file.as_raw_fd()),
                    flight.buffer.as_mut_ptr(),
                    u32::try_from(len).unwrap_or(u32::MAX),
                )
                .offset(offset.unwrap_or(u64::MAX))
                .build();
                flight.file = Some(file);
                entry
            }
            RingOp::Write {
                file,
                bytes,
                offset,
            } => {
                flight.buffer = bytes;
                if offset.is_none() {
                    flight.at_position = position(&file).map(|start| (start, flight.buffer.len()));
                }
                let entry = opcode::Write::new(
                    types::Fd(file.as_raw_fd()),
                    flight.buffer.as_ptr(),
                    u32::try_from(flight.buffer.len()).unwrap_or(u32::MAX),
                )
                .offset(offset.unwrap_or(u64::MAX))
                .build();
                flight.file = Some(file);
                entry
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
                flight.file = Some(file);
                entry
            }
            RingOp::Truncate { file, len } => {
                let entry = opcode::Ftruncate::new(types::Fd(file.as_raw_fd()), len).build();
                flight.file = Some(file);
                entry
            }
            RingOp::Open { path, flags, mode } => {
                flight.output = Output::Descriptor;
                let entry = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
                    .flags(flags)
                    .mode(mode)
                    .build();
                flight._paths.push(path);
                entry
            }
            RingOp::Stat { file, path } => {
                flight.buffer = vec![0; size_of::<libc::statx>()];
                flight.output = Output::Whole;
                let (dirfd, flags) = match &file {
                    Some(file) => (file.as_raw_fd(), libc::AT_EMPTY_PATH),
                    None => (libc::AT_FDCWD, 0),
                };
                let entry = opcode::Statx::new(
                    types::Fd(dirfd),
                    path.as_ptr(),
                    flight.buffer.as_mut_ptr().cast::<types::statx>(),
                )
                .flags(flags)
                .mask(libc::STATX_BASIC_STATS)
                .build();
                flight._paths.push(path);
                flight.file = file;
                entry
            }
            RingOp::Rename { from, to } => {
                let entry = opcode::RenameAt::new(
                    types::Fd(libc::AT_FDCWD),
                    from.as_ptr(),
                    types::Fd(libc::AT_FDCWD),
                    to.as_ptr(),
                )
                .build();
                flight._paths.extend([from, to]);
                entry
            }
            RingOp::Unlink { path } => {
                let entry = opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr()).build();
                flight._paths.push(path);
                entry
            }
            RingOp::MkDir { path, mode } => {
                let entry = opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
                    .mode(mode)
                    .build();
                flight._paths.push(path);
                entry
            }
        };
        let entry = entry.user_data(token);
        if self.ring.submission().is_full() {
            let submitted = self.ring.submit();
            self.collect();
            submitted?;
        }
        // SAFETY: the entry points into `flight`'s buffer and paths, whose heap allocations
        // stay where they are (the Vec and the CStrings are moved into the map, not their
        // bytes) and are freed only when the completion is reaped (or, at drop, after it
        // is, or never); the file it names stays open through `flight.file` just as long.
        let pushed = unsafe { self.ring.submission().push(&entry) };
        if pushed.is_err() {
            return Err(io::Error::other("the io_uring submission queue is full"));
        }
        self.in_flight.insert(token, flight);
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
                if let (Some((start, asked)), Some(file)) = (flight.at_position, &flight.file) {
                    fix_position(file, start, asked, result);
                }
                match flight.output {
                    Output::Bytes => flight.buffer.truncate(usize::try_from(result).unwrap_or(0)),
                    Output::Whole if result == 0 => {}
                    Output::Whole | Output::Descriptor | Output::Nothing => flight.buffer.clear(),
                }
                let completion = Completion {
                    result,
                    bytes: flight.buffer,
                    descriptor: flight.output == Output::Descriptor,
                };
                self.completed.insert(token, completion);
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

    /// The completion of `token`, once reaped: the result (a count, a descriptor the caller
    /// now owns, or `-errno`) and what the operation gave (a read's bytes, a statx).
    pub(crate) fn take(&mut self, token: u64) -> Option<(i32, Vec<u8>)> {
        self.completed
            .remove(&token)
            .map(|completion| (completion.result, completion.bytes))
    }

    /// Closes the descriptors of the opens whose completions nobody took (their waiting
    /// threads were abandoned when the execution ended).
    fn close_untaken(&mut self) {
        for (_, completion) in self.completed.drain() {
            if completion.descriptor && completion.result >= 0 {
                // SAFETY: the descriptor was opened by this ring's open and handed to
                // nobody: this is its only owner.
                unsafe { libc::close(completion.result) };
            }
        }
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
        let cancelled = self.in_flight.is_empty() || self.cancel_all();
        self.close_untaken();
        if cancelled {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> CString {
        CString::new(text).unwrap()
    }

    #[test]
    fn without_a_probe_only_fsync_runs_on_the_ring() {
        let Ok(mut ring) = Ring::new() else {
            return; // No io_uring here: nothing to ask.
        };
        let file = Arc::new(std::fs::File::open("/dev/null").unwrap());
        let sync = RingOp::Sync {
            file: Arc::clone(&file),
            data_only: false,
        };
        let open = RingOp::Open {
            path: path("/dev/null"),
            flags: libc::O_RDONLY,
            mode: 0,
        };
        let read = RingOp::Read {
            file,
            len: 1,
            offset: None,
        };
        assert!(ring.supports(&sync));
        ring.probe = None;
        assert!(ring.supports(&sync));
        assert!(!ring.supports(&open));
        assert!(!ring.supports(&read));
        ring.probe = Some(Box::new(Probe::new())); // Empty: the kernel said nothing.
        assert!(ring.supports(&sync));
        assert!(!ring.supports(&open));
    }

    /// How many of this process's descriptors are open on `path`.
    fn descriptors_open_on(path: &std::path::Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .filter(|target| target == path)
            .count()
    }

    #[test]
    fn an_open_nobody_takes_is_closed_with_the_ring() {
        let Ok(mut ring) = Ring::new() else {
            return;
        };
        let file = std::env::temp_dir().join(format!("reel-ring-open-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let open = RingOp::Open {
            path: CString::new(file.to_str().unwrap()).unwrap(),
            flags: libc::O_RDONLY | libc::O_CLOEXEC,
            mode: 0,
        };
        if !ring.supports(&open) {
            let _ = std::fs::remove_file(&file);
            return; // An older kernel: opens go to the helper pool.
        }
        let token = ring.submit(open).unwrap();
        let mut polls = 0;
        while !ring.reap().contains(&token) {
            polls += 1;
            assert!(polls < 10_000, "the open did not complete");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(ring.completed[&token].result >= 0, "the open failed");
        assert_eq!(descriptors_open_on(&file), 1);
        drop(ring);
        assert_eq!(
            descriptors_open_on(&file),
            0,
            "the descriptor is still open"
        );
        std::fs::remove_file(&file).unwrap();
    }
}
