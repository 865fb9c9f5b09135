//! Random numbers that replay: each green thread's generator, seeded from the run's seed,
//! which is an input (drawn from the OS once in a plain run and recorded; read back from the
//! trace in a replay; derived from the exploration's seed and execution under exploration).
//!
//! ```
//! use reel::rand::{Rng, rng};
//!
//! reel::run(|| {
//!     let dice: u8 = 1 + reel::rand::random::<u8>() % 6;
//!     assert!((1..=6).contains(&dice));
//!     let mut bytes = [0u8; 16];
//!     reel::rand::fill(&mut bytes);
//!     let word = rng().next_u64();
//!     let unit: f64 = reel::rand::random();
//!     assert!((0.0..1.0).contains(&unit));
//!     # let _ = word;
//! });
//! ```
//!
//! The generator is PCG-64 (`Lcg128Xsl64` of the `rand_pcg` crate, which reel's schedulers
//! already use): 128 bits of state, fast (a multiply and an add per 64-bit word), and of
//! high statistical quality (it passes TestU01's BigCrush and PractRand). It is not a
//! cryptographic generator, and [`ThreadRng`] does not claim `CryptoRng`: a trace holds the
//! seed, so anyone with the trace can compute every value a run drew. Nor does it implement
//! `SeedableRng`: its seed is the run's, an input, never the program's choice.
//!
//! A draw is not a scheduling point: a thread's values depend only on the run's seed and the
//! thread's id, never on the interleaving. The run's first draw is one (it draws the seed).

use std::fmt;
use std::marker::PhantomData;

pub use rand_core::{Infallible, Rng, TryRng};

use crate::runtime::execution::{self, ExecutionConfig};
use crate::scheduler::mix_seed;

/// A handle to the current green thread's generator, as `rand::rngs::ThreadRng`. It is
/// neither `Send` nor `Sync`: each green thread draws from its own generator, so a handle
/// draws from the generator of whichever thread uses it.
#[derive(Clone, Default)]
pub struct ThreadRng {
    not_send: PhantomData<*const ()>,
}

impl fmt::Debug for ThreadRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Like rand's, it does not show the generator's state.
        f.write_str("ThreadRng { .. }")
    }
}

/// The current green thread's generator. Panics outside a reel runtime.
pub fn rng() -> ThreadRng {
    ThreadRng::default()
}

impl TryRng for ThreadRng {
    type Error = Infallible;

    #[track_caller]
    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(execution::with_generator(
            std::panic::Location::caller(),
            Rng::next_u32,
        ))
    }

    #[track_caller]
    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(execution::with_generator(
            std::panic::Location::caller(),
            Rng::next_u64,
        ))
    }

    #[track_caller]
    #[inline]
    fn try_fill_bytes(&mut self, bytes: &mut [u8]) -> Result<(), Infallible> {
        execution::with_generator(std::panic::Location::caller(), |generator| {
            generator.fill_bytes(bytes)
        });
        Ok(())
    }
}

/// A value of a type drawn uniformly: every value of an integer type or `bool`, and
/// `[0, 1)` for a float (53 bits for `f64`, 24 for `f32`, as `rand`'s `StandardUniform`).
pub trait Random: Sized {
    /// Draws a value from `rng`.
    fn random<R: Rng + ?Sized>(rng: &mut R) -> Self;
}

macro_rules! random_from_u64 {
    ($($type:ty),*) => {$(
        impl Random for $type {
            #[inline]
            fn random<R: Rng + ?Sized>(rng: &mut R) -> $type {
                // Truncating keeps the low bits, which PCG-64's output mixes as well as
                // the high ones.
                rng.next_u64() as $type
            }
        }
    )*};
}

random_from_u64!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl Random for u128 {
    #[inline]
    fn random<R: Rng + ?Sized>(rng: &mut R) -> u128 {
        (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
    }
}

impl Random for i128 {
    #[inline]
    fn random<R: Rng + ?Sized>(rng: &mut R) -> i128 {
        u128::random(rng) as i128
    }
}

impl Random for bool {
    #[inline]
    fn random<R: Rng + ?Sized>(rng: &mut R) -> bool {
        // The top bit: as good as any of PCG-64's.
        rng.next_u64() >> 63 == 1
    }
}

impl Random for f64 {
    #[inline]
    fn random<R: Rng + ?Sized>(rng: &mut R) -> f64 {
        (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

impl Random for f32 {
    #[inline]
    fn random<R: Rng + ?Sized>(rng: &mut R) -> f32 {
        (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    }
}

/// A value drawn from the current green thread's generator (see [`Random`]).
#[track_caller]
#[inline]
pub fn random<T: Random>() -> T {
    let location = std::panic::Location::caller();
    execution::with_generator(location, |generator| T::random(generator))
}

/// Fills `bytes` from the current green thread's generator.
#[track_caller]
pub fn fill(bytes: &mut [u8]) {
    execution::with_generator(std::panic::Location::caller(), |generator| {
        generator.fill_bytes(bytes)
    });
}

/// Mixed into an exploration's seed for its random generators, so that their numbers are
/// not the schedulers'.
const EXPLORATION_SALT: u64 = 0x7265_656c_7261_6e64; // "reelrand"

/// Mixed into an exploration's seed for the draws that time its I/O.
const IO_TIMING_SALT: u64 = 0x7265_656c_696f_7469; // "reeliot" and a byte

/// The settings of execution `iteration` of an exploration with `seed`: its random seed,
/// and the seed that times its I/O when it is timed, are functions of both, so the same
/// exploration draws the same numbers.
pub(crate) fn for_iteration(
    config: &ExecutionConfig,
    seed: u64,
    iteration: usize,
) -> ExecutionConfig {
    let mut config = config.clone();
    config.random_seed = Some(mix_seed(seed ^ EXPLORATION_SALT, iteration));
    if config.io_timing.is_some() {
        config.io_timing = Some(mix_seed(seed ^ IO_TIMING_SALT, iteration));
    }
    config
}
