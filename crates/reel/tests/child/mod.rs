//! Starting an `#[ignore]`d test of the running test binary as a child process, with none of
//! the parent's REEL_* settings, so that what the child records or replays is only what its
//! parent asks for; and under strace, where strace can trace.

use std::path::Path;
use std::process::Command;

/// A command that runs the ignored test `test` of this binary, alone and with its output
/// shown, with `marker` set (the child's cue to run) and every REEL_* variable cleared.
pub fn child_test(test: &str, marker: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary has a path"));
    with_test(&mut command, test, marker);
    command
}

/// [`child_test`] under `strace -f`, which writes the system calls named in `calls` (its
/// `-e trace=` list), of every thread, to `log`.
#[allow(dead_code)] // Not every test binary that includes this module traces.
pub fn child_test_under_strace(test: &str, marker: &str, log: &Path, calls: &str) -> Command {
    let mut command = Command::new("strace");
    command
        .args(["-f", "-qq", "-o"])
        .arg(log)
        .arg("-e")
        .arg(format!("trace={calls}"))
        .arg(std::env::current_exe().expect("the test binary has a path"));
    with_test(&mut command, test, marker);
    command
}

fn with_test(command: &mut Command, test: &str, marker: &str) {
    command
        .args(["--exact", test, "--ignored", "--nocapture"])
        .env(marker, "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("REEL_") && name != marker {
            command.env_remove(name);
        }
    }
}

/// Whether strace is installed and may trace here (ptrace may be forbidden in a container);
/// when not, prints a note that the calling test checks nothing.
#[allow(dead_code)] // Not every test binary that includes this module traces.
pub fn strace_usable() -> bool {
    match Command::new("strace")
        .args(["-qq", "-e", "trace=none", "true"])
        .output()
    {
        Err(error) => {
            eprintln!("note: strace is not installed ({error}): nothing checked");
            false
        }
        Ok(output) if !output.status.success() => {
            eprintln!(
                "note: strace cannot trace here (is ptrace permitted?): {}: nothing checked",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            false
        }
        Ok(_) => true,
    }
}
