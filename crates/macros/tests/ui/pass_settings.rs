//! Every argument and the strategy spellings compile.

#[reel::test]
fn portfolio_by_default() {}

#[reel::test(strategy = "random", iterations = 20, seed = 3, jobs = 2, max_steps = 1000)]
fn random_with_every_setting() {}

#[reel::test(strategy = "pct", depth = 2)]
fn pct_with_a_depth() {}

#[reel::test(strategy = "pct(random depth)")]
fn pct_with_a_random_depth() {}

#[reel::test(strategy = "dfs", preemptions = 0)]
fn dfs_with_a_bound() {}

#[reel::test(strategy = "dfs(delays 1)")]
fn dfs_with_delays() {}

fn main() {}
