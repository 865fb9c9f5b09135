//! Hashing that replays: [`RandomState`], as `std::hash::RandomState`, with keys drawn from
//! [`crate::rand`]. A `HashMap<K, V, reel::hash::RandomState>` resists collision attacks as
//! std's does (SipHash-1-3 with random keys), and iterates in the same order when the run is
//! replayed or the exploration run again with its seed.
//!
//! std's own `RandomState` draws its keys from the OS, outside reel: a program whose
//! scheduling operations follow a std `HashMap`'s order takes another path in a replay, and
//! the determinism self-check (`Checker::check_determinism`) says so.
//!
//! ```
//! use std::collections::HashMap;
//!
//! reel::run(|| {
//!     let mut ages: HashMap<&str, u32, reel::hash::RandomState> = HashMap::default();
//!     ages.insert("ada", 36);
//!     assert_eq!(ages["ada"], 36);
//! });
//! ```

use std::hash::BuildHasher;

pub use siphasher::sip::SipHasher13 as DefaultHasher;

/// Builds SipHash-1-3 hashers with two random keys from the current green thread's
/// generator (drawn when the state is made, as std's). Keys differ from one `RandomState`
/// to the next.
#[derive(Clone, Debug)]
pub struct RandomState {
    keys: (u64, u64),
}

impl RandomState {
    /// A state with fresh keys (drawn from [`crate::rand`]). Panics outside a reel runtime.
    #[track_caller]
    pub fn new() -> RandomState {
        RandomState {
            keys: (crate::rand::random(), crate::rand::random()),
        }
    }
}

impl Default for RandomState {
    #[track_caller]
    fn default() -> RandomState {
        RandomState::new()
    }
}

impl BuildHasher for RandomState {
    type Hasher = DefaultHasher;

    #[inline]
    fn build_hasher(&self) -> DefaultHasher {
        DefaultHasher::new_with_keys(self.keys.0, self.keys.1)
    }
}
