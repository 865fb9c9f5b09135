//! Source hygiene: every module opens with a `//!` line saying what it is for.

use std::path::{Path, PathBuf};

fn rust_files(directory: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(directory).unwrap_or_else(|error| {
        panic!("cannot list {}: {error}", directory.display());
    });
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_module_opens_with_a_doc_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for directory in ["src", "crates", "examples", "tests", "benches"] {
        let directory = root.join(directory);
        if directory.exists() {
            rust_files(&directory, &mut files);
        }
    }
    files.retain(|file| !file.components().any(|part| part.as_os_str() == "target"));
    assert!(
        files.len() > 10,
        "expected to find the sources, found {files:?}"
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|file| {
            let text = std::fs::read_to_string(file).expect("a readable source file");
            !text
                .lines()
                .next()
                .is_some_and(|line| line.starts_with("//!"))
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a leading //! line: {missing:#?}"
    );
}

/// The engine defines the seams and the others implement them: nothing in the runtime may
/// reach up into the recording or the debug agent.
#[test]
fn the_runtime_imports_neither_the_recording_nor_the_debugger() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/reel/src/runtime");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(
        files.len() > 5,
        "expected the runtime's sources, found {files:?}"
    );
    // A path into either module, however it is spelt: `crate::recording::x`,
    // `crate::{debug, ..}`, `super::super::recording`.
    let reaches_up = |code: &str| {
        (code.contains("crate::") || code.contains("super::"))
            && code
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == "recording" || word == "debug")
    };
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).expect("a readable source file");
            text.lines()
                .enumerate()
                .filter(|(_, line)| {
                    let code = line.split("//").next().unwrap_or("");
                    reaches_up(code)
                })
                .map(|(number, line)| format!("{}:{}: {}", file.display(), number + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "the runtime must not import recording/ or debug/ (they implement its seams): \
         {offenders:#?}"
    );
}

/// No source file of the runtime grows past what one reader takes in: the execution is
/// split by concern.
#[test]
fn no_runtime_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/reel/src/runtime");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).ok()?.lines().count();
            (lines > 600).then(|| format!("{}: {lines} lines", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by concern: {long:#?}");
}
