//! Arguments that are not #[reel::test]'s, or not written as it takes them.

const ITERATIONS: usize = 10;

#[reel::test(iteration = 5)]
fn unknown_argument() {}

#[reel::test(strategy = "fastest")]
fn unknown_strategy() {}

#[reel::test(iterations = ITERATIONS)]
fn not_a_literal() {}

#[reel::test(seed = "7")]
fn a_string_for_a_number() {}

#[reel::test(strategy = random)]
fn a_path_for_a_strategy() {}

#[reel::test(seed = 1, seed = 2)]
fn given_twice() {}

#[reel::test(jobs = 0)]
fn no_threads() {}

#[reel::test(strategy = "pct(depth x)")]
fn a_bad_depth_in_the_spelling() {}

fn main() {}
