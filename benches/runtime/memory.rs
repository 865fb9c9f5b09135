//! Resident memory per live blocked thread: each case runs in a child process of its own (this
//! binary, re-executed with `--memory-child CASE`), so one case's allocations never count in
//! another's.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Run;
use crate::measure::{Figure, in_one_shuttle_execution};
use crate::table::{Goal, Unit, VersusRow, format_number};

/// Green threads held alive at once in the reel cases (divided by ten under `--quick`).
const REEL_THREADS: usize = 100_000;
/// OS threads (std) and shuttle threads held alive at once in their cases: OS limits
/// (pid_max, vm.max_map_count) keep std well below reel's count.
const OTHER_THREADS: usize = 10_000;
/// Stack size of the small-stack reel case.
const REEL_SMALL_STACK_BYTES: usize = 16 * 1024;
/// How long a child may run before it is killed and reported as failed.
const CHILD_TIMEOUT: Duration = Duration::from_secs(90);
/// Goal: one blocked reel green thread costs at most this much resident memory.
const GOAL_KIB_PER_THREAD: f64 = 16.0;
/// The prefix of the line a child prints its result on.
const RESULT_PREFIX: &str = "memory-result";

for_each_runtime! {
    use runtime::sync::atomic::{AtomicUsize, Ordering};
    use runtime::sync::{Arc, Barrier};
    use runtime::thread;

    use super::resident_kib;

    /// Spawns `count` threads (with `stack_bytes` each, or the runtime's default) that all
    /// block on one barrier, reads the resident set before the first spawn and once every
    /// thread has arrived, then releases and joins them all.
    /// Returns (resident KiB before, resident KiB with all threads blocked).
    pub fn hold_blocked_threads(count: usize, stack_bytes: Option<usize>) -> (u64, u64) {
        let arrived = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Barrier::new(count + 1));
        let mut handles = Vec::with_capacity(count);
        let before_kib = resident_kib();
        for _ in 0..count {
            let arrived = Arc::clone(&arrived);
            let release = Arc::clone(&release);
            let mut builder = thread::Builder::new();
            if let Some(bytes) = stack_bytes {
                builder = builder.stack_size(bytes);
            }
            let handle = builder
                .spawn(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    release.wait();
                })
                .expect("the runtime can spawn this many threads");
            handles.push(handle);
        }
        while arrived.load(Ordering::SeqCst) < count {
            thread::yield_now();
        }
        let after_kib = resident_kib();
        release.wait();
        for handle in handles {
            handle.join().expect("a blocked thread does not panic");
        }
        (before_kib, after_kib)
    }
}

/// The resident set of this process in KiB (VmRSS of /proc/self/status).
fn resident_kib() -> u64 {
    let status =
        std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("/proc/self/status has a VmRSS line");
    line.trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmRSS is a number of kB")
}

/// One memory case, run in its own child process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryCase {
    ReelDefaultStack,
    ReelSmallStack,
    Shuttle,
    Std,
}

impl MemoryCase {
    const ALL: [MemoryCase; 4] = [
        MemoryCase::ReelDefaultStack,
        MemoryCase::ReelSmallStack,
        MemoryCase::Shuttle,
        MemoryCase::Std,
    ];

    /// The argument that names this case to the child process.
    fn argument(self) -> &'static str {
        match self {
            MemoryCase::ReelDefaultStack => "reel-default-stack",
            MemoryCase::ReelSmallStack => "reel-small-stack",
            MemoryCase::Shuttle => "shuttle",
            MemoryCase::Std => "std",
        }
    }

    pub fn from_argument(argument: &str) -> Option<MemoryCase> {
        MemoryCase::ALL
            .into_iter()
            .find(|case| case.argument() == argument)
    }

    /// The threads this case holds blocked.
    fn threads(self, quick: bool) -> usize {
        let threads = match self {
            MemoryCase::ReelDefaultStack | MemoryCase::ReelSmallStack => REEL_THREADS,
            MemoryCase::Shuttle | MemoryCase::Std => OTHER_THREADS,
        };
        if quick { threads / 10 } else { threads }
    }

    fn stack_description(self) -> String {
        match self {
            // 256 KiB is the default documented on `reel::Runtime::new`.
            MemoryCase::ReelDefaultStack => "default 256 KiB stack".to_string(),
            MemoryCase::ReelSmallStack => format!("{} KiB stack", REEL_SMALL_STACK_BYTES / 1024),
            MemoryCase::Shuttle => format!(
                "shuttle's default {} KiB stack",
                shuttle::Config::new().stack_size / 1024
            ),
            MemoryCase::Std => "std's default stack (2 MiB reserved)".to_string(),
        }
    }

    /// Runs the case in this (child) process and returns (KiB before, KiB after).
    fn run_here(self, threads: usize) -> (u64, u64) {
        match self {
            MemoryCase::ReelDefaultStack => {
                reel::run(move || on_reel::hold_blocked_threads(threads, None))
            }
            MemoryCase::ReelSmallStack => reel::run(move || {
                on_reel::hold_blocked_threads(threads, Some(REEL_SMALL_STACK_BYTES))
            }),
            MemoryCase::Shuttle => {
                in_one_shuttle_execution(move || on_shuttle::hold_blocked_threads(threads, None))
            }
            MemoryCase::Std => on_std::hold_blocked_threads(threads, None),
        }
    }
}

/// The child's side: measures `case` and prints the result line the parent reads.
pub fn run_child(case: MemoryCase, quick: bool) {
    let threads = case.threads(quick);
    let (before_kib, after_kib) = case.run_here(threads);
    println!("{RESULT_PREFIX} {threads} {before_kib} {after_kib}");
}

/// What a child measured.
struct MemoryResult {
    threads: usize,
    before_kib: u64,
    after_kib: u64,
}

impl MemoryResult {
    fn kib_per_thread(&self) -> f64 {
        self.after_kib.saturating_sub(self.before_kib) as f64 / self.threads.max(1) as f64
    }
}

/// Re-executes this binary to run `case` in a fresh process; Err says why no figure came back.
fn run_in_child(case: MemoryCase, quick: bool) -> Result<MemoryResult, String> {
    let executable = std::env::current_exe().map_err(|error| format!("current_exe: {error}"))?;
    let mut command = Command::new(executable);
    command.args(["--memory-child", case.argument()]);
    if quick {
        command.arg("--quick");
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("could not start the child: {error}"))?;
    // Read both pipes on their own threads so that a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > CHILD_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(error) => return Err(format!("waiting for the child: {error}")),
        }
    };
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr = stderr_reader.join().unwrap_or_default();
    let last_stderr_line = stderr.lines().rev().find(|line| !line.trim().is_empty());
    let Some(status) = status else {
        return Err(format!("killed after {} s", CHILD_TIMEOUT.as_secs()));
    };
    if !status.success() {
        return Err(format!(
            "child failed ({status}): {}",
            last_stderr_line.unwrap_or("no message")
        ));
    }
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| "the child printed no result".to_string())?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("malformed child result {line:?}: {error}"))?;
    let [threads, before_kib, after_kib] = fields[..] else {
        return Err(format!(
            "malformed child result {line:?}: expected 3 numbers"
        ));
    };
    Ok(MemoryResult {
        threads: usize::try_from(threads).map_err(|error| error.to_string())?,
        before_kib,
        after_kib,
    })
}

/// `memory`: every case in its child, then one row per reel stack size.
pub fn measure(run: &mut Run) {
    let mut results: Vec<(MemoryCase, Option<MemoryResult>)> = Vec::new();
    for case in MemoryCase::ALL {
        let started = Instant::now();
        match run_in_child(case, run.quick) {
            Ok(result) => {
                println!(
                    "{:<20} {:>7} threads, {}: RSS {} KiB -> {} KiB = {} KiB/thread ({:.1} s)",
                    case.argument(),
                    result.threads,
                    case.stack_description(),
                    result.before_kib,
                    result.after_kib,
                    format_number(result.kib_per_thread()),
                    started.elapsed().as_secs_f64(),
                );
                results.push((case, Some(result)));
            }
            Err(error) => {
                println!("{:<20} FAILED: {error}", case.argument());
                results.push((case, None));
            }
        }
    }
    let per_thread = |wanted: MemoryCase| {
        results
            .iter()
            .find(|(case, _)| *case == wanted)
            .and_then(|(_, result)| result.as_ref())
            .map(|result| Figure::exact(result.kib_per_thread()))
    };
    for reel_case in [MemoryCase::ReelDefaultStack, MemoryCase::ReelSmallStack] {
        run.report.versus.push(VersusRow {
            title: format!(
                "RSS per blocked thread (reel: {} threads, {})",
                format_number(reel_case.threads(run.quick) as f64),
                reel_case.stack_description()
            ),
            unit: Unit::KibPerThread,
            reel: per_thread(reel_case),
            shuttle: per_thread(MemoryCase::Shuttle),
            std: per_thread(MemoryCase::Std),
            goal: Goal::ReelAtMost {
                limit: GOAL_KIB_PER_THREAD,
                unit: "KiB",
            },
        });
    }
    run.report.notes.push(format!(
        "memory: one reading per case, each in a child process: threads held blocked on one \
         Barrier: reel {}, shuttle {} ({}), std {} ({}); KiB/thread = (VmRSS with all blocked \
         - VmRSS before spawning) / threads",
        MemoryCase::ReelDefaultStack.threads(run.quick),
        MemoryCase::Shuttle.threads(run.quick),
        MemoryCase::Shuttle.stack_description(),
        MemoryCase::Std.threads(run.quick),
        MemoryCase::Std.stack_description(),
    ));
}
