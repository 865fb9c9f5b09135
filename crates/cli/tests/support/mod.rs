//! What the end-to-end tests of the `reel` binary share: the binary, the committed traces,
//! and the example programs that recorded them (built on demand).

#![allow(dead_code)] // Each test file uses its own part.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use reel_trace::{ChunkEncoder, Event, Trace};

/// The `reel` binary cargo built for these tests.
pub fn reel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reel"))
}

/// The workspace's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A committed trace: `traces/<name>.reel`.
pub fn committed_trace(name: &str) -> PathBuf {
    workspace().join("traces").join(format!("{name}.reel"))
}

/// The example `name` of the workspace, built in this test binary's profile (cargo builds
/// the examples with `cargo test --workspace`; with `-p reel-cli` they are built here).
pub fn example(name: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    let _guard = BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !path.exists() {
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(workspace())
            .args(["build", "-p", "reel-suite", "--example", name]);
        if profile_dir
            .file_name()
            .is_some_and(|profile| profile == "release")
        {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the example {name} failed");
    }
    path
}

/// A fresh directory for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reel-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// A re-encoding of `trace`: the same events, with an event chunk sealed every
/// `chunk_steps` steps, and each step passed through `edit` (given its number). Returns the
/// bytes and the file offset at which each event chunk ends.
pub fn reencode(
    trace: &Trace,
    chunk_steps: u64,
    edit: impl Fn(u64, &mut reel_trace::Step),
) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = reel_trace::encode_prologue(&trace.header);
    let files: Vec<&str> = trace.files.iter().map(String::as_str).collect();
    bytes.extend_from_slice(&reel_trace::encode_definitions(&files, &trace.locations));
    let start = bytes.len();
    let mut encoder = ChunkEncoder::new();
    let mut ends = Vec::new();
    let mut steps = 0;
    for event in &trace.events {
        match event {
            Event::Step(step) => {
                steps += 1;
                let mut step = *step;
                edit(steps, &mut step);
                encoder.step(step.thread, step.op, step.object, step.location);
                if steps % chunk_steps == 0 {
                    encoder.seal();
                    ends.push(start + encoder.sealed().len());
                }
            }
            Event::Spawn(spawn) => encoder.spawn(spawn.parent, spawn.name.as_deref()),
            Event::Object(kind) => encoder.object(*kind),
            Event::Timeout { thread } => encoder.timeout(*thread),
            Event::ClockRead(reading) => encoder.clock_read(*reading),
            Event::RandomSeed { seed } => encoder.random_seed(*seed),
            Event::Preemption { thread } => encoder.preemption(*thread),
            Event::Stall(stall) => encoder.stall(stall),
            Event::Outcome(outcome) => encoder.outcome(outcome),
            Event::Signal(arrival) => encoder.signal(arrival),
            Event::Io(io) => encoder.io(io),
        }
    }
    encoder.seal();
    if ends.last() != Some(&(start + encoder.sealed().len())) {
        ends.push(start + encoder.sealed().len());
    }
    bytes.extend_from_slice(encoder.sealed());
    (bytes, ends)
}
