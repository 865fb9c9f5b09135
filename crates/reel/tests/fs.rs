//! Files under reel: real temp files through io_uring and through the helper threads,
//! recorded, then replayed in a new process with the files deleted.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reel::fs::{self, File, OpenOptions};
use reel::reel_trace::{self, OpKind};
use reel::{Replay, Runtime};

/// Writes, appends, seeks, reads at offsets, lists, renames and removes files under `dir`;
/// returns what it saw.
fn file_program(dir: &Path) -> String {
    let sub = dir.join("sub");
    fs::create_dir_all(&sub).unwrap();
    let path = sub.join("notes.txt");
    fs::write(&path, b"first line\n").unwrap();
    {
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"second line\n").unwrap();
        file.sync_data().unwrap();
    }
    let text = fs::read_to_string(&path).unwrap();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    file.seek(SeekFrom::Start(6)).unwrap();
    let mut word = [0; 4];
    file.read_exact(&mut word).unwrap();
    file.write_at(b"FIRST", 0).unwrap();
    let mut head = [0; 5];
    file.read_at(&mut head, 0).unwrap();
    file.set_len(11).unwrap();
    file.sync_all().unwrap();
    let length = file.metadata().unwrap().len();
    drop(file);
    // A larger file than one read takes: several steps.
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(sub.join("big.bin"), &big).unwrap();
    let read_back = fs::read(sub.join("big.bin")).unwrap();
    fs::rename(&path, sub.join("renamed.txt")).unwrap();
    let mut names: Vec<String> = fs::read_dir(&sub)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let missing = File::open(&path).unwrap_err().kind();
    fs::remove_file(sub.join("renamed.txt")).unwrap();
    fs::remove_file(sub.join("big.bin")).unwrap();
    let is_dir = fs::metadata(&sub).unwrap().is_dir();
    format!(
        "{text:?} {} {} {length} {} {names:?} {missing:?} {is_dir}",
        String::from_utf8_lossy(&word),
        String::from_utf8_lossy(&head),
        read_back == big
    )
}

const EXPECTED: &str = "\"first line\\nsecond line\\n\" line FIRST 11 true \
     [\"big.bin\", \"renamed.txt\"] NotFound true";

fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fs")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn files_work_through_io_uring_where_the_kernel_allows_it() {
    let dir = scratch_dir("uring");
    let (result, backend) = Runtime::new()
        .io_uring(true)
        .run(|| (file_program(&dir), fs::backend()));
    assert_eq!(result, EXPECTED);
    eprintln!("file operations ran on: {backend}");
}

#[test]
fn files_work_through_the_helper_threads_when_io_uring_is_off() {
    let dir = scratch_dir("helpers");
    let (result, backend) = Runtime::new()
        .io_uring(false)
        .helper_threads(2)
        .run(|| (file_program(&dir), fs::backend()));
    assert_eq!(result, EXPECTED);
    assert_eq!(backend, "helper threads");
}

/// The child of the process tests (never run on its own): records the file program to
/// REEL_FS_TRACE (in REEL_FS_DIR), or replays it when REEL_FS_REPLAY is set.
#[test]
#[ignore = "a child process of the record-replay tests"]
fn child_runs_the_file_program() {
    let (Some(path), Some(dir)) = (
        std::env::var_os("REEL_FS_TRACE"),
        std::env::var_os("REEL_FS_DIR"),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    println!("backend {}", reel::run(fs::backend));
    if std::env::var_os("REEL_FS_REPLAY").is_some() {
        let report = Replay::from_file(&path)
            .unwrap()
            .run(|| println!("result {}", file_program(&dir)))
            .unwrap();
        assert!(report.reproduced(), "{report}");
        println!("reproduced");
        return;
    }
    Runtime::new()
        .record(PathBuf::from(path))
        .run(|| println!("result {}", file_program(&dir)));
}

fn child(trace: &Path, dir: &Path, replay: bool, uring: bool) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child_runs_the_file_program", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env("REEL_FS_TRACE", trace)
        .env("REEL_FS_DIR", dir)
        .env_remove("REEL_RECORD")
        .env_remove("REEL_REPLAY")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if replay {
        command.env("REEL_FS_REPLAY", "1");
    }
    if uring {
        command.env_remove("REEL_IO_URING");
    } else {
        command.env("REEL_IO_URING", "0");
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "the child failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// What the child printed after `key` (the harness may print its test's name first).
fn printed<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.find(key).map(|at| &line[at + key.len()..]))
        .unwrap_or_else(|| panic!("no {key:?} in the child's output:\n{output}"))
}

#[test]
fn a_recorded_file_program_replays_in_a_new_process_with_the_files_deleted() {
    for uring in [true, false] {
        let dir = scratch_dir(if uring {
            "replay-uring"
        } else {
            "replay-helpers"
        });
        let files = dir.join("files");
        let path = dir.join("files.reel");
        let recorded = child(&path, &files, false, uring);
        assert_eq!(printed(&recorded, "result "), EXPECTED);
        if !uring {
            assert_eq!(printed(&recorded, "backend "), "helper threads");
        }
        let trace = reel_trace::read_file(&path).unwrap();
        assert!(trace.step_events().any(|step| step.op == OpKind::IoRead));
        assert!(trace.step_events().any(|step| step.op == OpKind::BlockIo));
        std::fs::remove_dir_all(&files).unwrap();
        let replayed = child(&path, &files, true, uring);
        assert_eq!(printed(&replayed, "result "), EXPECTED);
        assert!(replayed.contains("reproduced"), "{replayed}");
        assert!(!files.exists(), "the replay made no files");
    }
}

#[test]
fn a_replay_that_reads_another_file_diverges() {
    let dir = scratch_dir("another-file");
    let trace = dir.join("read.reel");
    std::fs::write(dir.join("one.txt"), b"one").unwrap();
    let read = |name: &str| fs::read(dir.join(name)).unwrap_or_default();
    assert_eq!(
        Runtime::new().record(&trace).run(|| read("one.txt")),
        b"one"
    );
    let same = Replay::from_file(&trace).unwrap().run(|| {
        read("one.txt");
    });
    assert!(same.unwrap().reproduced());
    let report = Replay::from_file(&trace)
        .unwrap()
        .run(|| {
            read("two.txt");
        })
        .unwrap();
    let reel::ReplayResult::Diverged(divergence) = &report.result else {
        panic!("the replay did not diverge: {report}");
    };
    assert!(
        divergence.actual.contains("opens a different path")
            && divergence
                .expected
                .contains("the recorded place hashes to 0x"),
        "{divergence}"
    );
    assert!(!divergence.to_string().contains("two.txt"), "{divergence}");
}
