//! Who is being recorded: the trace header's program identity and run information, and where
//! an exploration saves the trace of a failure.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use reel_trace::{ClockKind, Header, Program, RunInfo, Settings};

use crate::runtime::clock::Clock;
use crate::runtime::execution::{ExecutionConfig, PanicPolicy};

/// The executable's path, name and content hash, computed once per process.
struct Executable {
    path: String,
    name: String,
    hash: Option<u64>,
}

fn executable() -> &'static Executable {
    static EXECUTABLE: OnceLock<Executable> = OnceLock::new();
    EXECUTABLE.get_or_init(|| {
        let path = std::env::current_exe().ok();
        let hash = path
            .as_deref()
            .and_then(|path| std::fs::read(path).ok())
            .map(|bytes| xxhash_rust::xxh3::xxh3_64(&bytes));
        let text = path
            .as_deref()
            .map(|path| path.display().to_string())
            .unwrap_or_default();
        let name = path.as_deref().map(program_name).unwrap_or_default();
        Executable {
            path: text,
            name,
            hash,
        }
    })
}

/// The name that identifies a program across builds: the executable's file name without
/// cargo's `-<16 hex digits>` suffix (test binaries) or an extension.
pub(crate) fn program_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash))
            if hash.len() == 16 && hash.bytes().all(|byte| byte.is_ascii_hexdigit()) =>
        {
            name.to_owned()
        }
        _ => stem,
    }
}

/// This process's program name (see [`program_name`]).
pub(crate) fn this_program_name() -> &'static str {
    &executable().name
}

/// The running test's name: libtest names each test's kernel thread after it.
pub(crate) fn test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_owned)
}

/// What the header records about one run.
pub(crate) struct RunDescription {
    pub(crate) strategy: String,
    pub(crate) seed: Option<u64>,
    pub(crate) iteration: Option<u64>,
}

/// The header of a trace of a run with `config`.
pub(crate) fn header(run: RunDescription, config: &ExecutionConfig) -> Header {
    let executable = executable();
    Header {
        program: Program {
            exe_path: executable.path.clone(),
            exe_name: executable.name.clone(),
            exe_hash: executable.hash,
            entry: test_name(),
            args: std::env::args_os()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            reel_version: env!("CARGO_PKG_VERSION").to_owned(),
            rustc_version: env!("REEL_RUSTC_VERSION").to_owned(),
            target: env!("REEL_TARGET").to_owned(),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_owned(),
        },
        run: RunInfo {
            strategy: run.strategy,
            seed: run.seed,
            iteration: run.iteration,
            host: host_name(),
            start_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_millis() as u64)
                .unwrap_or(0),
            pid: std::process::id(),
            kernel_thread: kernel_thread_id(),
            ci_commit: ci_commit(),
        },
        settings: Settings {
            max_steps: config.max_steps,
            spin_limit: config.spin_limit,
            stack_bytes: config.stack_bytes as u64,
            any_thread_panic_fails: config.panic_policy == PanicPolicy::AnyThreadFails,
            clock: match config.clock {
                Clock::Virtual { .. } => ClockKind::Virtual,
                Clock::Real => ClockKind::Real,
            },
        },
    }
}

fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `buffer.len()` bytes into the buffer we own.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return String::new();
    }
    let end = buffer
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

fn kernel_thread_id() -> u64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u64 }
}

/// The commit a CI system is building, from the variables the common ones set.
fn ci_commit() -> Option<String> {
    [
        "GITHUB_SHA",
        "CI_COMMIT_SHA",
        "BUILDKITE_COMMIT",
        "CIRCLE_SHA1",
        "TRAVIS_COMMIT",
        "GIT_COMMIT",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
}

/// Where an exploration saves failing traces: REEL_TRACE_DIR, else the directory the
/// exploration names, else `reel/traces` in cargo's target directory (CARGO_TARGET_DIR, or
/// the `target` directory the executable was built in), else `reel/traces` in the system's
/// temporary directory (a program that does not live in a cargo target directory, such as a
/// doctest).
pub(crate) fn trace_dir(named: Option<&Path>) -> PathBuf {
    if let Some(dir) = crate::env_path("REEL_TRACE_DIR").or_else(|| named.map(Path::to_path_buf)) {
        return dir;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            exe.ancestors()
                .find(|dir| dir.file_name().is_some_and(|name| name == "target"))
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(std::env::temp_dir);
    target.join("reel").join("traces")
}

/// The file name of a failing execution's trace: `<test>-<seed>-<iteration>.reel`.
pub(crate) fn trace_file_name(test: Option<&str>, seed: u64, iteration: usize) -> String {
    format!("{}{iteration}.reel", trace_file_prefix(test, seed))
}

/// The file name of an exploration's traces up to the iteration: `<test>-<seed>-`.
pub(crate) fn trace_file_prefix(test: Option<&str>, seed: u64) -> String {
    let test = test.unwrap_or_else(|| this_program_name());
    let test: String = test
        .replace("::", ".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{test}-{seed:#x}-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_names_drop_cargo_hashes() {
        assert_eq!(
            program_name(Path::new("/t/release/deps/examples-0123456789abcdef")),
            "examples"
        );
        assert_eq!(
            program_name(Path::new("/t/debug/examples/lost_update")),
            "lost_update"
        );
        assert_eq!(program_name(Path::new("/t/a-b-c")), "a-b-c");
    }

    #[test]
    fn trace_file_names_are_safe() {
        assert_eq!(
            trace_file_name(Some("tests::lost update"), 0x2a, 3),
            "tests.lost_update-0x2a-3.reel"
        );
    }
}
