//! Starting an `#[ignore]`d test of the running test binary as a child process, with none of
//! the parent's REEL_* settings, so that what the child records or replays is only what its
//! parent asks for.

use std::process::Command;

/// A command that runs the ignored test `test` of this binary, alone and with its output
/// shown, with `marker` set (the child's cue to run) and every REEL_* variable cleared.
pub fn child_test(test: &str, marker: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary has a path"));
    command
        .args(["--exact", test, "--ignored", "--nocapture"])
        .env(marker, "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("REEL_") && name != marker {
            command.env_remove(name);
        }
    }
    command
}
