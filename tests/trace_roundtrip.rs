//! Traces across builds: each bundled example records the trace of the failure it finds,
//! and the example run again with REEL_REPLAY reproduces that failure, step and message
//! alike, also when the trace was recorded by a debug build and is replayed by a release
//! build (and the other way round).
//!
//! The examples are run as the programs they are: `target/<profile>/examples/<name>`, built
//! with `cargo build [--release] --example ...` (a no-op when `cargo test` built them).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use reel::reel_trace;
use reel_suite::{SCENARIOS, Scenario};

/// A cargo build profile, by the name of its directory in the target directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// Its directory in the target directory, and its name in traces and notes.
    fn name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// The workspace root (this package's manifest directory).
fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's target directory: CARGO_TARGET_DIR, else `target` in the workspace.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => workspace().join(dir),
        None => workspace().join("target"),
    }
}

/// The bundled example `name` built with `profile`, built first (once per profile and test
/// process) with cargo; cargo does nothing if it is up to date.
fn example(profile: Profile, name: &str) -> PathBuf {
    static DEBUG: OnceLock<Result<(), String>> = OnceLock::new();
    static RELEASE: OnceLock<Result<(), String>> = OnceLock::new();
    let built = match profile {
        Profile::Debug => &DEBUG,
        Profile::Release => &RELEASE,
    };
    if let Err(error) = built.get_or_init(|| build_examples(profile)) {
        panic!("{error}");
    }
    let path = target_dir()
        .join(profile.name())
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "no example binary at {}", path.display());
    path
}

/// Builds every bundled scenario's example with `profile`.
fn build_examples(profile: Profile) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.current_dir(workspace()).arg("build");
    if profile == Profile::Release {
        command.arg("--release");
    }
    for scenario in &SCENARIOS {
        command.args(["--example", scenario.name]);
    }
    let output = command
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "building the {} examples failed ({}):\n{}",
            profile.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "reel-trace-roundtrip-{}-{test}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// The files in the directory, sorted.
    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        files
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What one run of an example printed.
struct Run {
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout, self.stderr
        )
    }
}

impl Run {
    /// The failure's report: the lines after the line starting with `header`, up to the
    /// first blank line or the "reproduce:" hint.
    fn failure_block(&self, header: &str) -> Vec<&str> {
        let mut lines = self.stdout.lines();
        assert!(
            lines.any(|line| line.starts_with(header)),
            "no line starting with {header:?}:\n{self}"
        );
        let block: Vec<&str> = lines
            .take_while(|line| !line.is_empty() && !line.starts_with("reproduce:"))
            .collect();
        assert!(!block.is_empty(), "an empty failure report:\n{self}");
        block
    }

    /// The rest of the first line starting with `prefix`.
    fn after<'a>(&'a self, prefix: &str) -> &'a str {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?}:\n{self}"))
    }
}

/// Runs `binary` with the REEL_* settings cleared and then `environment` set; asserts it
/// exits with success (the examples do when they found, or reproduced, their bug).
fn run(binary: &Path, environment: &[(&str, &Path)]) -> Run {
    let mut command = Command::new(binary);
    for name in [
        "REEL_REPLAY",
        "REEL_RECORD",
        "REEL_SEED",
        "REEL_ITERATIONS",
        "REEL_TRACE_DIR",
        "REEL_CHECK_DETERMINISM",
    ] {
        command.env_remove(name);
    }
    for (name, value) in environment {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let run = Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        output.status.success(),
        "{} failed ({}):\n{run}",
        binary.display(),
        output.status
    );
    run
}

fn scenario(name: &str) -> &'static Scenario {
    SCENARIOS
        .iter()
        .find(|scenario| scenario.name == name)
        .unwrap_or_else(|| panic!("no bundled scenario named {name}"))
}

/// The example of scenario `name` built with `recorder` finds its bug and saves the trace;
/// built with `replayer`, it replays the trace to the same failure.
fn record_then_replay(name: &str, recorder: Profile, replayer: Profile) {
    let scenario = scenario(name);
    let dir = TempDir::new(&format!("{name}-{}-{}", recorder.name(), replayer.name()));

    // Record.
    let recording = run(
        &example(recorder, name),
        &[("REEL_TRACE_DIR", dir.0.as_path())],
    );
    let trace_path = PathBuf::from(recording.after("trace saved: "));
    assert_eq!(
        dir.files(),
        std::slice::from_ref(&trace_path),
        "the trace is saved in REEL_TRACE_DIR:\n{recording}"
    );
    let recorded_failure = recording.failure_block("reel found a failure in execution ");
    let found = recording.after("Found ");

    // The trace records the failure the example reported.
    let trace = reel_trace::read_file(&trace_path).unwrap();
    assert_eq!(trace.header.program.exe_name, name);
    assert_eq!(trace.header.program.profile, recorder.name());
    assert_eq!(
        trace.header.program.entry, None,
        "an example's main is no test"
    );
    let outcome = trace.outcome.clone().expect("a complete trace");
    assert_eq!(
        outcome.kind.name(),
        scenario.expected_failure.to_string(),
        "{recording}"
    );
    assert!(
        outcome.message.contains(scenario.message_contains),
        "{recording}"
    );
    assert!(
        recorded_failure[0].contains(&format!(" at step {}: ", outcome.step))
            && recorded_failure[0].contains(outcome.message.lines().next().unwrap_or("")),
        "the report's first line names the trace's step and message:\n{recording}"
    );

    // Replay.
    let replay = run(
        &example(replayer, name),
        &[
            ("REEL_REPLAY", trace_path.as_path()),
            ("REEL_TRACE_DIR", dir.0.as_path()),
        ],
    );
    let header = format!("reel replayed {} (", trace_path.display());
    let replayed_failure = replay.failure_block(&header);
    assert!(
        replay.stdout.contains("and reproduced its failure:"),
        "{replay}"
    );
    assert_eq!(
        replayed_failure, recorded_failure,
        "the replay reports the recorded failure\nrecorded:\n{recording}\nreplayed:\n{replay}"
    );
    assert_eq!(
        replay.after("Found "),
        found,
        "the same schedule of the exploration"
    );
    assert_eq!(
        dir.files(),
        std::slice::from_ref(&trace_path),
        "a replay saves no trace"
    );
    let note = format!(
        "reel: note: the trace was recorded by a {} build, and is replayed by a {} build",
        recorder.name(),
        replayer.name()
    );
    if recorder == replayer {
        assert!(
            !replay.stderr.contains("build, and is replayed by"),
            "{replay}"
        );
    } else {
        assert!(replay.stderr.contains(&note), "no {note:?}:\n{replay}");
    }
}

#[test]
fn a_debug_builds_trace_replays_in_a_release_build() {
    record_then_replay("lost_update", Profile::Debug, Profile::Release);
}

#[test]
fn a_release_builds_trace_replays_in_a_debug_build() {
    record_then_replay("lost_update", Profile::Release, Profile::Debug);
}

#[test]
fn lost_update_replays_its_failing_trace() {
    record_then_replay("lost_update", Profile::Release, Profile::Release);
}

#[test]
fn lock_order_replays_its_failing_trace() {
    record_then_replay("lock_order", Profile::Release, Profile::Release);
}

#[test]
fn check_then_act_replays_its_failing_trace() {
    record_then_replay("check_then_act", Profile::Release, Profile::Release);
}
