//! Green thread stacks: a stack overflow kills the process with a message naming the green thread
//! (checked in a child process), and stack sizes set through `Builder` and `Runtime` are honoured.

use std::hint::black_box;
use std::process::Command;

use reel::thread;

/// Recurses `depth` times, each frame holding an 8 KiB array, and returns a value that depends on
/// every frame so none can be optimised away.
fn deep_recursion(depth: usize) -> u64 {
    let mut frame = [0u8; 8 * 1024];
    frame[depth % frame.len()] = depth as u8;
    black_box(&mut frame);
    let below = if depth == 0 {
        0
    } else {
        deep_recursion(depth - 1)
    };
    below + u64::from(frame[depth % frame.len()]) + 1
}

/// The value `deep_recursion(depth)` returns.
fn expected_deep_recursion(depth: usize) -> u64 {
    (0..=depth).map(|d| d as u64 % 256 + 1).sum()
}

/// 64 frames of more than 8 KiB each: well over 512 KiB of stack.
const DEEP: usize = 64;

#[test]
fn builder_stack_size_allows_half_a_mebibyte_of_recursion() {
    let value = reel::run(|| {
        thread::Builder::new()
            .name("deep".to_string())
            .stack_size(1 << 20)
            .spawn(|| deep_recursion(DEEP))
            .unwrap()
            .join()
            .unwrap()
    });
    assert_eq!(value, expected_deep_recursion(DEEP));
}

#[test]
fn runtime_stack_size_sets_the_default_for_spawned_threads() {
    let value = reel::Runtime::new().stack_size(1 << 20).run(|| {
        let spawned = thread::spawn(|| deep_recursion(DEEP)).join().unwrap();
        let scoped = thread::scope(|scope| scope.spawn(|| deep_recursion(DEEP)).join().unwrap());
        assert_eq!(spawned, scoped);
        spawned
    });
    assert_eq!(value, expected_deep_recursion(DEEP));
}

#[test]
fn runtime_stack_size_applies_to_the_main_green_thread() {
    let value = reel::Runtime::new()
        .stack_size(1 << 20)
        .run(|| deep_recursion(DEEP));
    assert_eq!(value, expected_deep_recursion(DEEP));
}

#[test]
fn checker_stack_size_sets_the_default() {
    let report = reel::Checker::new()
        .iterations(5)
        .stack_size(1 << 20)
        .run(|| {
            let value = thread::spawn(|| deep_recursion(DEEP)).join().unwrap();
            assert_eq!(value, expected_deep_recursion(DEEP));
        });
    assert!(!report.found(), "{report}");
}

/// Set in a child process to make `a_stack_overflow_names_the_green_thread` overflow for real.
const CHILD_MARKER: &str = "REEL_TEST_STACK_OVERFLOW_CHILD";

/// Recurses until the stack runs out.
fn recurse_forever(depth: u64) -> u64 {
    let mut frame = [depth; 128];
    black_box(&mut frame);
    if black_box(true) {
        recurse_forever(depth + 1) + frame[0]
    } else {
        frame[1]
    }
}

/// Runs test `test_name` again in a child process (which overflows a stack), checks that
/// the child did not survive, and returns what it printed on stderr.
fn overflowing_child_stderr(test_name: &str) -> String {
    // One directory per test: each removes its own when done, while others may still run.
    let trace_dir =
        std::env::temp_dir().join(format!("reel-stack-{}-{test_name}", std::process::id()));
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_MARKER, "1")
        .env("REEL_TRACE_DIR", &trace_dir)
        .env_remove("REEL_REPLAY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "the child survived a stack overflow\nstderr:\n{stderr}"
    );
    stderr
}

#[test]
fn a_stack_overflow_names_the_green_thread() {
    const TEST_NAME: &str = "a_stack_overflow_names_the_green_thread";
    if std::env::var_os(CHILD_MARKER).is_some() {
        reel::run(|| {
            let handle = thread::Builder::new()
                .name("bottomless".to_string())
                .stack_size(64 * 1024)
                .spawn(|| recurse_forever(0))
                .unwrap();
            let _ = handle.join();
        });
        unreachable!("the green thread should have overflowed its stack");
    }

    let stderr = overflowing_child_stderr(TEST_NAME);
    assert!(stderr.contains("bottomless"), "stderr:\n{stderr}");
    assert!(stderr.contains("overflowed its stack"), "stderr:\n{stderr}");
}

#[test]
fn a_stack_overflow_under_exploration_names_the_green_thread() {
    const TEST_NAME: &str = "a_stack_overflow_under_exploration_names_the_green_thread";
    if std::env::var_os(CHILD_MARKER).is_some() {
        reel::check_random(
            || {
                let handle = thread::Builder::new()
                    .name("abyss".to_string())
                    .spawn(|| recurse_forever(0))
                    .unwrap();
                let _ = handle.join();
            },
            3,
        );
        unreachable!("the green thread should have overflowed its stack");
    }

    let stderr = overflowing_child_stderr(TEST_NAME);
    assert!(stderr.contains("abyss"), "stderr:\n{stderr}");
    assert!(stderr.contains("overflowed its stack"), "stderr:\n{stderr}");
    // The report says which execution overflowed and how to get back to it.
    assert!(
        stderr.contains("in execution 1 of an exploration; reproduce with REEL_SEED=0x"),
        "stderr:\n{stderr}"
    );
    assert!(stderr.contains("REEL_ITERATIONS=1"), "stderr:\n{stderr}");
    // The execution that crashed is saved, up to the step before the overflow.
    let saved = saved_traces(&stderr);
    let saved = saved
        .first()
        .unwrap_or_else(|| panic!("no trace saved; stderr:\n{stderr}"));
    assert!(
        saved.ends_with(format!("{TEST_NAME}-{:#x}-1.reel", reel_seed(&stderr))),
        "{}",
        saved.display()
    );
    assert_overflowed_execution(saved);
    let _ = std::fs::remove_dir_all(saved.parent().unwrap());
}

/// The traces that stderr says were saved when the process crashed, in order.
fn saved_traces(stderr: &str) -> Vec<&std::path::Path> {
    stderr
        .lines()
        .filter_map(|line| {
            line.strip_prefix("reel: the crashed execution's trace so far was saved to ")
        })
        .map(|path| std::path::Path::new(path.trim()))
        .collect()
}

/// Checks that `saved` is the trace of an execution that crashed while 'abyss' ran: readable,
/// without an outcome, with the steps up to the overflow.
fn assert_overflowed_execution(saved: &std::path::Path) {
    let trace = reel::reel_trace::read_file_prefix(saved).expect("the saved trace reads");
    assert!(trace.outcome.is_none() && trace.steps >= 1, "{trace:?}");
    assert!(
        trace
            .threads
            .iter()
            .any(|spawn| spawn.name.as_deref() == Some("abyss")),
        "{:?}",
        trace.threads
    );
}

/// The seed an overflow report names (`REEL_SEED=0x...`).
fn reel_seed(stderr: &str) -> u64 {
    let start = stderr
        .find("REEL_SEED=0x")
        .expect("the report names the seed")
        + 12;
    let digits: String = stderr[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    u64::from_str_radix(&digits, 16).expect("a hex seed")
}

#[test]
fn a_stack_overflow_of_main_names_main() {
    const TEST_NAME: &str = "a_stack_overflow_of_main_names_main";
    if std::env::var_os(CHILD_MARKER).is_some() {
        reel::Runtime::new()
            .stack_size(64 * 1024)
            .run(|| recurse_forever(0));
        unreachable!("the main green thread should have overflowed its stack");
    }

    let stderr = overflowing_child_stderr(TEST_NAME);
    assert!(stderr.contains("'main'"), "stderr:\n{stderr}");
    assert!(stderr.contains("overflowed its stack"), "stderr:\n{stderr}");
}

/// A short program for the exploration that runs beside the overflowing one.
fn two_threads_count() {
    let counter = reel::sync::Arc::new(reel::sync::Mutex::new(0u32));
    let other = {
        let counter = reel::sync::Arc::clone(&counter);
        thread::spawn(move || {
            for _ in 0..100 {
                *counter.lock().unwrap() += 1;
            }
        })
    };
    for _ in 0..100 {
        *counter.lock().unwrap() += 1;
    }
    other.join().unwrap();
}

#[test]
fn a_stack_overflow_saves_its_own_execution_while_another_exploration_runs() {
    const TEST_NAME: &str =
        "a_stack_overflow_saves_its_own_execution_while_another_exploration_runs";
    if std::env::var_os(CHILD_MARKER).is_some() {
        // Another test exploring in parallel: it publishes one execution after another.
        std::thread::Builder::new()
            .name("parallel_explorer".to_string())
            .spawn(|| {
                // On one kernel thread, so that the overflow below is the only crash saved.
                reel::Checker::new()
                    .iterations(100_000_000)
                    .jobs(1)
                    .run(two_threads_count)
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let overflowing = std::thread::Builder::new()
            .name("overflowing_explorer".to_string())
            .spawn(|| {
                reel::check_random(
                    || {
                        let handle = thread::Builder::new()
                            .name("abyss".to_string())
                            .spawn(|| recurse_forever(0))
                            .unwrap();
                        let _ = handle.join();
                    },
                    3,
                )
            })
            .unwrap();
        let _ = overflowing.join();
        unreachable!("the green thread should have overflowed its stack");
    }

    let stderr = overflowing_child_stderr(TEST_NAME);
    assert!(stderr.contains("'abyss'"), "stderr:\n{stderr}");
    assert!(stderr.contains("overflowed its stack"), "stderr:\n{stderr}");
    let saved = saved_traces(&stderr);
    let file_name =
        |path: &std::path::Path| path.file_name().unwrap().to_string_lossy().into_owned();
    // The overflowing execution is saved, by its own thread, first.
    let own = saved
        .first()
        .unwrap_or_else(|| panic!("no trace saved; stderr:\n{stderr}"));
    assert!(
        file_name(own).starts_with("overflowing_explorer-") && file_name(own).ends_with("-1.reel"),
        "{}",
        own.display()
    );
    assert_overflowed_execution(own);
    // The other exploration's execution of the moment may be saved too (the process ends
    // under it): as its own.
    for other in &saved[1..] {
        assert!(
            file_name(other).starts_with("parallel_explorer-"),
            "{}",
            other.display()
        );
        let trace = reel::reel_trace::read_file_prefix(other).expect("the saved trace reads");
        assert!(
            trace
                .threads
                .iter()
                .all(|spawn| spawn.name.as_deref() != Some("abyss")),
            "{:?}",
            trace.threads
        );
    }
    let _ = std::fs::remove_dir_all(own.parent().unwrap());
}
