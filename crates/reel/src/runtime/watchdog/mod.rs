//! The watchdog: a kernel thread beside each runtime's kernel thread that ticks the time
//! slices of plain runs and notices when no step has happened for a threshold (a green
//! thread holds the kernel thread in a blocking system call or a computation that never
//! reaches a scheduling point).
//!
//! ```text
//!   runtime's kernel thread                        watchdog thread (one per runtime thread)
//!   ----------------------                         -----------------------------------------
//!   every step: flags.load() != 0 ? --------+      every tick: flags.fetch_or(TICK)
//!      swap(0): TICK = a tick passed        |        TICK was still set: no step for a
//!               (time slice accounting)     |        whole tick -> accrue the time the
//!               STALL = a sample waits  <---+----    thread was held (wall time while asleep
//!      report the stall (stderr, trace)              in a system call, CPU time while it
//!                                                    computes: never the time the process
//!                                                    was descheduled); past the threshold:
//!                                                    sample it (system call, backtrace)
//! ```
//! The step's cost is one relaxed load of `flags`. The watchdog reads real time, which
//! reaches the program only as a preemption (an input the trace records) or a report.

mod sample;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub(crate) use sample::{StallSample, sample_signal, symbolize};

/// Set by the watchdog at each tick, cleared by the runtime at its next step.
pub(crate) const TICK: u32 = 1;
/// Set by the watchdog when a stall was sampled; the runtime reports it at its next step.
pub(crate) const STALL: u32 = 2;

/// Default stall threshold.
pub const DEFAULT_STALL_MS: u64 = 100;

/// Default time slice of a plain run's threads.
pub const DEFAULT_TIME_SLICE_MS: u64 = 10;

/// How many ticks make a time slice: a thread runs for one to one and a half slices.
pub(crate) const TICKS_PER_SLICE: u32 = 3;

/// What the runtime thread and its watchdog share.
pub(crate) struct Shared {
    /// `TICK | STALL` bits.
    pub(crate) flags: AtomicU32,
    /// Whether a green thread of an execution is running (not idle, not between executions,
    /// not paused for a debugger): only then is a missing step a stall.
    active: AtomicBool,
    /// Tick period in nanoseconds; 0 when the watchdog has nothing to do.
    tick_nanos: AtomicU64,
    /// The green thread the runtime resumed last (by index): whom a stall is blamed on.
    pub(crate) running: AtomicU32,
    /// Stall threshold in nanoseconds; 0 disables stall detection.
    threshold_nanos: AtomicU64,
    /// The stall sampled, until the runtime takes it.
    sample: Mutex<Option<StallSample>>,
    /// Wakes the watchdog at once (new settings, shutdown).
    control: Mutex<bool>,
    wake: Condvar,
    /// The runtime thread's kernel id and pthread, to look at and signal it.
    tid: libc::pid_t,
    pthread: libc::pthread_t,
    /// Where the sampling handler writes the runtime thread's backtrace.
    backtrace: sample::BacktraceBuffer,
}

impl Shared {
    /// Whether a tick or a stall waits for the runtime. The step's one load.
    #[inline(always)]
    pub(crate) fn flagged(&self) -> bool {
        self.flags.load(Ordering::Relaxed) != 0
    }

    /// Takes the flags, clearing them.
    pub(crate) fn take_flags(&self) -> u32 {
        self.flags.swap(0, Ordering::Relaxed)
    }

    /// Marks whether a green thread runs (see `active`).
    pub(crate) fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::Relaxed);
        // A step-less stretch that spans an idle wait is not a stall: start afresh.
        self.flags.fetch_and(!TICK, Ordering::Relaxed);
    }

    /// Whether a green thread runs.
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Takes the sampled stall, if any.
    pub(crate) fn take_sample(&self) -> Option<StallSample> {
        self.sample
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take()
    }
}

/// The watchdog of this kernel thread, started on first use and stopped when the kernel
/// thread exits.
struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The process that started it: a `fork()`ed copy (a debugger's checkpoint) has the
    /// runtime thread but not its watchdog, and must not wait for it.
    process: libc::pid_t,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        sample::detach();
        *self
            .shared
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // SAFETY: getpid has no preconditions.
            if unsafe { libc::getpid() } == self.process {
                let _ = thread.join();
            }
        }
    }
}

/// A duration in milliseconds from environment variable `name`: `None` when unset or empty
/// (the program's setting holds), `Some(None)` for `0` or `off`. Anything else is a clear
/// panic: a misspelt setting must not be silently ignored.
pub(crate) fn env_millis(name: &str) -> Option<Option<Duration>> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text == "off" {
        return Some(None);
    }
    match text.parse::<u64>() {
        Ok(0) => Some(None),
        Ok(millis) => Some(Some(Duration::from_millis(millis))),
        Err(_) => panic!(
            "reel: {name}={text:?} is neither a number of milliseconds nor `off` (or 0) to \
             turn it off"
        ),
    }
}

thread_local! {
    static WATCHDOG: RefCell<Option<Watchdog>> = const { RefCell::new(None) };
}

/// Runs `wait` with this kernel thread's watchdog told that no green thread runs: the
/// kernel thread waits for something outside its execution (another execution's data), which
/// is not a stall of the program.
pub(crate) fn unwatched<R>(wait: impl FnOnce() -> R) -> R {
    let shared = WATCHDOG.with(|cell| {
        let watchdog = cell.try_borrow().ok()?;
        let shared = Arc::clone(&watchdog.as_ref()?.shared);
        shared.is_active().then_some(shared)
    });
    if let Some(shared) = &shared {
        shared.set_active(false);
    }
    let result = wait();
    if let Some(shared) = &shared {
        shared.set_active(true);
    }
    result
}

/// The settings of one execution's watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WatchSettings {
    /// A plain run's time slice (`None`: no slicing).
    pub(crate) time_slice: Option<Duration>,
    /// The stall threshold (`None`: no stall detection).
    pub(crate) stall: Option<Duration>,
    /// A replay of a run with time slices: the decider delivers its recorded preemptions,
    /// so a spinning thread is not stuck, as it was not in the recording.
    pub(crate) replays_slices: bool,
}

impl WatchSettings {
    /// The tick period these settings need, if any.
    pub(crate) fn tick(&self) -> Option<Duration> {
        let slice_tick = self.time_slice.map(|slice| slice / (TICKS_PER_SLICE - 1));
        let stall_tick = self.stall.map(|stall| stall / 4);
        let tick = match (slice_tick, stall_tick) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(tick.max(Duration::from_micros(500)))
    }
}

/// The shared state of this kernel thread's watchdog, started if these settings need it,
/// with the settings applied. `None` when nothing is watched.
pub(crate) fn for_this_thread(settings: WatchSettings) -> Option<Arc<Shared>> {
    let tick = settings.tick()?;
    WATCHDOG.with(|cell| {
        let mut watchdog = cell.borrow_mut();
        if watchdog.is_none() {
            *watchdog = start();
        }
        let shared = Arc::clone(&watchdog.as_ref()?.shared);
        let tick_nanos = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX);
        let threshold = settings.stall.map_or(0, |stall| {
            u64::try_from(stall.as_nanos()).unwrap_or(u64::MAX)
        });
        shared.threshold_nanos.store(threshold, Ordering::Relaxed);
        if shared.tick_nanos.swap(tick_nanos, Ordering::Relaxed) != tick_nanos {
            shared.wake.notify_all();
        }
        shared.flags.store(0, Ordering::Relaxed);
        shared.take_sample();
        Some(shared)
    })
}

/// Starts the watchdog thread; `None` if the system refuses a thread (then nothing is
/// watched: slicing and stall reports are best effort, never a reason to fail a run).
fn start() -> Option<Watchdog> {
    sample::install_handler();
    let shared = Arc::new(Shared {
        flags: AtomicU32::new(0),
        active: AtomicBool::new(false),
        running: AtomicU32::new(0),
        tick_nanos: AtomicU64::new(0),
        threshold_nanos: AtomicU64::new(0),
        sample: Mutex::new(None),
        control: Mutex::new(false),
        wake: Condvar::new(),
        // SAFETY: gettid and pthread_self have no preconditions.
        tid: unsafe { libc::gettid() },
        // SAFETY: as above.
        pthread: unsafe { libc::pthread_self() },
        backtrace: sample::BacktraceBuffer::new(),
    });
    let watched = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("reel-watchdog".to_owned())
        .stack_size(64 * 1024)
        .spawn(move || watch(&watched))
        .ok()?;
    sample::attach(&shared);
    Some(Watchdog {
        shared,
        thread: Some(thread),
        // SAFETY: getpid has no preconditions.
        process: unsafe { libc::getpid() },
    })
}

/// What the watchdog knows of the stretch without a step it is watching.
#[derive(Default)]
struct Stretch {
    /// Time the runtime thread was held so far (see the module's drawing).
    held: Duration,
    /// Whether the stall was sampled.
    sampled: bool,
}

/// The watchdog's loop: tick, look, sample.
fn watch(shared: &Shared) {
    let mut stretch: Option<Stretch> = None;
    let mut last_wall = Instant::now();
    let mut last_cpu = sample::thread_cpu_time(shared.pthread);
    loop {
        let tick = Duration::from_nanos(shared.tick_nanos.load(Ordering::Relaxed).max(1));
        {
            let stop = shared.control.lock().unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
            let (stop, _) = shared
                .wake
                .wait_timeout(stop, tick)
                .unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
        }
        let wall = Instant::now();
        let cpu = sample::thread_cpu_time(shared.pthread);
        let (wall_delta, cpu_delta) = (wall - last_wall, cpu.saturating_sub(last_cpu));
        (last_wall, last_cpu) = (wall, cpu);
        if shared.tick_nanos.load(Ordering::Relaxed) == 0 || !shared.is_active() {
            stretch = None;
            continue;
        }
        let previous = shared.flags.fetch_or(TICK, Ordering::Relaxed);
        let threshold = shared.threshold_nanos.load(Ordering::Relaxed);
        if previous & TICK == 0 || threshold == 0 {
            stretch = None; // A step happened since the last tick.
            continue;
        }
        // No step for a whole tick: the thread was held that long, by the measure that
        // does not count time it could not run.
        let asleep = sample::in_system_call(shared.tid);
        let stretch = stretch.get_or_insert_with(Stretch::default);
        stretch.held += if asleep { wall_delta } else { cpu_delta };
        if stretch.held.as_nanos() >= u128::from(threshold) {
            let mut slot = shared.sample.lock().unwrap_or_else(|p| p.into_inner());
            if !stretch.sampled {
                stretch.sampled = true;
                *slot = Some(StallSample::take(shared, stretch.held));
                shared.flags.fetch_or(STALL, Ordering::Relaxed);
            } else if let Some(sample) = slot.as_mut() {
                sample.held = stretch.held;
            }
        }
    }
}
