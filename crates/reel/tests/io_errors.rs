//! I/O errors are inputs like any result: a write to a full device (`ENOSPC`, /dev/full)
//! and a write past the file size limit (`EFBIG`, `RLIMIT_FSIZE` in a child process) are
//! recorded with their errno and replay as the same error, through io_uring and through the
//! helper threads; and a trace whose I/O result is damaged is refused with a typed error
//! that names the event.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reel::reel_trace::{self, Event, IoEvent, IoResult, tests_support};
use reel::{Replay, ReplayError, Runtime};

/// The file size limit of the `EFBIG` child, in bytes: far above the trace it writes.
const SIZE_LIMIT_BYTES: usize = 64 * 1024;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("io_errors")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// How a failed operation looked to the program: its errno and its kind.
type Failure = (Option<i32>, ErrorKind);

fn failure(error: &std::io::Error) -> Failure {
    (error.raw_os_error(), error.kind())
}

/// The errors of the I/O results a trace holds.
fn recorded_errnos(path: &Path) -> Vec<i32> {
    let trace = reel_trace::read_file(path).unwrap();
    trace
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Io(io) => match &**io {
                IoEvent::Done(done) => match &done.result {
                    IoResult::Error { errno, .. } => Some(*errno),
                    _ => None,
                },
                IoEvent::Ready { .. } => None,
            },
            _ => None,
        })
        .collect()
}

/// Writes to /dev/full through reel's files: the device takes nothing.
fn full_device_program() -> (Failure, &'static str) {
    let mut full = reel::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let error = full.write(b"no room for this").unwrap_err();
    (failure(&error), reel::fs::backend())
}

fn check_full_device(uring: bool) {
    let dir = scratch_dir(if uring {
        "enospc-uring"
    } else {
        "enospc-helpers"
    });
    let path = dir.join("enospc.reel");
    let (recorded, backend) = Runtime::new()
        .io_uring(uring)
        .record(&path)
        .run(full_device_program);
    eprintln!("ENOSPC recorded through: {backend}");
    if !uring {
        assert_eq!(backend, "helper threads");
    }
    assert_eq!(recorded, (Some(libc::ENOSPC), ErrorKind::StorageFull));
    assert_eq!(recorded_errnos(&path), vec![libc::ENOSPC]);
    let mut replayed = None;
    let report = Replay::from_file(&path)
        .unwrap()
        .run(|| replayed = Some(full_device_program().0))
        .unwrap();
    assert!(report.reproduced(), "{report}");
    assert_eq!(replayed, Some(recorded));
}

#[test]
fn a_full_device_replays_as_enospc_through_io_uring() {
    check_full_device(true);
}

#[test]
fn a_full_device_replays_as_enospc_through_the_helper_threads() {
    check_full_device(false);
}

/// Fills `path` up to the size limit, then writes one byte more; returns the bytes the
/// first write took and how the second failed.
fn file_size_program(path: &Path) -> (usize, Failure) {
    let mut file = reel::fs::File::create(path).unwrap();
    let filling = vec![b'x'; SIZE_LIMIT_BYTES];
    file.write_all(&filling).unwrap();
    let error = file.write(b"!").unwrap_err();
    (filling.len(), failure(&error))
}

/// The child of the `EFBIG` tests (never run on its own): ignores SIGXFSZ, lowers its file
/// size limit, records the file size program to REEL_IO_ERRORS_TRACE through io_uring or
/// not (REEL_IO_ERRORS_URING), and prints the result.
#[test]
#[ignore = "a child process of the EFBIG tests"]
fn child_writes_past_its_file_size_limit() {
    let (Some(trace), Some(file), Some(uring)) = (
        std::env::var_os("REEL_IO_ERRORS_TRACE"),
        std::env::var_os("REEL_IO_ERRORS_FILE"),
        std::env::var_os("REEL_IO_ERRORS_URING"),
    ) else {
        return;
    };
    // SAFETY: ignoring a signal installs no handler; this child runs this one test.
    let previous = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    assert_ne!(previous, libc::SIG_ERR);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit to write to.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) };
    assert_eq!(got, 0);
    limit.rlim_cur = SIZE_LIMIT_BYTES as libc::rlim_t;
    // SAFETY: `limit` is a valid rlimit; lowering the soft limit needs no privilege.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) };
    assert_eq!(set, 0);
    let (filled, (errno, kind), backend) = Runtime::new()
        .io_uring(uring == "1")
        .record(PathBuf::from(trace))
        .run(|| {
            let (filled, failure) = file_size_program(Path::new(&file));
            (filled, failure, reel::fs::backend())
        });
    println!("backend {backend}");
    println!("result {filled} {errno:?} {kind:?}");
}

fn check_file_size_limit(uring: bool) {
    let dir = scratch_dir(if uring {
        "efbig-uring"
    } else {
        "efbig-helpers"
    });
    let trace = dir.join("efbig.reel");
    let file = dir.join("limited.bin");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writes_past_its_file_size_limit",
            "--ignored",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env("REEL_IO_ERRORS_TRACE", &trace)
        .env("REEL_IO_ERRORS_FILE", &file)
        .env("REEL_IO_ERRORS_URING", if uring { "1" } else { "0" })
        .env_remove("REEL_RECORD")
        .env_remove("REEL_REPLAY")
        .env_remove("REEL_IO_URING")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "the child failed: {output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|line| line.find(prefix).map(|at| line[at..].to_owned()))
            .unwrap_or_else(|| panic!("no {prefix:?} in the child's output:\n{stdout}"))
    };
    eprintln!("EFBIG recorded through: {}", line("backend "));
    if !uring {
        assert_eq!(line("backend "), "backend helper threads");
    }
    let expected = (
        SIZE_LIMIT_BYTES,
        (Some(libc::EFBIG), ErrorKind::FileTooLarge),
    );
    assert_eq!(
        line("result "),
        format!(
            "result {} {:?} {:?}",
            expected.0, expected.1.0, expected.1.1
        )
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        SIZE_LIMIT_BYTES as u64,
        "the file stopped at the limit"
    );
    assert_eq!(recorded_errnos(&trace), vec![libc::EFBIG]);
    // This process has no such limit, and the file is gone: the error comes from the trace.
    std::fs::remove_file(&file).unwrap();
    let mut replayed = None;
    let report = Replay::from_file(&trace)
        .unwrap()
        .run(|| replayed = Some(file_size_program(&file)))
        .unwrap();
    assert!(report.reproduced(), "{report}");
    assert_eq!(replayed, Some(expected));
    assert!(!file.exists(), "the replay created nothing");
}

#[test]
fn a_write_past_the_file_size_limit_replays_as_efbig_through_io_uring() {
    check_file_size_limit(true);
}

#[test]
fn a_write_past_the_file_size_limit_replays_as_efbig_through_the_helper_threads() {
    check_file_size_limit(false);
}

/// The bytes the damaged-trace program reads: easy to find in the trace.
const MARKER: &[u8; 40] = b"reel I/O payload marker, 40 bytes long..";

/// Reads a file holding [`MARKER`], in one read.
fn marker_program(path: &Path) -> Vec<u8> {
    let mut bytes = vec![0; 64];
    let read = reel::fs::File::open(path)
        .unwrap()
        .read(&mut bytes)
        .unwrap();
    bytes.truncate(read);
    bytes
}

#[test]
fn a_damaged_io_result_is_a_typed_error_naming_the_io_event() {
    let dir = scratch_dir("damaged");
    let path = dir.join("marker.reel");
    let file = dir.join("marker.txt");
    std::fs::write(&file, MARKER).unwrap();
    assert_eq!(
        Runtime::new().record(&path).run(|| marker_program(&file)),
        MARKER
    );
    let mut bytes = std::fs::read(&path).unwrap();
    // The read's result is `Bytes` (variant 2), its length (40, one varint byte), the bytes.
    let marker_at = bytes
        .windows(MARKER.len())
        .position(|window| window == MARKER)
        .expect("the bytes read are in the trace");
    assert_eq!(&bytes[marker_at - 2..marker_at], &[2, MARKER.len() as u8]);
    // Damage: a result variant that does not exist, behind a valid checksum.
    let damaged_at = marker_at - 2;
    bytes[damaged_at] = 99;
    let (chunk_start, _) = tests_support::chunk_frame_around(&bytes, damaged_at);
    tests_support::refresh_crc(&mut bytes, chunk_start);

    let error = reel_trace::decode(&bytes).unwrap_err();
    let reel_trace::ErrorKind::Malformed(message) = &error.kind else {
        panic!("not a malformed event: {error:?}");
    };
    assert!(
        message.contains("an I/O event does not decode"),
        "{message}"
    );
    assert!(error.chunk.is_some(), "{error:?}");
    let offset = error.offset as usize;
    assert!(
        (chunk_start + 8..=damaged_at).contains(&offset),
        "the error's offset {offset} is in the damaged chunk, at or before the damage at \
         {damaged_at}"
    );
    assert_eq!(reel_trace::decode_prefix(&bytes), Err(error.clone()));
    assert_eq!(
        Replay::from_bytes(&bytes).unwrap_err(),
        ReplayError::Trace(error.clone())
    );
    let damaged = dir.join("damaged.reel");
    std::fs::write(&damaged, &bytes).unwrap();
    let from_file = Replay::from_file(&damaged).unwrap_err().to_string();
    assert!(
        from_file.contains(&damaged.display().to_string())
            && from_file.contains("an I/O event does not decode")
            && from_file.contains(&error.offset.to_string()),
        "{from_file}"
    );
}
