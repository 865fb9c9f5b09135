//! Work that would block the runtime's kernel thread, run on a helper thread instead:
//! [`spawn_blocking`]. The calling green thread waits (the others run) and gets the result.
//!
//! A helper job is an I/O operation of the runtime (`runtime/execution/io/`): its
//! submission and its completion are steps whose results the trace records, so a replay
//! ends the wait where the recording did. The job's value itself cannot be recorded (it is
//! any type), so in a replay the closure runs again where the recording's job had
//! finished (at the step that takes its completion, so what it waited for has happened), on
//! a kernel thread of its own that the replay waits for (with a kernel thread's stack).

use std::panic::{AssertUnwindSafe, Location, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex, PoisonError};

use crate::runtime::execution::{self, ObjectKind};
use crate::runtime::io::{IoAsk, IoValue, interest};
use crate::runtime::vocabulary::IoOp;

/// Runs `f` on one of the runtime's helper threads (a bounded pool, `Runtime::helper_threads`)
/// and returns its value; the calling green thread waits meanwhile, and the others run. A
/// panic in `f` is resumed here.
///
/// ```
/// let sum = reel::run(|| reel::task::spawn_blocking(|| (1..=10).sum::<u32>()));
/// assert_eq!(sum, 55);
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot: Arc<Mutex<Option<std::thread::Result<R>>>> = Arc::new(Mutex::new(None));
    let job_slot = Arc::clone(&slot);
    let mut job = Some(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        *job_slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    });
    let value = run_job(IoOp::Helper, Location::caller(), &mut job, true, || {
        IoValue::Done
    });
    if let Some(error) = value.as_error() {
        panic!("reel: spawn_blocking could not run its job: {error}");
    }
    let result = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    match result {
        Some(Ok(value)) => value,
        Some(Err(payload)) => resume_unwind(payload),
        None => unreachable!("a finished job has left its result"),
    }
}

/// Runs `job` as a helper job recorded as steps of `op`: submitted (a step), waited for,
/// finished (a step, whose value `finish` gives once the job ran). In a replay, whose values
/// come from the trace, the job runs at the finishing step when `run_in_replay` (its effect
/// is not in the trace), on a kernel thread the replay waits for, else never. Returns the
/// finishing step's value (an error when the job could not be submitted).
pub(crate) fn run_job<J>(
    op: IoOp,
    location: &'static Location<'static>,
    job: &mut Option<J>,
    run_in_replay: bool,
    mut finish: impl FnMut() -> IoValue,
) -> IoValue
where
    J: FnOnce() + Send + 'static,
{
    let (object, generation) = execution::io_object(ObjectKind::Task);
    let mut value = execution::io_step(op, object, generation, IoAsk::NONE, location, |io| {
        let job = job.take().expect("a job is submitted once");
        match io.driver().and_then(|driver| driver.submit(object, job)) {
            Ok(()) => IoValue::WouldBlock,
            Err(error) => IoValue::error(&error),
        }
    });
    // Still here after a submission that would wait: a replay, which submitted nothing.
    let replayed = job
        .take()
        .filter(|_| value == IoValue::WouldBlock && run_in_replay);
    while value == IoValue::WouldBlock {
        execution::io_wait(object, interest::DONE, None, location);
        value = execution::io_step(op, object, generation, IoAsk::NONE, location, |io| {
            if io.job_done(object) {
                finish()
            } else {
                IoValue::WouldBlock
            }
        });
    }
    if let Some(job) = replayed
        && value.as_error().is_none()
    {
        run_replayed(job);
    }
    value
}

/// Runs a replayed job where the recording's had finished, on a kernel thread of its own
/// (a job may need more stack than a green thread has: its body must never be inlined into
/// the green thread's frame), and waits for it.
fn run_replayed(job: impl FnOnce() + Send + 'static) {
    let thread = std::thread::Builder::new()
        .name("reel-replayed-job".to_owned())
        .spawn(job)
        .unwrap_or_else(|error| panic!("reel: cannot start a thread to replay a job: {error}"));
    // The job catches its own panics (`spawn_blocking`): a join error has nothing left.
    drop(thread.join());
}

/// How a ring's completion (the result, a count, a descriptor or `-errno`, and what the
/// operation gave) becomes a value; called once, on the runtime's kernel thread, when the
/// completion is taken (an open takes ownership of its descriptor here).
pub(crate) type RingValue = Box<dyn FnOnce(i32, Vec<u8>) -> IoValue>;

/// Runs a file operation as one operation `op` on `object` (of execution `generation`),
/// asking `ask`: a step that submits it (to the io_uring as `ring`'s operation, where there
/// is one and `ring` is given, else `job` to a helper thread), a wait, a step whose result
/// is its value (for a ring's completion, what `ring`'s [`RingValue`] makes of it). A replay
/// runs nothing: both results come from the trace, whichever path the recording took. Returns the value (an error when it could not be submitted).
pub(crate) fn run_on_helper(
    op: IoOp,
    object: crate::runtime::vocabulary::ObjectId,
    generation: u64,
    ask: IoAsk<'_>,
    location: &'static Location<'static>,
    ring: Option<(crate::runtime::io::uring::RingOp, RingValue)>,
    job: impl FnOnce() -> IoValue + Send + 'static,
) -> IoValue {
    let slot: Arc<Mutex<Option<IoValue>>> = Arc::new(Mutex::new(None));
    let job_slot = Arc::clone(&slot);
    let mut job = Some(move || {
        let value = match job() {
            // A job's own "would block" is an error, not a reason to wait again.
            IoValue::WouldBlock => IoValue::Error(libc::EAGAIN, String::new()),
            value => value,
        };
        *job_slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
    });
    let (mut ring, mut ring_value) = match ring {
        Some((op, value)) => (Some(op), Some(value)),
        None => (None, None),
    };
    let mut ring_token = None;
    let mut value = execution::io_step(op, object, generation, ask, location, |io| {
        let driver = match io.driver() {
            Ok(driver) => driver,
            Err(error) => return IoValue::error(&error),
        };
        if let Some(ring_op) = ring.take() {
            match driver.submit_to_ring(object, ring_op) {
                Some(Ok(token)) => {
                    ring_token = Some(token);
                    return IoValue::WouldBlock;
                }
                Some(Err(error)) => return IoValue::error(&error),
                None => {} // No io_uring here: a helper thread does it.
            }
        }
        let job = job.take().expect("a job is submitted once");
        match driver.submit(object, job) {
            Ok(()) => IoValue::WouldBlock,
            Err(error) => IoValue::error(&error),
        }
    });
    while value == IoValue::WouldBlock {
        // Waits for this operation's own completion: the object's readiness bit is shared
        // by every operation on it (several threads may use one file).
        execution::IoState::wait_own(object, location, |io| match ring_token {
            Some(token) => io.driver().is_ok_and(|driver| driver.ring_done(token)),
            None => slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some(),
        });
        value = execution::io_step(op, object, generation, ask, location, |io| {
            let finished = match ring_token {
                Some(token) => io
                    .driver()
                    .ok()
                    .and_then(|driver| driver.ring_completion(token))
                    .map(|(result, bytes)| {
                        let value = ring_value.take().expect("a completion is taken once");
                        value(result, bytes)
                    }),
                None => slot.lock().unwrap_or_else(PoisonError::into_inner).take(),
            };
            finished.unwrap_or(IoValue::WouldBlock) // Another operation of the object finished.
        });
    }
    value
}
