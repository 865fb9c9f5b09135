//! Settings the strategy does not take, or that its spelling already sets.

#[reel::test(strategy = "dfs", depth = 3)]
fn depth_for_dfs() {}

#[reel::test(preemptions = 2)]
fn preemptions_for_the_portfolio() {}

#[reel::test(strategy = "pct(depth 3)", depth = 2)]
fn depth_twice() {}

#[reel::test(strategy = "pct(random depth)", depth = 2)]
fn a_depth_for_a_random_depth() {}

#[reel::test(strategy = "dfs(preemptions 1)", preemptions = 2)]
fn preemptions_twice() {}

fn main() {}
