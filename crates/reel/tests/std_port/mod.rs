//! What the ports of the standard library's own tests (`tests/std_*.rs`) share: the runners
//! a test body goes into, and std's test helpers, so that the bodies stay as std wrote them.
//!
//! The bodies come from rust-lang/rust (`library/std/tests/sync/*.rs`,
//! `library/std/src/thread/tests.rs`), MIT or Apache-2.0, (c) The Rust Project Developers.

use std::fmt::Debug;

/// Explores `f` for `iterations` executions with spawned threads' panics going to their join
/// handles, as in std, and fails on any failure found (a panic of the main thread, a
/// deadlock, a re-entrant lock, a livelock).
#[allow(dead_code)]
pub fn explore(iterations: usize, f: impl Fn() + Sync) {
    let report = reel::Checker::new()
        .iterations(iterations)
        .allow_thread_panics(true)
        .run(f);
    assert!(!report.found(), "{report}");
}

/// std's `maybe_unwrap` for its poisoning locks (`result_unwrap` in its `sync/lib.rs`).
#[allow(dead_code)]
#[track_caller]
pub fn maybe_unwrap<T, E: Debug>(x: Result<T, E>) -> T {
    x.unwrap()
}

/// A std test, its body unchanged: `run` runs it once in `reel::run` (bodies with `static`
/// primitives, which keep their state across the executions of a process as of a test
/// run), `explore(N)` explores N schedules of it.
#[macro_export]
macro_rules! std_test {
    ($(#[$attribute:meta])* run $name:ident $body:block) => {
        $(#[$attribute])*
        #[test]
        fn $name() {
            reel::run(|| $body)
        }
    };
    ($(#[$attribute:meta])* explore($iterations:expr) $name:ident $body:block) => {
        $(#[$attribute])*
        #[test]
        fn $name() {
            $crate::std_port::explore($iterations, || $body)
        }
    };
}
