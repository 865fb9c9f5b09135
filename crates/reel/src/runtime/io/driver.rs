//! The I/O driver of an execution: one `mio::Poll` (epoll) that every socket of the
//! execution is registered with (edge-triggered, for reading and writing), a waker through
//! which helper jobs say they finished, and, while the program subscribes to OS signals, the
//! signals' self-pipe. So the runtime's idle wait is one wait, which ends at the earliest
//! of: a descriptor ready, a helper's completion, a signal, the next timer (its timeout).
//!
//! The driver only reports readiness; the execution decides whom it wakes, and when
//! (`execution/io/`). A replay has no driver: the ends of I/O waits come from the trace.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::interest;
use super::pool::HelperPool;
use super::uring::{self, Ring, RingOp};
use crate::runtime::vocabulary::ObjectId;

/// The waker's token: a helper job finished.
const WAKER: Token = Token(usize::MAX);
/// The signals' self-pipe's token.
const SIGNAL_PIPE: Token = Token(usize::MAX - 1);
/// The io_uring's token.
const RING: Token = Token(usize::MAX - 2);
/// Events taken from the kernel in one wait.
const EVENTS_PER_WAIT: usize = 256;
/// The longest wait while a ring's submission could not be sent yet.
const RETRY: Duration = Duration::from_millis(1);

/// One execution's I/O driver.
pub(crate) struct IoDriver {
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    /// Objects (by index) of the helper jobs that finished since the last wait.
    finished: Arc<Mutex<Vec<usize>>>,
    pool: HelperPool,
    /// The self-pipe registered with the poll, once it is.
    signal_pipe: Option<RawFd>,
    /// The io_uring for files, made at the first file operation that can use it.
    ring: Option<Ring>,
    /// The object (index) of each submission in flight on the ring, by token.
    ring_objects: HashMap<u64, usize>,
}

impl IoDriver {
    /// A driver whose helper pool starts at most `helper_threads` threads.
    pub(crate) fn new(helper_threads: usize) -> io::Result<IoDriver> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(IoDriver {
            poll,
            events: Events::with_capacity(EVENTS_PER_WAIT),
            waker,
            finished: Arc::new(Mutex::new(Vec::new())),
            pool: HelperPool::new(helper_threads),
            signal_pipe: None,
            ring: None,
            ring_objects: HashMap::new(),
        })
    }

    /// Registers a socket of `object` for readiness in both directions.
    pub(crate) fn register(&self, source: &mut impl Source, object: ObjectId) -> io::Result<()> {
        self.poll.registry().register(
            source,
            Token(object.index()),
            // Priority: urgent data, after which a short read does not show a drained
            // socket (see `interest::PRIORITY`).
            Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
        )
    }

    /// Runs `job` on a helper thread; `object` is ready ([`interest::DONE`]) once it ran
    /// (or panicked: catching that is the job's own business).
    pub(crate) fn submit(
        &mut self,
        object: ObjectId,
        job: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        let finished = Arc::clone(&self.finished);
        let waker = Arc::clone(&self.waker);
        let index = object.index();
        self.pool.submit(Box::new(move || {
            let _ = catch_unwind(AssertUnwindSafe(job));
            finished
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(index);
            // A waker that fails has a poll that is gone: nobody waits any more.
            let _ = waker.wake();
        }))
    }

    /// Submits a file operation of `object` to the io_uring, when io_uring may be used here
    /// and its kernel supports `op`; `None` when not (the caller runs it on a helper thread),
    /// else the submission's token or the error of submitting it.
    pub(crate) fn submit_to_ring(
        &mut self,
        object: ObjectId,
        op: RingOp,
    ) -> Option<io::Result<u64>> {
        if self.ring.is_none() {
            if !uring::available() {
                return None;
            }
            let ring = Ring::new().ok()?;
            let fd = ring.fd();
            self.poll
                .registry()
                .register(&mut SourceFd(&fd), RING, Interest::READABLE)
                .ok()?;
            self.ring = Some(ring);
        }
        let ring = self.ring.as_mut().expect("made above");
        if !ring.supports(&op) {
            return None;
        }
        let submitted = ring.submit(op);
        if let Ok(token) = submitted {
            self.ring_objects.insert(token, object.index());
        }
        Some(submitted)
    }

    /// The completion of the ring's submission `token`, once it came: the result (a count, a
    /// descriptor the caller now owns, or `-errno`) and what it gave (a read's bytes, a
    /// statx).
    pub(crate) fn ring_completion(&mut self, token: u64) -> Option<(i32, Vec<u8>)> {
        self.ring.as_mut()?.take(token)
    }

    /// Whether the completion of the ring's submission `token` came (and is not yet taken).
    pub(crate) fn ring_done(&self, token: u64) -> bool {
        self.ring.as_ref().is_some_and(|ring| ring.is_done(token))
    }

    /// Waits until something is ready, a job finishes, a signal is noted on `signal_pipe`
    /// (the self-pipe's read end, while the program subscribes to signals), or `timeout`
    /// passes (`None`: no limit; zero: only looks). Appends (object index, readiness bits) to
    /// `ready`; returns whether the self-pipe woke it.
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        signal_pipe: Option<RawFd>,
        ready: &mut Vec<(usize, u8)>,
    ) -> bool {
        if let Some(fd) = signal_pipe
            && self.signal_pipe != Some(fd)
            && self
                .poll
                .registry()
                .register(&mut SourceFd(&fd), SIGNAL_PIPE, Interest::READABLE)
                .is_ok()
        {
            self.signal_pipe = Some(fd);
        }
        let mut timeout = timeout;
        if let Some(ring) = &mut self.ring {
            if ring.has_reaped() {
                timeout = Some(Duration::ZERO); // Completions to report already.
            } else if !ring.flush() {
                // A submission still queued: try again soon rather than wait for a
                // completion that cannot come before it is sent.
                timeout = Some(timeout.map_or(RETRY, |timeout| timeout.min(RETRY)));
            }
        }
        let mut signalled = false;
        if let Err(error) = self.poll.poll(&mut self.events, timeout)
            && error.kind() != io::ErrorKind::Interrupted
        {
            panic!("reel: the I/O driver's wait failed: {error}");
        }
        for event in self.events.iter() {
            match event.token() {
                WAKER | RING => {}
                SIGNAL_PIPE => signalled = true,
                Token(index) => {
                    let mut bits = 0;
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        bits |= interest::READ;
                    }
                    if event.is_writable() || event.is_write_closed() || event.is_error() {
                        bits |= interest::WRITE;
                    }
                    if event.is_read_closed() || event.is_error() {
                        bits |= interest::CLOSED;
                    }
                    if event.is_priority() {
                        bits |= interest::READ | interest::PRIORITY;
                    }
                    ready.push((index, bits));
                }
            }
        }
        let finished = std::mem::take(
            &mut *self
                .finished
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        ready.extend(finished.into_iter().map(|index| (index, interest::DONE)));
        if let Some(ring) = &mut self.ring {
            for token in ring.reap() {
                if let Some(index) = self.ring_objects.remove(&token) {
                    ready.push((index, interest::DONE));
                }
            }
        }
        signalled
    }
}
