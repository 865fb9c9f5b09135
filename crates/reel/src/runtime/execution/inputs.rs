//! Inputs the program asks for at a step: clock readings and the random seed. Each is a
//! step (so a replay checks where it happens), then its value: the oracle's in a replay (the
//! trace's), else the execution's own source's (the clock; the configured seed, or the OS),
//! told to the observers like every input. And each green thread's random generator.
//!
//! Random draws are not steps: each green thread draws from a generator of its own, seeded
//! from the execution's seed and the thread's id, so what a thread draws depends on neither
//! the schedule nor the other threads' draws. Only the seed is an input, drawn once, at the
//! execution's first draw.

use std::panic::Location as StdLocation;

use rand_core::SeedableRng;
use rand_pcg::Pcg64;

use super::super::seams::{ClockSource, Input, Request};
use super::super::vocabulary::Op;
use super::step::{Action, carry_out};
use super::{Execution, with};
use crate::scheduler::mix_seed;

type Location = &'static StdLocation<'static>;

/// Reads `source` at a step of the current thread, blaming `location`.
#[inline]
pub(crate) fn read_clock(source: ClockSource, location: Location) -> i64 {
    let (input, action) =
        with(|execution| execution.input_step(Op::ClockRead, Request::Clock(source), location));
    carry_out(action);
    match input {
        Input::ClockRead { nanos, .. } => nanos,
        _ => unreachable!("a clock read's value is a clock reading"),
    }
}

/// Runs `draw` with the current green thread's random generator. The execution's first draw
/// is a step that draws the execution's seed.
#[inline]
pub(crate) fn with_generator<R>(location: Location, draw: impl FnOnce(&mut Pcg64) -> R) -> R {
    let mut draw = Some(draw);
    let mut draw_with = |execution: &mut Execution| {
        let seed = execution.random_seed?;
        let thread = execution.current;
        if execution.generators.len() <= thread {
            execution.generators.resize(thread + 1, None);
        }
        let generator = execution.generators[thread]
            .get_or_insert_with(|| Pcg64::seed_from_u64(mix_seed(seed, thread)));
        let draw = draw.take().expect("a draw is made once");
        Some(draw(generator))
    };
    if let Some(drawn) = with(&mut draw_with) {
        return drawn;
    }
    let (_, action) =
        with(|execution| execution.input_step(Op::RandomSeed, Request::RandomSeed, location));
    carry_out(action);
    with(draw_with).expect("the seed was drawn")
}

impl Execution {
    /// A step of `op` that asks for an input: the step, the input's value told to the
    /// observers, then the rest of the step (the decision). Inside one borrow, so the value
    /// is read at the step, before another thread can run.
    fn input_step(&mut self, op: Op, request: Request, location: Location) -> (Input, Action) {
        self.begin_step(op, None, location);
        let input = if self.halt.is_some() {
            // The execution stops here: the thread never runs on, the value is never seen.
            self.own_input(request)
        } else {
            self.take_input(request)
        };
        (input, self.finish_step(op, None, false, location))
    }

    /// The value of `request` (the oracle's, else the execution's own), told to the
    /// observers; a replay whose trace has no such input here stops.
    fn take_input(&mut self, request: Request) -> Input {
        let input = match self.decider.supply(request, self.step) {
            Ok(Some(input)) if answers(input, request) => input,
            Ok(Some(_)) | Err(()) => {
                let actual = format!(
                    "{} {}",
                    self.short_thread(self.current),
                    describe_request(request)
                );
                self.stop_on(self.decider.mismatch(), actual);
                return self.own_input(request);
            }
            Ok(None) => self.own_input(request),
        };
        if let Input::RandomSeed(seed) = input {
            self.random_seed = Some(seed);
        }
        if !self.observers.is_empty() && !self.quiet {
            for position in 0..self.observers.len() {
                if let Err(mismatch) = self.observers[position].on_input(input) {
                    let actual = format!(
                        "{} {}",
                        self.short_thread(self.current),
                        describe_input(input)
                    );
                    self.stop_on(mismatch, actual);
                    break;
                }
            }
        }
        input
    }

    /// The value of `request` from the execution's own sources.
    fn own_input(&mut self, request: Request) -> Input {
        match request {
            Request::Clock(source) => Input::ClockRead {
                source,
                nanos: self.clock.read(source),
            },
            Request::RandomSeed => {
                Input::RandomSeed(self.config.random_seed.unwrap_or_else(seed_from_os))
            }
        }
    }
}

/// Whether `input` is a value of the kind `request` asks for.
fn answers(input: Input, request: Request) -> bool {
    match (input, request) {
        (Input::ClockRead { source, .. }, Request::Clock(asked)) => source == asked,
        (Input::RandomSeed(_), Request::RandomSeed) => true,
        _ => false,
    }
}

/// What a thread does when it asks for `request`, as a divergence names it.
fn describe_request(request: Request) -> &'static str {
    match request {
        Request::Clock(ClockSource::Monotonic) => "reads the monotonic clock",
        Request::Clock(ClockSource::System) => "reads the system clock",
        Request::RandomSeed => "draws the random seed (its first random number)",
    }
}

/// An input as a divergence names what the program got.
pub(crate) fn describe_input(input: Input) -> String {
    match input {
        Input::Timeout(thread) => format!("the timeout of {thread} fires"),
        Input::ClockRead { source, nanos } => {
            let name = match source {
                ClockSource::Monotonic => "monotonic",
                ClockSource::System => "system",
            };
            format!("reads the {name} clock: {nanos} ns")
        }
        Input::RandomSeed(seed) => format!("draws the random seed {seed:#018x}"),
        Input::IoReady(thread) => format!("the wait of {thread} for I/O ends"),
        Input::Preempt(thread) => format!("{thread} is preempted (its time slice ran out)"),
        Input::Signal(signal) => format!(
            "the signal {} arrives",
            crate::runtime::os_signals::name(signal.signal)
        ),
    }
}

/// A seed from the operating system's random number generator (`getrandom`, else
/// `/dev/urandom`): the one read of the OS's randomness by the runtime.
#[cold]
fn seed_from_os() -> u64 {
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled end of `bytes`.
        let read = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if read > 0 {
            filled += read as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    if filled < bytes.len() {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut file| file.read_exact(&mut bytes))
            .unwrap_or_else(|error| {
                panic!(
                    "reel: cannot draw a random seed: getrandom failed and /dev/urandom cannot \
                     be read ({error})"
                )
            });
    }
    u64::from_le_bytes(bytes)
}
