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
