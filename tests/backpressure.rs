//! The backpressure example, run as the program it is: a slow sink holds back fast clients
//! through a proxy on reel's green threads (some of the proxy's writes wait, the bytes in
//! flight stay within what the buffers hold), and the recorded run replays to the same
//! outcome with the same byte counts. Bad arguments give the usage and a non-zero exit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The example's binary, built in this test binary's profile first (once per process; a
/// no-op when it is up to date).
fn example() -> &'static Path {
    static EXAMPLE: OnceLock<PathBuf> = OnceLock::new();
    EXAMPLE.get_or_init(build_example)
}

fn build_example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("a target directory");
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "--example",
            "backpressure",
            "--target-dir",
        ])
        .arg(target_dir);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building the backpressure example failed");
    profile_dir.join("examples").join("backpressure")
}

fn run(args: &[&str]) -> Output {
    Command::new(example())
        .args(args)
        .env_remove("REEL_RECORD")
        .env_remove("REEL_REPLAY")
        .stdin(Stdio::null())
        .output()
        .expect("the example runs")
}

/// The `key=value` pairs of the example's summary line.
fn summary(output: &Output) -> HashMap<String, String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the example failed: {output:?}\n{stdout}"
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("summary "))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"));
    eprintln!("{stdout}");
    line.split_whitespace()
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("key=value");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

fn number(summary: &HashMap<String, String>, key: &str) -> u64 {
    summary
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {summary:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {summary:?}"))
}

/// Checks one run that moved `expected_bytes` in all.
fn check_backpressure(summary: &HashMap<String, String>, expected_bytes: u64) {
    for key in [
        "client_bytes",
        "sink_bytes",
        "proxy_written",
        "replay_written",
    ] {
        assert_eq!(number(summary, key), expected_bytes, "{key}: {summary:?}");
    }
    let (waited, writes) = (number(summary, "waited_writes"), number(summary, "writes"));
    assert!(
        waited > 0 && waited <= writes,
        "some of the proxy's writes waited for the sink: {summary:?}"
    );
    let (in_flight, bound) = (number(summary, "most_in_flight"), number(summary, "bound"));
    assert!(
        in_flight > 0 && in_flight <= bound,
        "the bytes in flight stay within the buffers: {summary:?}"
    );
    assert!(
        bound < expected_bytes,
        "the run moves more than the buffers hold, so the clients had to wait: {summary:?}"
    );
    assert!(
        number(summary, "trace_bytes") >= expected_bytes,
        "the trace holds what the proxy read: {summary:?}"
    );
    assert_eq!(summary["replay_same"], "true", "{summary:?}");
}

#[test]
fn a_slow_sink_holds_back_the_clients_over_unix_sockets_and_the_replay_matches() {
    let output = run(&["--clients", "3", "--kib-per-client", "1024"]);
    check_backpressure(&summary(&output), 3 * 1024 * 1024);
}

#[test]
fn a_slow_sink_holds_back_the_clients_over_tcp_and_the_replay_matches() {
    let output = run(&["--tcp", "--clients", "2"]);
    let summary = summary(&output);
    // TCP's buffers grow with the traffic, so the bound from their limits is loose: the
    // proxy's writes waiting, and the replay, are what this checks.
    assert!(number(&summary, "waited_writes") > 0, "{summary:?}");
    assert!(
        number(&summary, "most_in_flight") <= number(&summary, "bound"),
        "{summary:?}"
    );
    assert_eq!(number(&summary, "replay_written"), 2 * 4096 * 1024);
    assert_eq!(summary["replay_same"], "true", "{summary:?}");
}

#[test]
fn bad_arguments_give_the_usage_and_a_non_zero_exit() {
    for args in [
        &["--clients", "0"][..],
        &["--clients"],
        &["--kib-per-client", "lots"],
        &["--udp"],
    ] {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: backpressure"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?} ran nothing");
    }
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("usage: backpressure"));
}
