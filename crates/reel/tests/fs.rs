//! Files under reel: real temp files through io_uring and through the helper threads,
//! recorded, then replayed in a new process with the files deleted.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reel::fs::{self, File, OpenOptions};

mod child;
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
    // Errors as std gives them: a name taken, a path that is not there, a file open for
    // nothing (std refuses that one itself), a zero byte in a path (these two have no errno:
    // the trace keeps their message, and they come back as `Other`).
    let taken = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(sub.join("big.bin"))
        .unwrap_err()
        .kind();
    let no_metadata = fs::metadata(&path).unwrap_err().kind();
    let no_access = OpenOptions::new().open(&path).unwrap_err().kind();
    let zero_byte = fs::remove_file("a\0b").unwrap_err().kind();
    fs::remove_file(sub.join("renamed.txt")).unwrap();
    fs::remove_file(sub.join("big.bin")).unwrap();
    let not_removed = fs::remove_file(sub.join("big.bin")).unwrap_err().kind();
    let not_renamed = fs::rename(&path, sub.join("other.txt")).unwrap_err().kind();
    fs::create_dir(sub.join("made")).unwrap();
    let made = fs::metadata(sub.join("made")).unwrap();
    let made_again = fs::create_dir(sub.join("made")).unwrap_err().kind();
    let is_dir = fs::metadata(&sub).unwrap().is_dir() && made.is_dir() && !made.is_file();
    format!(
        "{text:?} {} {} {length} {} {names:?} {missing:?} {is_dir} {taken:?} {no_metadata:?} \
         {no_access:?} {zero_byte:?} {not_removed:?} {not_renamed:?} {made_again:?}",
        String::from_utf8_lossy(&word),
        String::from_utf8_lossy(&head),
        read_back == big
    )
}

const EXPECTED: &str = "\"first line\\nsecond line\\n\" line FIRST 11 true \
     [\"big.bin\", \"renamed.txt\"] NotFound true AlreadyExists NotFound Other Other \
     NotFound NotFound AlreadyExists";

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

/// Runs `f` on a std thread and returns its value; fails (rather than hangs) when it has
/// not returned within a generous bound.
fn within_bound<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} did not end"))
}

#[test]
fn a_run_ends_while_a_thread_still_reads_a_fifo_nobody_writes() {
    let dir = scratch_dir("fifo");
    let fifo = dir.join("fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    for uring in [true, false] {
        let fifo = fifo.clone();
        let ended = within_bound("the run with a read of a FIFO left", move || {
            Runtime::new().io_uring(uring).run(move || {
                // Read and write: the open does not wait for a writer.
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&fifo)
                    .unwrap();
                reel::thread::spawn(move || {
                    let mut buffer = [0; 16];
                    let _ = (&file).read(&mut buffer);
                });
                reel::thread::yield_now();
                true
            })
        });
        assert!(ended);
    }
}

#[test]
fn threads_sharing_one_file_never_miss_their_completions() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = scratch_dir("shared");
    for uring in [false, true] {
        let fifo = dir.join(format!("fifo-{uring}"));
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `name` is a NUL-terminated string that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let report = within_bound("the exploration of a shared file", move || {
            // Chooses the path file operations take on this kernel thread from now on.
            Runtime::new().io_uring(uring).run(|| ());
            reel::Checker::new()
                .random()
                .seed(0x5eed)
                .iterations(300)
                .max_steps(200_000)
                .run(move || {
                    let file = Arc::new(
                        OpenOptions::new()
                            .read(true)
                            .write(true)
                            .open(&fifo)
                            .unwrap(),
                    );
                    // One thread waits long on the file (a read of the FIFO, until main
                    // writes); another's operations on it end at once. A completion of the
                    // second must reach it even when reported before it began to wait.
                    let reader = {
                        let file = Arc::clone(&file);
                        reel::thread::spawn(move || {
                            let mut buffer = [0; 4];
                            (&*file).read_exact(&mut buffer).unwrap();
                            buffer
                        })
                    };
                    let synced = Arc::new(AtomicBool::new(false));
                    let syncer = {
                        let (file, synced) = (Arc::clone(&file), Arc::clone(&synced));
                        reel::thread::spawn(move || {
                            for _ in 0..3 {
                                let _ = file.sync_data(); // A FIFO: an error, at once.
                            }
                            synced.store(true, Ordering::SeqCst);
                        })
                    };
                    // Yielding lets the driver report completions while a thread is
                    // between its submission and its wait (the pause gives a helper
                    // thread time to finish: the step bound is not reached while the
                    // syncer still has a completion to come).
                    while !synced.load(Ordering::SeqCst) {
                        reel::thread::yield_now();
                        std::thread::sleep(std::time::Duration::from_micros(20));
                    }
                    syncer.join().unwrap();
                    (&*file).write_all(b"data").unwrap();
                    assert_eq!(&reader.join().unwrap(), b"data");
                })
        });
        assert!(
            report.failure.is_none(),
            "io_uring {uring}: {:?}",
            report.failure
        );
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

/// Writes and reads at the file's position up to and past a size limit of 10 bytes (a full
/// write, a short one, a refused one), through `file`; returns each count or errno and the
/// position after it.
fn position_program(mut file: impl Read + Write + Seek + FileExt) -> String {
    let mut seen = Vec::new();
    let mut note = |what: std::io::Result<usize>, file: &mut dyn SeekPosition| {
        let outcome = match what {
            Ok(count) => count.to_string(),
            Err(error) => format!("errno {:?}", error.raw_os_error()),
        };
        seen.push(format!("{outcome}@{}", file.position()));
    };
    let written = file.write(b"01234");
    note(written, &mut file);
    // 11 bytes, 5 of which fit under the limit: a short write.
    let written = file.write(b"56789abcdef");
    note(written, &mut file);
    // At the limit: refused (EFBIG), the position stays.
    let written = file.write(b"x");
    note(written, &mut file);
    // At an offset: the position stays where it is.
    let written = file.write_at(b"Q", 2);
    note(written, &mut file);
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut buffer = [0; 4];
    let read = file.read(&mut buffer);
    note(read, &mut file);
    let read = file.read_at(&mut buffer, 6);
    note(read, &mut file);
    let mut rest = Vec::new();
    let read = file.read_to_end(&mut rest);
    note(read, &mut file);
    seen.push(String::from_utf8_lossy(&rest).into_owned());
    seen.join(" ")
}

/// The file position, as `seek(SeekFrom::Current(0))` gives it.
trait SeekPosition {
    fn position(&mut self) -> u64;
}

impl<T: Seek> SeekPosition for T {
    fn position(&mut self) -> u64 {
        self.stream_position().unwrap()
    }
}

/// The child of the position test (never run on its own): lowers its file size limit to
/// 10 bytes, then runs [`position_program`] on std's File, on reel's through io_uring and
/// on reel's through the helper threads.
#[test]
#[ignore = "a child process of the file position test"]
fn child_writes_past_its_file_size_limit() {
    let Some(dir) = std::env::var_os("REEL_FS_LIMIT_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit to write to.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) };
    assert_eq!(got, 0);
    limit.rlim_cur = 10;
    // SAFETY: `limit` is a valid rlimit; lowering the soft limit needs no privilege.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) };
    assert_eq!(set, 0);
    // SAFETY: ignoring a signal installs no handler; a write past the limit then fails with
    // EFBIG rather than end the process.
    let previous = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    assert_ne!(previous, libc::SIG_ERR);
    for append in [false, true] {
        let mode = if append { "append" } else { "write" };
        let of_std = std::fs::OpenOptions::new()
            .read(true)
            .write(!append)
            .append(append)
            .create_new(true)
            .open(dir.join(format!("std-{mode}")))
            .unwrap();
        println!("std {mode}: {}", position_program(of_std));
        for uring in [true, false] {
            let path = dir.join(format!("reel-{uring}-{mode}"));
            let (seen, backend) = Runtime::new().io_uring(uring).run(move || {
                let file = OpenOptions::new()
                    .read(true)
                    .write(!append)
                    .append(append)
                    .create_new(true)
                    .open(&path)
                    .unwrap();
                (position_program(file), fs::backend())
            });
            println!("{backend} {mode}: {seen}");
        }
    }
}

#[test]
fn writes_at_the_file_position_leave_it_where_std_does() {
    let dir = scratch_dir("position");
    let output = child::child_test(
        "child_writes_past_its_file_size_limit",
        "REEL_FS_LIMIT_MARKER",
    )
    .env("REEL_FS_LIMIT_DIR", &dir)
    .arg("--test-threads=1")
    .stdin(Stdio::null())
    .stderr(Stdio::inherit())
    .output()
    .unwrap();
    assert!(output.status.success(), "the child failed: {output:?}");
    let output = String::from_utf8(output.stdout).unwrap();
    eprintln!("{output}");
    // A full write, a short one (to the limit), a refused one (EFBIG), one at an offset,
    // then reads.
    assert_eq!(
        printed(&output, "std write: "),
        "5@5 5@10 errno Some(27)@10 1@10 4@4 4@4 6@10 456789"
    );
    // Appending, the write at an offset appends too (and is refused at the limit).
    assert_eq!(
        printed(&output, "std append: "),
        "5@5 5@10 errno Some(27)@10 errno Some(27)@10 4@4 4@4 6@10 456789"
    );
    let uring_available = Runtime::new().run(fs::backend) == "io_uring";
    for mode in ["write", "append"] {
        let of_std = printed(&output, &format!("std {mode}: "));
        assert_eq!(
            printed(&output, &format!("helper threads {mode}: ")),
            of_std
        );
        if uring_available {
            assert_eq!(printed(&output, &format!("io_uring {mode}: ")), of_std);
        }
    }
    if !uring_available {
        eprintln!("io_uring is not available here: only the helper threads were checked");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Makes a directory and a file under `dir`, writes, syncs, reads, stats, renames and
/// removes it; returns what it saw.
fn traced_program(dir: &Path) -> String {
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    let path = sub.join("data.txt");
    let mut file = File::create(&path).unwrap();
    file.write_all(b"hello, ring!").unwrap();
    file.set_len(11).unwrap();
    file.sync_all().unwrap();
    file.sync_data().unwrap();
    let length = file.metadata().unwrap().len();
    drop(file);
    let text = fs::read_to_string(&path).unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    file.write_at(b"H", 0).unwrap();
    let mut head = [0; 5];
    file.read_at(&mut head, 0).unwrap();
    drop(file);
    let moved = sub.join("moved.txt");
    fs::rename(&path, &moved).unwrap();
    let is_file = fs::metadata(&moved).unwrap().is_file();
    fs::remove_file(&moved).unwrap();
    let gone = fs::metadata(&moved).unwrap_err().kind();
    format!(
        "{length} {text} {} {is_file} {gone:?}",
        String::from_utf8_lossy(&head)
    )
}

const TRACED_EXPECTED: &str = "11 hello, ring Hello true NotFound";

/// The child of the strace test (never run on its own): runs [`traced_program`] under
/// REEL_FS_TRACED_DIR.
#[test]
#[ignore = "a child process of the strace test"]
fn child_runs_the_traced_program() {
    let Some(dir) = std::env::var_os("REEL_FS_TRACED_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let (result, backend) = reel::run(move || (traced_program(&dir), fs::backend()));
    println!("backend {backend}");
    println!("result {result}");
}

/// The system calls the strace test watches.
const WATCHED: &str = "openat,open,read,write,pwrite64,pread64,rename,renameat,renameat2,\
                       unlink,unlinkat,statx,newfstatat,fsync,fdatasync,mkdir,mkdirat,ftruncate,\
                       close";

/// One system call strace reported: its name and its whole text.
#[derive(Debug)]
struct Syscall {
    name: String,
    text: String,
}

impl Syscall {
    /// The first argument, when it is a number (a descriptor).
    fn first_fd(&self) -> Option<i64> {
        let arguments = &self.text[self.text.find('(')? + 1..];
        let end = arguments.find([',', ')'])?;
        arguments[..end].trim().parse().ok()
    }

    /// The result, when it is a number.
    fn result(&self) -> Option<i64> {
        let at = self.text.rfind(") = ")?;
        self.text[at + 4..].split_whitespace().next()?.parse().ok()
    }
}

/// The system calls in strace's output (`-f -o`: each line starts with the thread's id; a
/// call interrupted by another thread's is split into an unfinished and a resumed line).
fn syscalls(output: &str) -> Vec<Syscall> {
    let mut unfinished: std::collections::HashMap<String, String> = Default::default();
    let mut calls = Vec::new();
    for line in output.lines() {
        let (pid, text) = line.split_once(' ').unwrap_or(("", line));
        let text = text.trim_start();
        let text = if let Some(begun) = text.strip_suffix("<unfinished ...>") {
            unfinished.insert(pid.to_owned(), begun.to_owned());
            continue;
        } else if let Some(rest) = text.strip_prefix("<... ") {
            let rest = rest.split_once("resumed>").map_or(rest, |(_, rest)| rest);
            format!("{}{rest}", unfinished.remove(pid).unwrap_or_default())
        } else {
            text.to_owned()
        };
        if let Some(open) = text.find('(') {
            let name = text[..open].to_owned();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                calls.push(Syscall { name, text });
            }
        }
    }
    calls
}

/// The io_uring opcode of the operation that a system call of the program stands for.
fn opcode_of(syscall: &str) -> Option<u8> {
    use io_uring::opcode;
    Some(match syscall {
        "openat" | "open" => opcode::OpenAt::CODE,
        "read" | "pread64" => opcode::Read::CODE,
        "write" | "pwrite64" => opcode::Write::CODE,
        "rename" | "renameat" | "renameat2" => opcode::RenameAt::CODE,
        "unlink" | "unlinkat" => opcode::UnlinkAt::CODE,
        "statx" | "newfstatat" => opcode::Statx::CODE,
        "fsync" | "fdatasync" => opcode::Fsync::CODE,
        "mkdir" | "mkdirat" => opcode::MkDirAt::CODE,
        "ftruncate" => opcode::Ftruncate::CODE,
        _ => return None,
    })
}

/// Runs [`traced_program`] in a child under strace, with io_uring on or off; returns the
/// watched system calls that name `dir` (or a descriptor opened under it), and the child's
/// output.
fn traced_run(dir: &Path, uring: bool) -> (Vec<Syscall>, String) {
    let files = dir.join(if uring { "uring" } else { "helpers" });
    std::fs::create_dir_all(&files).unwrap();
    let log = dir.join(format!("strace-{uring}.txt"));
    let mut command = child::child_test_under_strace(
        "child_runs_the_traced_program",
        "REEL_FS_TRACED_DIR",
        &log,
        WATCHED,
    );
    command
        .arg("--test-threads=1")
        .env("REEL_FS_TRACED_DIR", &files)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if !uring {
        command.env("REEL_IO_URING", "0");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "the traced child failed: {output:?}"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed(&stdout, "result "), TRACED_EXPECTED);
    let log = std::fs::read_to_string(&log).unwrap();
    let files = files.to_str().unwrap();
    let mut descriptors = std::collections::HashSet::new();
    let mut program = Vec::new();
    for call in syscalls(&log) {
        let fd = call.first_fd();
        if call.name == "close" {
            if let Some(fd) = fd {
                descriptors.remove(&fd);
            }
            continue;
        }
        let names_files = call.text.contains(files);
        if names_files
            && (call.name == "openat" || call.name == "open")
            && let Some(fd) = call.result().filter(|&fd| fd >= 0)
        {
            descriptors.insert(fd);
        }
        if names_files || fd.is_some_and(|fd| descriptors.contains(&fd)) {
            program.push(call);
        }
    }
    (program, stdout)
}

#[test]
fn on_io_uring_no_system_call_touches_the_programs_files() {
    if !child::strace_usable() {
        return;
    }
    let dir = scratch_dir("strace");
    // The helper threads make the system calls themselves: strace sees them (which shows
    // it would see the program's calls if they were made).
    let (on_helpers, stdout) = traced_run(&dir, false);
    assert_eq!(printed(&stdout, "backend "), "helper threads");
    eprintln!("on the helper threads: {:#?}", on_helpers);
    for expected in [
        "openat",
        "write",
        "fsync",
        "fdatasync",
        "read",
        "statx",
        "unlink",
        "ftruncate",
    ] {
        assert!(
            on_helpers.iter().any(|call| call.name == expected),
            "no {expected} of the program's files was seen on the helper threads"
        );
    }
    assert!(
        on_helpers
            .iter()
            .any(|call| call.name.starts_with("rename"))
    );
    assert!(on_helpers.iter().any(|call| call.name.starts_with("mkdir")));
    // What the kernel's io_uring can do, as the runtime's ring asks it.
    let probe = io_uring::IoUring::new(4).ok().map(|ring| {
        let mut probe = io_uring::Probe::new();
        let probed = ring.submitter().register_probe(&mut probe).is_ok();
        (probe, probed)
    });
    let Some((probe, probed)) = probe else {
        eprintln!("io_uring is not available here: only the helper threads were checked");
        return;
    };
    let supported =
        |code: u8| code == io_uring::opcode::Fsync::CODE || (probed && probe.is_supported(code));
    let (on_ring, stdout) = traced_run(&dir, true);
    assert_eq!(printed(&stdout, "backend "), "io_uring");
    eprintln!("on io_uring: {:#?}", on_ring);
    let mut made_anyway = Vec::new();
    for call in &on_ring {
        match opcode_of(&call.name) {
            Some(code) if !supported(code) => eprintln!(
                "this kernel's io_uring has no opcode {code}: {} ran on a helper thread",
                call.name
            ),
            _ => made_anyway.push(&call.text),
        }
    }
    assert!(
        made_anyway.is_empty(),
        "system calls on the program's files, with io_uring on: {made_anyway:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// How many of this process's descriptors are open on `path`.
fn descriptors_open_on(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// On io_uring, an open whose completion its thread never takes (the run ended first) has its
/// descriptor closed with the ring. (On the helper threads the opened file is handed to the
/// waiting thread's state, which an abandoned thread leaks with everything else it holds.)
#[test]
fn a_file_opened_on_io_uring_for_a_thread_the_run_abandons_is_closed() {
    let dir = scratch_dir("abandoned-open");
    let path = dir.join("opened.txt");
    std::fs::write(&path, b"contents").unwrap();
    if Runtime::new().run(fs::backend) != "io_uring" {
        eprintln!("io_uring is not available here: nothing to check");
        return;
    }
    for _ in 0..10 {
        let path = path.clone();
        Runtime::new().io_uring(true).run(move || {
            reel::thread::spawn(move || {
                let file = File::open(&path).unwrap();
                reel::thread::yield_now();
                drop(file);
            });
            // The other thread submits its open and waits for it; the run ends.
            reel::thread::yield_now();
        });
    }
    assert_eq!(descriptors_open_on(&path), 0);
}
