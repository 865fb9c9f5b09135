//! Tidy checks over the crate's own files: every source and test file opens with a `//!` line
//! saying what it is for (STYLE.md, "Make the architecture visible").

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `directory`, recursively.
fn rust_files(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_file_opens_with_a_module_doc_line() {
    let crate_root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    let mut missing = Vec::new();
    for directory in ["src", "tests"] {
        for file in rust_files(&crate_root.join(directory)) {
            let text = fs::read_to_string(&file).unwrap();
            let first_line = text.lines().next().unwrap_or("");
            if !first_line.starts_with("//!") || first_line.trim() == "//!" {
                missing.push(file.display().to_string());
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "found no source files under {}",
        crate_root.display()
    );
    assert!(
        missing.is_empty(),
        "files without a leading `//!` line saying what they are for:\n{}",
        missing.join("\n")
    );
}
