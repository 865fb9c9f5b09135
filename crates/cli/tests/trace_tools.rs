//! End-to-end tests of `reel show`, `stats`, `export` and `diff` on the committed sample
//! traces (their output checked against what reel-trace decodes), and of every
//! subcommand's answer to bad input: a missing file, a damaged trace, bad arguments.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod support;

use reel_trace::{Event, OpKind, Trace};
use serde_json::Value;
use support::reencode;

/// The committed sample traces.
const TRACES: [&str; 5] = [
    "lost_update",
    "lock_order",
    "check_then_act",
    "pipeline",
    "shutdown_race",
];

fn trace_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../traces/{name}.reel"))
}

fn decode(name: &str) -> Trace {
    reel_trace::read_file(trace_path(name)).expect("a committed trace decodes")
}

/// Runs `reel` with standard input closed.
fn reel<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("reel runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `reel` and expects exit status `code`, returning its standard output.
fn reel_ok<S: AsRef<std::ffi::OsStr>>(args: &[S], code: i32) -> String {
    let output = reel(args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "reel {:?}: stdout:\n{}\nstderr:\n{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        stdout(&output),
        stderr(&output)
    );
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    stdout(&output)
}

/// A directory of its own for one test, removed when it ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("reel-trace-tools-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("the temporary directory is created");
        TempDir(path)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("the temporary file is written");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The step lines of `reel show` (they start with `#`), as their numbers.
fn step_numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a step line starts with its number")
        })
        .collect()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// reel show

#[test]
fn show_lists_every_event_with_its_step() {
    for name in TRACES {
        let trace = decode(name);
        let text = reel_ok(&[Path::new("show"), &trace_path(name)], 0);
        let mut lines = text.lines();
        let header = lines.next().expect("a header line");
        assert!(
            header.starts_with(&trace.header.program.exe_name),
            "{header}"
        );
        assert!(
            header.contains(&format!("{} steps", trace.steps)),
            "{header}"
        );
        let outcome = trace
            .outcome
            .as_ref()
            .expect("committed traces are complete");
        assert!(header.contains(outcome.kind.name()), "{header}");

        let lines: Vec<&str> = lines.collect();
        // One line per event, in order; steps numbered from 1.
        assert_eq!(lines.len(), trace.events.len(), "{name}");
        let mut number = 0;
        for (line, event) in lines.iter().zip(&trace.events) {
            match event {
                Event::Step(step) => {
                    number += 1;
                    let words: Vec<&str> = line.split_whitespace().collect();
                    assert_eq!(words[0], format!("#{number}"), "{line}");
                    // Thread, operation and location in their columns: a bare `contains`
                    // would take "unlock Mutex#0" or "blocks: lock Mutex#0" for
                    // "lock Mutex#0", or Mutex#10 for Mutex#1.
                    let rest = line[words[0].len()..].trim_start();
                    let rest = rest
                        .strip_prefix(&trace.thread_name(step.thread))
                        .unwrap_or_else(|| panic!("not the step's thread: {line}"))
                        .trim_start();
                    let rest = rest
                        .strip_prefix(&trace.operation(step))
                        .unwrap_or_else(|| panic!("not the step's operation: {line}"));
                    assert_eq!(
                        rest.trim_start(),
                        trace.location_text(step.location),
                        "{line}"
                    );
                    assert!(rest.starts_with(' '), "{line}");
                }
                Event::Spawn(_) => {
                    assert!(!line.starts_with('#') && line.contains("starts"), "{line}")
                }
                Event::Object(kind) => {
                    assert!(
                        line.contains(&format!("new object {}#", kind.name())),
                        "{line}"
                    )
                }
                Event::Timeout { thread } => {
                    assert!(line.contains(&trace.thread_name(*thread)), "{line}");
                    assert!(line.contains("timeout"), "{line}");
                }
                Event::Preemption { thread } => {
                    assert!(line.contains(&trace.thread_name(*thread)), "{line}");
                    assert!(line.contains("preempted"), "{line}");
                }
                Event::Stall(stall) => {
                    assert!(line.contains(&trace.thread_name(stall.thread)), "{line}");
                    assert!(line.contains("stall"), "{line}");
                }
                Event::Outcome(outcome) => {
                    assert!(line.contains(&trace.describe_outcome(outcome)), "{line}")
                }
                Event::Signal(arrival) => {
                    assert!(
                        line.contains(&format!("signal {}", arrival.name())),
                        "{line}"
                    )
                }
                Event::ClockRead(reading) => {
                    assert!(line.contains(&format!("reads the {reading}")), "{line}")
                }
                Event::RandomSeed { seed } => {
                    assert!(
                        line.contains(&format!("random seed {seed:#018x}")),
                        "{line}"
                    )
                }
                Event::Io(_) => assert!(line.contains("I/O"), "{line}"),
            }
        }
        assert_eq!(step_numbers(&text).len() as u64, trace.steps, "{name}");
    }
    // Aligned columns: every step line has its location at the same column.
    let text = reel_ok(&["show", &trace_path("pipeline").to_string_lossy()], 0);
    let columns: Vec<usize> = text
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| line.find("examples/").expect("a location"))
        .collect();
    assert!(columns.windows(2).all(|pair| pair[0] == pair[1]));
}

#[test]
fn show_filters_by_step_range_and_thread() {
    let trace = decode("pipeline");
    let path = trace_path("pipeline");
    let path = path.to_string_lossy();

    let text = reel_ok(&["show", &path, "--from", "10", "--to", "20"], 0);
    assert_eq!(step_numbers(&text), (10..=20).collect::<Vec<u64>>());
    let text = reel_ok(&["show", &path, "--from", "330"], 0);
    assert_eq!(step_numbers(&text), vec![330, 331, 332]);
    assert!(
        text.lines()
            .last()
            .is_some_and(|line| line.contains("outcome: ok"))
    );
    let text = reel_ok(&["show", &path, "--to", "2"], 0);
    assert_eq!(step_numbers(&text), vec![1, 2]);
    // The events before step 1 (main and the producer starting) belong to step 1.
    assert!(text.contains("T0 'main'  starts") || text.contains("starts (the main thread)"));

    let worker: Vec<u64> = trace
        .step_events()
        .zip(1..)
        .filter(|(step, _)| step.thread == 2)
        .map(|(_, number)| number)
        .collect();
    for spec in ["2", "T2", "worker-0", "T2 'worker-0'"] {
        let text = reel_ok(&["show", &path, "--thread", spec], 0);
        assert_eq!(step_numbers(&text), worker, "--thread {spec}");
        for line in text
            .lines()
            .skip(1)
            .filter(|line| !line.contains("outcome:"))
        {
            assert!(line.contains("T2 'worker-0'"), "--thread {spec}: {line}");
        }
    }
    // Both filters at once.
    let text = reel_ok(
        &[
            "show", &path, "--thread", "T2", "--from", "50", "--to", "60",
        ],
        0,
    );
    let expected: Vec<u64> = worker
        .iter()
        .copied()
        .filter(|n| (50..=60).contains(n))
        .collect();
    assert_eq!(step_numbers(&text), expected);

    // An unknown thread names the threads there are.
    for spec in ["T9", "9", "nobody"] {
        let output = reel(&["show", &path, "--thread", spec]);
        assert_eq!(output.status.code(), Some(2), "--thread {spec}");
        let message = stderr(&output);
        assert!(message.starts_with("reel: error:"), "{message}");
        for thread in 0..4 {
            assert!(message.contains(&trace.thread_name(thread)), "{message}");
        }
    }
    // An empty range is an error, not silence.
    let output = reel(&["show", &path, "--from", "9", "--to", "3"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).starts_with("reel: error:"));
}

#[test]
fn show_json_lines_match_the_trace() {
    for name in TRACES {
        let trace = decode(name);
        let text = reel_ok(
            &[Path::new("show"), &trace_path(name), Path::new("--json")],
            0,
        );
        let lines = json_lines(&text);
        assert_eq!(lines.len(), trace.events.len(), "{name}");
        let steps: Vec<&Value> = lines.iter().filter(|l| l["event"] == "step").collect();
        assert_eq!(steps.len() as u64, trace.steps);
        for ((line, step), number) in steps.iter().zip(trace.step_events()).zip(1u64..) {
            assert_eq!(line["step"], number);
            assert_eq!(line["thread"], step.thread);
            assert_eq!(line["thread_name"], trace.thread_name(step.thread));
            assert_eq!(line["op"], step.op.name());
            assert_eq!(line["blocks"], step.op.is_block());
            assert_eq!(line["location"], trace.location_text(step.location));
            match step.object {
                Some(object) => assert_eq!(line["object"], trace.object_name(step.op, object)),
                None => assert!(line["object"].is_null()),
            }
        }
        let count = |event: &str| lines.iter().filter(|l| l["event"] == event).count();
        assert_eq!(count("spawn"), trace.threads.len());
        assert_eq!(count("object"), trace.objects.len());
        let timeouts = trace
            .events
            .iter()
            .filter(|e| matches!(e, Event::Timeout { .. }))
            .count();
        assert_eq!(count("timeout"), timeouts);
        let last = lines.last().expect("lines");
        let outcome = trace.outcome.as_ref().expect("an outcome");
        assert_eq!(last["event"], "outcome");
        assert_eq!(last["outcome"], outcome.kind.name());
        assert_eq!(last["step"], outcome.step);
    }
    // Filters apply to JSON too.
    let path = trace_path("pipeline");
    let path = path.to_string_lossy();
    let text = reel_ok(
        &[
            "show", &path, "--json", "--from", "5", "--to", "40", "--thread", "producer",
        ],
        0,
    );
    let lines = json_lines(&text);
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(line["thread"], 1, "{line}");
        if line["event"] == "step" {
            let step = line["step"].as_u64().expect("a step number");
            assert!((5..=40).contains(&step), "{line}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// reel stats

#[test]
fn stats_match_counts_from_the_trace() {
    for name in TRACES {
        let trace = decode(name);
        let text = reel_ok(
            &[Path::new("stats"), &trace_path(name), Path::new("--json")],
            0,
        );
        let stats: Value = serde_json::from_str(&text).expect("one JSON object");

        let steps: Vec<_> = trace.step_events().collect();
        let mut switches = 0;
        let mut preemptions = 0;
        for pair in steps.windows(2) {
            if pair[0].thread != pair[1].thread {
                switches += 1;
                if !pair[0].op.is_block() && pair[0].op != OpKind::Exit {
                    preemptions += 1;
                }
            }
        }
        let timeouts = trace
            .events
            .iter()
            .filter(|e| matches!(e, Event::Timeout { .. }))
            .count();
        let mut per_op: BTreeMap<&str, u64> = BTreeMap::new();
        let mut per_thread: HashMap<u32, u64> = HashMap::new();
        for step in &steps {
            *per_op.entry(step.op.name()).or_default() += 1;
            *per_thread.entry(step.thread).or_default() += 1;
        }

        assert_eq!(stats["steps"], trace.steps, "{name}");
        assert_eq!(stats["threads"], trace.threads.len());
        assert_eq!(stats["objects"], trace.objects.len());
        assert_eq!(stats["context_switches"], switches, "{name}");
        assert_eq!(stats["preemptions"], preemptions, "{name}");
        assert_eq!(stats["timeouts"], timeouts, "{name}");
        assert_eq!(stats["signals"], trace.signal_arrivals().count(), "{name}");
        assert_eq!(stats["bytes"], trace.bytes);
        let per_step = stats["bytes_per_step"].as_f64().expect("bytes per step");
        assert!((per_step - trace.bytes as f64 / trace.steps as f64).abs() < 1e-9);
        for (op, count) in &per_op {
            assert_eq!(stats["per_operation"][op], *count, "{name} {op}");
        }
        let by_kind = stats["objects_by_kind"].as_object().expect("an object");
        let total: u64 = by_kind.values().filter_map(Value::as_u64).sum();
        assert_eq!(total, trace.objects.len() as u64);
        let threads = stats["per_thread"].as_array().expect("a list");
        assert_eq!(threads.len(), trace.threads.len());
        for (id, thread) in threads.iter().enumerate() {
            assert_eq!(thread["thread"], id);
            assert_eq!(
                thread["steps"],
                per_thread.get(&(id as u32)).copied().unwrap_or(0)
            );
            assert_eq!(
                thread["name"].as_str(),
                trace.threads[id].name.as_deref(),
                "{name}"
            );
        }
        let outcome = trace.outcome.as_ref().expect("an outcome");
        assert_eq!(stats["outcome"]["outcome"], outcome.kind.name());

        // The text form says the same.
        let text = reel_ok(&[Path::new("stats"), &trace_path(name)], 0);
        let field = |label: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{label}:")))
                .map(|rest| rest.trim().to_owned())
                .unwrap_or_else(|| panic!("no {label} line in\n{text}"))
        };
        assert_eq!(field("steps"), trace.steps.to_string());
        assert_eq!(field("threads"), trace.threads.len().to_string());
        assert_eq!(field("context switches"), switches.to_string());
        assert_eq!(field("preemptions"), preemptions.to_string());
        assert_eq!(field("timeouts"), timeouts.to_string());
        let signals = trace.signal_arrivals().count().to_string();
        assert!(field("signals").starts_with(&signals), "{name}");
        for thread in 0..trace.threads.len() as u32 {
            let steps = per_thread.get(&thread).copied().unwrap_or(0);
            assert!(
                text.lines()
                    .any(|line| line.contains(&trace.thread_name(thread))
                        && line.contains(&format!(" {steps} steps"))),
                "{text}"
            );
        }
    }
    // The sample plain run has timeouts; the explorations have none.
    let text = reel_ok(
        &[
            Path::new("stats"),
            &trace_path("pipeline"),
            Path::new("--json"),
        ],
        0,
    );
    let stats: Value = serde_json::from_str(&text).expect("one JSON object");
    assert!(stats["timeouts"].as_u64().is_some_and(|n| n > 0));
}

// ---------------------------------------------------------------------------------------
// reel export

/// Checks a Chrome trace-event document against the trace; returns its flow count.
fn check_chrome(trace: &Trace, document: &Value) -> usize {
    assert_eq!(document["displayTimeUnit"], "ns");
    assert!(document["otherData"].is_object());
    let events = document["traceEvents"].as_array().expect("traceEvents");
    let of = |ph: &str| -> Vec<&Value> { events.iter().filter(|e| e["ph"] == ph).collect() };
    for event in events {
        assert_eq!(event["pid"], 1, "{event}");
        assert!(event["name"].is_string(), "{event}");
    }

    let mut thread_steps: HashMap<u32, u64> = HashMap::new();
    for step in trace.step_events() {
        *thread_steps.entry(step.thread).or_default() += 1;
    }
    for thread in 0..trace.threads.len() as u32 {
        let tid = u64::from(thread) + 1;
        let on = |ph: &str| of(ph).into_iter().filter(|e| e["tid"] == tid).count();
        let name = of("M")
            .into_iter()
            .find(|e| e["tid"] == tid && e["name"] == "thread_name")
            .expect("a thread_name for every thread");
        assert_eq!(name["args"]["name"], trace.thread_name(thread));
        assert!(
            of("M")
                .iter()
                .any(|e| e["tid"] == tid && e["name"] == "thread_sort_index")
        );
        if thread_steps.get(&thread).is_some_and(|&n| n > 0) {
            assert!(on("X") > 0, "no slice for T{thread}");
            assert!(on("i") > 0, "no instant for T{thread}");
        }
    }

    // The slices cover every step exactly once, each with the thread that took it.
    let threads: Vec<u32> = trace.step_events().map(|step| step.thread).collect();
    let mut covered = vec![0u32; threads.len() + 1];
    for slice in of("X") {
        let ts = slice["ts"].as_u64().expect("ts");
        let dur = slice["dur"].as_u64().expect("dur");
        assert!(dur > 0);
        for step in ts..ts + dur {
            covered[step as usize] += 1;
            let tid = slice["tid"].as_u64().expect("tid");
            assert_eq!(
                u64::from(threads[step as usize - 1]) + 1,
                tid,
                "step {step}"
            );
        }
    }
    assert!(covered[1..].iter().all(|&n| n == 1), "{covered:?}");

    // One instant per step, at its number, with its operation.
    let step_instants: Vec<&Value> = of("i").into_iter().filter(|e| e["cat"] == "step").collect();
    assert_eq!(step_instants.len() as u64, trace.steps);
    for (instant, (step, number)) in step_instants.iter().zip(trace.step_events().zip(1u64..)) {
        assert_eq!(instant["s"], "t");
        assert_eq!(instant["ts"], number);
        assert_eq!(instant["args"]["step"], number);
        assert_eq!(instant["args"]["op"], step.op.name());
        assert_eq!(
            instant["args"]["location"],
            trace.location_text(step.location)
        );
        assert_eq!(instant["tid"], u64::from(step.thread) + 1);
    }
    // Timeouts and the outcome.
    let timeouts = trace
        .events
        .iter()
        .filter(|e| matches!(e, Event::Timeout { .. }))
        .count();
    assert_eq!(
        of("i").iter().filter(|e| e["cat"] == "timeout").count(),
        timeouts
    );
    let outcome: Vec<&Value> = of("i")
        .into_iter()
        .filter(|e| e["s"] == "g" && e["cat"] == "outcome")
        .collect();
    assert_eq!(outcome.len(), 1);

    // Every flow start has its end: same id, same category, later, on another track.
    let starts = of("s");
    let ends = of("f");
    assert_eq!(starts.len(), ends.len());
    for start in &starts {
        let end = ends
            .iter()
            .find(|end| end["id"] == start["id"])
            .expect("every s has its f");
        assert_eq!(end["cat"], start["cat"]);
        assert_eq!(end["bp"], "e");
        assert_ne!(end["tid"], start["tid"]);
        assert!(end["ts"].as_u64() > start["ts"].as_u64());
    }
    starts.len()
}

#[test]
fn export_writes_chrome_trace_events() {
    let mut flows = HashMap::new();
    for name in TRACES {
        let trace = decode(name);
        let text = reel_ok(
            &[
                Path::new("export"),
                &trace_path(name),
                Path::new("--format"),
                Path::new("chrome"),
            ],
            0,
        );
        let document: Value = serde_json::from_str(&text).expect("valid JSON");
        flows.insert(name, check_chrome(&trace, &document));
    }
    assert!(
        flows["lost_update"] > 0 || flows["lock_order"] > 0,
        "{flows:?}"
    );
    assert!(flows["pipeline"] > 0, "{flows:?}");

    // The joins of lost_update: main wakes when each worker exits.
    let trace = decode("lost_update");
    let text = reel_ok(
        &[
            "export",
            &trace_path("lost_update").to_string_lossy(),
            "--format",
            "chrome",
        ],
        0,
    );
    let document: Value = serde_json::from_str(&text).expect("valid JSON");
    let events = document["traceEvents"].as_array().expect("events");
    let steps: Vec<_> = trace.step_events().collect();
    for start in events.iter().filter(|e| e["ph"] == "s") {
        let from = start["ts"].as_u64().expect("ts") as usize;
        let end = events
            .iter()
            .find(|e| e["ph"] == "f" && e["id"] == start["id"])
            .expect("an end");
        let to = end["ts"].as_u64().expect("ts") as usize;
        // The woken thread's previous step blocked, and the waker's step is on its object
        // or is the joined thread's exit.
        let woken = steps[to - 1].thread;
        let blocked = steps[..to - 1]
            .iter()
            .rev()
            .find(|step| step.thread == woken)
            .expect("the woken thread stepped before");
        assert!(blocked.op.is_block(), "{blocked:?}");
        let waker = steps[from - 1];
        if blocked.op == OpKind::BlockJoin {
            assert_eq!(Some(waker.thread), blocked.object);
        } else {
            assert_eq!(waker.object, blocked.object);
        }
    }

    // -o writes the same document to a file.
    let dir = TempDir::new("export");
    let out = dir.0.join("out.json");
    let printed = reel_ok(
        &[
            Path::new("export"),
            &trace_path("lost_update"),
            Path::new("--format"),
            Path::new("chrome"),
            Path::new("-o"),
            &out,
        ],
        0,
    );
    assert!(printed.is_empty());
    let written = std::fs::read_to_string(&out).expect("the output file");
    assert_eq!(written, text);
}

// ---------------------------------------------------------------------------------------
// reel diff

#[test]
fn diff_of_a_trace_with_itself_or_a_rechunked_copy_is_the_same() {
    let dir = TempDir::new("diff-same");
    for name in TRACES {
        let trace = decode(name);
        let path = trace_path(name);
        let text = reel_ok(&[Path::new("diff"), &path, &path], 0);
        assert!(
            text.contains(&format!("the traces are the same: {} steps", trace.steps)),
            "{text}"
        );
        // Chunk boundaries are not events.
        let (bytes, ends) = reencode(&trace, 3, |_, _| {});
        assert!(ends.len() > 1);
        let copy = dir.file(&format!("{name}.reel"), &bytes);
        assert_eq!(
            reel_trace::read_file(&copy).expect("the copy reads").events,
            trace.events
        );
        reel_ok(&[Path::new("diff"), &path, &copy], 0);
        let text = reel_ok(&[Path::new("diff"), &path, &copy, Path::new("--json")], 0);
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value["same"], true);
        assert_eq!(value["steps"], trace.steps);
    }
}

#[test]
fn diff_names_the_first_difference() {
    // Two different programs differ from their first thread's name on.
    let a = trace_path("lock_order");
    let b = trace_path("check_then_act");
    let text = reel_ok(&[Path::new("diff"), &a, &b], 1);
    assert!(text.contains("the traces differ before step 1"), "{text}");
    assert!(
        text.contains("note: the traces record different programs"),
        "{text}"
    );
    // Each side's first thread on that side's own line.
    let side = |label: &str| -> Vec<&str> {
        text.lines()
            .find(|line| line.starts_with(label))
            .unwrap_or_else(|| panic!("no line starting with {label:?}:\n{text}"))
            .split_whitespace()
            .take(4)
            .collect()
    };
    assert_eq!(
        side("A:"),
        ["A:", "T1", "'alice-pays-bob'", "starts"],
        "{text}"
    );
    assert_eq!(
        side("B:"),
        ["B:", "T1", "'withdraw-at-atm'", "starts"],
        "{text}"
    );

    // One step changed: step 5 of lock_order locks nothing but unlocks.
    let dir = TempDir::new("diff-step");
    let trace = decode("lock_order");
    let (bytes, _) = reencode(&trace, 1000, |number, step| {
        if number == 5 {
            step.op = OpKind::Unlock;
        }
    });
    let edited = dir.file("edited.reel", &bytes);
    let text = reel_ok(
        &[
            Path::new("diff"),
            &a,
            &edited,
            Path::new("--context"),
            Path::new("2"),
        ],
        1,
    );
    assert!(text.contains("the traces differ at step 5"), "{text}");
    assert!(!text.contains("note:"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let a_line = lines
        .iter()
        .find(|l| l.starts_with("A: "))
        .expect("A's line");
    let b_line = lines
        .iter()
        .find(|l| l.starts_with("B: "))
        .expect("B's line");
    // Word by word: "lock Mutex#0" alone would also match B's "unlock Mutex#0".
    let a_words: Vec<&str> = a_line.split_whitespace().collect();
    let b_words: Vec<&str> = b_line.split_whitespace().collect();
    assert_eq!(
        a_words[..6],
        ["A:", "#5", "T0", "'main'", "lock", "Mutex#0"],
        "{a_line}"
    );
    assert_eq!(
        b_words[..6],
        ["B:", "#5", "T0", "'main'", "unlock", "Mutex#0"],
        "{b_line}"
    );
    assert_eq!(a_words[6..], b_words[6..], "the same location:\n{text}");
    // Two steps of shared context, no more.
    let context = step_numbers(
        &lines
            .iter()
            .map(|l| l.trim_start())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(context, vec![3, 4]);

    let text = reel_ok(&[Path::new("diff"), &a, &edited, Path::new("--json")], 1);
    let value: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(value["same"], false);
    assert_eq!(value["step"], 5);
    assert_eq!(value["a_event"]["op"], "lock");
    assert_eq!(value["b_event"]["op"], "unlock");
    let context = value["context"].as_array().expect("context");
    let steps: Vec<u64> = context
        .iter()
        .filter(|e| e["event"] == "step")
        .filter_map(|e| e["step"].as_u64())
        .collect();
    assert_eq!(steps, vec![1, 2, 3, 4]);

    // A different outcome, same steps.
    let mut other = trace.clone();
    if let Some(Event::Outcome(outcome)) = other.events.last_mut() {
        outcome.message = "another message".to_owned();
    }
    let (bytes, _) = reencode(&other, 1000, |_, _| {});
    let other = dir.file("outcome.reel", &bytes);
    let text = reel_ok(&[Path::new("diff"), &a, &other], 1);
    assert!(text.contains("the traces differ after step 7"), "{text}");
    assert!(text.contains("another message"), "{text}");
}

#[test]
fn diff_with_a_copy_cut_short_differs_after_its_end() {
    // A trace cut short is read up to its last complete chunk, with a warning; compared with
    // the whole trace it differs (exit 1) at the step after its end, and diff says that its
    // events are the start of the other's.
    let dir = TempDir::new("diff-cut");
    let trace = decode("pipeline");
    let full = trace_path("pipeline");
    let (bytes, ends) = reencode(&trace, 50, |_, _| {});
    let whole = dir.file("whole.reel", &bytes);
    // Cut between chunks 3 and 4 (after step 150), and inside chunk 4.
    let at_boundary = dir.file("boundary.reel", &bytes[..ends[2]]);
    let inside = dir.file("inside.reel", &bytes[..ends[3] - 7]);
    assert!(reel_trace::read_file(&at_boundary).is_err());
    assert_eq!(
        reel_trace::read_file_prefix(&at_boundary)
            .expect("a prefix")
            .steps,
        150
    );

    for cut in [&at_boundary, &inside] {
        let output = reel(&[Path::new("diff"), cut, &full]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let (text, warning) = (stdout(&output), stderr(&output));
        assert!(warning.starts_with("reel: warning:") && warning.contains("cut short"));
        assert!(!warning.contains("panicked"));
        assert!(text.contains("the traces differ at step 151"), "{text}");
        assert!(
            text.contains("A ends after step 150 (it was cut short)"),
            "{text}"
        );
        assert!(
            text.contains("(the trace ends here: cut short after step 150)"),
            "{text}"
        );
        // B's events up to its next step: here a timeout, then step 151.
        let b_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("B: ")).collect();
        assert_eq!(b_lines.len(), 2, "{text}");
        assert!(b_lines[0].contains("timeout fires"), "{text}");
        assert!(b_lines[1].contains("#151"), "{text}");

        // The other way round.
        let text = reel_ok(&[Path::new("diff"), &whole, cut], 1);
        assert!(
            text.contains("B ends after step 150 (it was cut short)"),
            "{text}"
        );

        // show and stats read it too, with the same warning.
        let output = reel(&[Path::new("show"), cut]);
        assert_eq!(output.status.code(), Some(0));
        assert!(stderr(&output).starts_with("reel: warning:"));
        let text = stdout(&output);
        assert_eq!(step_numbers(&text), (1..=150).collect::<Vec<u64>>());
        assert!(text.lines().next().is_some_and(|l| l.contains("cut short")));
        let text = reel_ok(&[Path::new("stats"), cut, Path::new("--json")], 0);
        let stats: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(stats["steps"], 150);
        assert_eq!(stats["cut"], true);
        assert!(stats["outcome"].is_null());
        let text = reel_ok(
            &[
                Path::new("export"),
                cut,
                Path::new("--format"),
                Path::new("chrome"),
            ],
            0,
        );
        let document: Value = serde_json::from_str(&text).expect("JSON");
        let events = document["traceEvents"].as_array().expect("events");
        assert!(
            events
                .iter()
                .any(|e| e["s"] == "g" && e["name"] == "cut short")
        );
    }

    // The file's first bytes, cut inside its only event chunk: no steps at all.
    let raw = std::fs::read(&full).expect("the trace");
    let head = dir.file("head.reel", &raw[..raw.len() / 2]);
    let output = reel(&[Path::new("diff"), &head, &full]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("using its first 0 steps"));
    assert!(
        stdout(&output).contains("A ends after step 0"),
        "{}",
        stdout(&output)
    );
}

// ---------------------------------------------------------------------------------------
// Bad input, for every subcommand

/// Files that are not sound traces.
struct BadFiles {
    _dir: TempDir,
    files: Vec<(&'static str, PathBuf)>,
}

fn bad_files(test: &str) -> BadFiles {
    let dir = TempDir::new(test);
    let mut random = Vec::with_capacity(1000);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..1000 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        random.push((state >> 33) as u8);
    }
    random[0] = 0;
    let mut flipped = std::fs::read(trace_path("lock_order")).expect("the trace");
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    let mut flipped_late = std::fs::read(trace_path("lock_order")).expect("the trace");
    let late = flipped_late.len() - 10;
    flipped_late[late] ^= 0x01;
    let mut version = std::fs::read(trace_path("lock_order")).expect("the trace");
    version[8] = 99;
    let files = vec![
        ("missing file", dir.0.join("no-such-trace.reel")),
        ("directory", dir.0.clone()),
        ("empty file", dir.file("empty.reel", b"")),
        ("random bytes", dir.file("random.reel", &random)),
        (
            "text file",
            dir.file("text.reel", b"this is not a trace\nat all\n"),
        ),
        ("flipped byte", dir.file("flipped.reel", &flipped)),
        (
            "flipped byte in the events",
            dir.file("flipped-late.reel", &flipped_late),
        ),
        ("future version", dir.file("version.reel", &version)),
        ("magic only", dir.file("magic.reel", &reel_trace::MAGIC)),
    ];
    BadFiles { _dir: dir, files }
}

/// Runs one bad case: it must exit with status 2, say so on standard error in one of the
/// two forms, and not panic. Returns what went wrong, if anything.
fn bad_case(what: &str, args: &[&std::ffi::OsStr]) -> Option<String> {
    let output = reel(args);
    let message = stderr(&output);
    let mut problems = Vec::new();
    if output.status.code() != Some(2) {
        problems.push(format!("exit status {:?}", output.status.code()));
    }
    if !(message.starts_with("reel: error:") || message.starts_with("error:")) {
        problems.push("no error message first on stderr".to_owned());
    }
    if message.contains("panicked") {
        problems.push("it panicked".to_owned());
    }
    (!problems.is_empty()).then(|| {
        format!(
            "{what} (reel {}): {}; stderr: {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            problems.join(", "),
            message
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("")
        )
    })
}

/// Every bad case for `command`, whose trace goes where `TRACE` is in `form`.
fn check_bad_inputs(test: &str, form: &[&str]) {
    let files = bad_files(test);
    let good = trace_path("lock_order");
    let command = form[0];
    let with = |trace: &Path, extra: &[&str]| -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = form
            .iter()
            .map(|arg| match *arg {
                "TRACE" => trace.as_os_str().to_owned(),
                "GOOD" => good.as_os_str().to_owned(),
                other => other.into(),
            })
            .collect();
        args.extend(extra.iter().map(Into::into));
        args
    };
    let mut failures = Vec::new();
    let mut run = |what: String, args: Vec<std::ffi::OsString>| {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        if let Some(failure) = bad_case(&what, &args) {
            failures.push(failure);
        }
    };
    for (what, path) in &files.files {
        run(what.to_string(), with(path, &[]));
    }
    run("unknown flag".into(), with(&good, &["--no-such-flag"]));
    run("--from abc".into(), with(&good, &["--from", "abc"]));
    run("no arguments".into(), vec![command.into()]);
    match command {
        "export" => {
            run(
                "--format bogus".into(),
                vec![
                    "export".into(),
                    good.as_os_str().to_owned(),
                    "--format".into(),
                    "bogus".into(),
                ],
            );
            run(
                "no --format".into(),
                vec!["export".into(), good.as_os_str().to_owned()],
            );
            let unwritable = files.files[1].1.join("no-such-dir").join("out.json");
            run(
                "unwritable -o".into(),
                with(&good, &["-o", &unwritable.to_string_lossy()]),
            );
        }
        "diff" => {
            run(
                "one trace only".into(),
                vec!["diff".into(), good.as_os_str().to_owned()],
            );
            run("--context abc".into(), with(&good, &["--context", "abc"]));
        }
        "show" => {
            run("--to -1".into(), with(&good, &["--to", "-1"]));
        }
        _ => {}
    }
    assert!(
        failures.is_empty(),
        "reel {command}: {} bad-input case(s) fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bad_input_show() {
    check_bad_inputs("bad-show", &["show", "TRACE"]);
}

#[test]
fn bad_input_stats() {
    check_bad_inputs("bad-stats", &["stats", "TRACE"]);
}

#[test]
fn bad_input_export() {
    check_bad_inputs("bad-export", &["export", "TRACE", "--format", "chrome"]);
}

#[test]
fn bad_input_diff() {
    check_bad_inputs("bad-diff-a", &["diff", "TRACE", "GOOD"]);
    check_bad_inputs("bad-diff-b", &["diff", "GOOD", "TRACE"]);
}

#[test]
fn bad_input_replay() {
    check_bad_inputs("bad-replay", &["replay", "TRACE"]);
}

#[test]
fn bad_input_debug() {
    check_bad_inputs("bad-debug", &["debug", "TRACE", "--batch"]);
}

#[test]
fn bad_input_without_a_subcommand() {
    let args = [std::ffi::OsStr::new("no-such-command")];
    assert_eq!(bad_case("unknown subcommand", &args), None);
    // No subcommand at all: the usage, on standard error, as an error.
    let output = reel::<&str>(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("Usage: reel"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("panicked"));
}

#[test]
fn show_stats_and_export_list_the_signal_arrivals() {
    let path = trace_path("shutdown_race").to_string_lossy().into_owned();
    let trace = decode("shutdown_race");
    let arrival = *trace
        .signal_arrivals()
        .next()
        .expect("the trace has its SIGTERM");

    let shown = reel_ok(&["show", &path], 0);
    let line = shown
        .lines()
        .find(|line| line.contains("signal SIGTERM arrives (SI_USER)"))
        .unwrap_or_else(|| panic!("reel show lists the arrival:\n{shown}"));
    // Placed after its step: the line before it is that step.
    let before = shown
        .lines()
        .take_while(|l| *l != line)
        .last()
        .unwrap_or("");
    assert!(
        before.contains(&format!("#{} ", arrival.step)),
        "{before}\n{line}"
    );
    let json = reel_ok(&["show", &path, "--json"], 0);
    let signal: Value = json
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("one JSON object a line"))
        .find(|event| event["event"] == "signal")
        .expect("a signal event");
    assert_eq!(signal["name"], "SIGTERM");
    assert_eq!(signal["signal"], 15);
    assert_eq!(signal["step"], arrival.step);
    assert_eq!(signal["code_name"], "SI_USER");

    let stats = reel_ok(&["stats", &path], 0);
    assert!(stats.contains("signals:          1 (SIGTERM 1)"), "{stats}");
    let stats: Value = serde_json::from_str(&reel_ok(&["stats", &path, "--json"], 0)).unwrap();
    assert_eq!(stats["signals"], 1);
    assert_eq!(stats["signals_by_name"]["SIGTERM"], 1);

    let export: Value =
        serde_json::from_str(&reel_ok(&["export", "--format", "chrome", &path], 0)).unwrap();
    let instants: Vec<&Value> = export["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["cat"] == "signal")
        .collect();
    assert_eq!(instants.len(), 1, "{instants:?}");
    assert_eq!(instants[0]["ph"], "i");
    assert_eq!(instants[0]["name"], "signal SIGTERM");
    assert_eq!(instants[0]["ts"], arrival.step + 1);
    assert_eq!(instants[0]["args"]["after_step"], arrival.step);
}

/// A trace of a run that read both clocks and drew its random seed.
fn trace_with_inputs(dir: &Path) -> PathBuf {
    use reel_trace::{ClockReading, ClockSource, LocationDef, Outcome, OutcomeKind};
    let mut bytes = reel_trace::encode_prologue(&reel_trace::tests_support::example_header());
    let mut encoder = reel_trace::ChunkEncoder::new();
    encoder.spawn(None, Some("main"));
    encoder.file("src/main.rs");
    encoder.location(LocationDef {
        file: 0,
        line: 3,
        column: 9,
    });
    encoder.step(0, OpKind::ClockRead, None, 0);
    encoder.clock_read(ClockReading {
        source: ClockSource::Monotonic,
        nanos: 86_400_000_001_234,
    });
    encoder.step(0, OpKind::ClockRead, None, 0);
    encoder.clock_read(ClockReading {
        source: ClockSource::System,
        nanos: 1_700_000_000_500_000_000,
    });
    encoder.step(0, OpKind::RandomSeed, None, 0);
    encoder.random_seed(0x1234_5678_9abc_def0);
    encoder.outcome(&Outcome {
        kind: OutcomeKind::Ok,
        step: 3,
        thread: None,
        location: None,
        message: String::new(),
        cycle: Vec::new(),
    });
    encoder.seal();
    bytes.extend_from_slice(encoder.sealed());
    let path = dir.join("inputs.reel");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn show_stats_and_export_list_clock_and_random_reads_with_their_values() {
    let dir = TempDir::new("inputs");
    let path = trace_with_inputs(&dir.0);
    let path = path.to_string_lossy();
    let text = reel_ok(&["show", &path], 0);
    assert!(text.contains("#1"), "{text}");
    assert!(text.contains("clock read"), "{text}");
    assert!(
        text.contains("reads the monotonic clock 86400.000001234 s"),
        "{text}"
    );
    assert!(
        text.contains("reads the system clock 1700000000.500000000 s"),
        "{text}"
    );
    assert!(
        text.contains("draws the random seed 0x123456789abcdef0"),
        "{text}"
    );
    let lines = json_lines(&reel_ok(&["show", &path, "--json"], 0));
    let reads: Vec<&Value> = lines
        .iter()
        .filter(|line| line["event"] == "clock_read")
        .collect();
    assert_eq!(reads.len(), 2);
    assert_eq!(reads[0]["clock"], "monotonic");
    assert_eq!(reads[0]["nanos"], 86_400_000_001_234u64);
    assert_eq!(reads[0]["step"], 1);
    assert_eq!(reads[1]["clock"], "system");
    let seed = lines
        .iter()
        .find(|line| line["event"] == "random_seed")
        .expect("the seed is listed");
    assert_eq!(seed["seed"], 0x1234_5678_9abc_def0u64);
    assert_eq!(seed["thread_name"], "T0 'main'");

    let stats: Value = serde_json::from_str(&reel_ok(&["stats", &path, "--json"], 0)).unwrap();
    assert_eq!(stats["clock_reads"], 2);
    assert_eq!(stats["random_seeds"], 1);
    let text = reel_ok(&["stats", &path], 0);
    assert!(text.contains("clock reads:      2"), "{text}");
    assert!(text.contains("random seeds:     1"), "{text}");

    let document: Value =
        serde_json::from_str(&reel_ok(&["export", &path, "--format", "chrome"], 0)).unwrap();
    let events = document["traceEvents"].as_array().unwrap();
    let markers: Vec<&Value> = events
        .iter()
        .filter(|event| event["cat"] == "clock_read" || event["cat"] == "random_seed")
        .collect();
    assert_eq!(markers.len(), 3, "{markers:?}");
    assert_eq!(markers[1]["args"]["clock"], "system");
    assert_eq!(markers[2]["args"]["seed"], 0x1234_5678_9abc_def0u64);
}

/// A trace of a run that read 5 bytes from a socket after waiting for it, and wrote 3.
fn trace_with_io(dir: &Path) -> PathBuf {
    use reel_trace::{IoDone, IoEvent, IoResult, LocationDef, ObjectKind, Outcome, OutcomeKind};
    let mut bytes = reel_trace::encode_prologue(&reel_trace::tests_support::example_header());
    let mut encoder = reel_trace::ChunkEncoder::new();
    encoder.spawn(None, Some("main"));
    encoder.file("src/main.rs");
    encoder.location(LocationDef {
        file: 0,
        line: 4,
        column: 5,
    });
    encoder.object(ObjectKind::Socket);
    let done = |asked, written, result| {
        IoEvent::Done(IoDone {
            asked,
            written,
            target: None,
            result,
        })
    };
    encoder.step(0, OpKind::IoRead, Some(0), 0);
    encoder.io(&done(64, None, IoResult::WouldBlock));
    encoder.step(0, OpKind::BlockIo, Some(0), 0);
    encoder.io(&IoEvent::Ready { thread: 0 });
    encoder.step(0, OpKind::IoRead, Some(0), 0);
    encoder.io(&done(64, None, IoResult::Bytes(b"hello".to_vec())));
    encoder.step(0, OpKind::IoWrite, Some(0), 0);
    encoder.io(&done(3, Some(0xabc), IoResult::Count(3)));
    encoder.outcome(&Outcome {
        kind: OutcomeKind::Ok,
        step: 4,
        thread: None,
        location: None,
        message: String::new(),
        cycle: Vec::new(),
    });
    encoder.seal();
    bytes.extend_from_slice(encoder.sealed());
    let path = dir.join("io.reel");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn show_stats_and_export_list_io_steps_and_results() {
    let dir = TempDir::new("io");
    let path = trace_with_io(&dir.0);
    let path = path.to_string_lossy();
    let text = reel_ok(&["show", &path], 0);
    assert!(text.contains("I/O read Socket#0"), "{text}");
    assert!(text.contains("blocks: I/O Socket#0"), "{text}");
    assert!(
        text.contains("I/O result: would block (asked 64)"),
        "{text}"
    );
    assert!(text.contains("I/O wait ends"), "{text}");
    assert!(text.contains("I/O result: 5 bytes (asked 64)"), "{text}");
    assert!(
        text.contains("I/O result: 3 (asked 3, bytes hashing to 0x0000000000000abc)"),
        "{text}"
    );
    let lines = json_lines(&reel_ok(&["show", &path, "--json"], 0));
    let results: Vec<&Value> = lines
        .iter()
        .filter(|line| line["event"] == "io_result")
        .collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[1]["bytes"], 5);
    assert_eq!(results[1]["step"], 3);
    assert_eq!(
        lines
            .iter()
            .filter(|line| line["event"] == "io_ready")
            .count(),
        1
    );

    let stats: Value = serde_json::from_str(&reel_ok(&["stats", &path, "--json"], 0)).unwrap();
    assert_eq!(stats["io_results"], 3);
    assert_eq!(stats["io_bytes_in"], 5);
    assert_eq!(stats["io_bytes_out"], 3);
    let text = reel_ok(&["stats", &path], 0);
    assert!(
        text.contains("I/O:              3 results, 5 bytes in, 3 bytes out"),
        "{text}"
    );

    let document: Value =
        serde_json::from_str(&reel_ok(&["export", &path, "--format", "chrome"], 0)).unwrap();
    let events = document["traceEvents"].as_array().unwrap();
    let markers: Vec<&Value> = events.iter().filter(|event| event["cat"] == "io").collect();
    assert_eq!(markers.len(), 4, "{markers:?}");
    assert_eq!(markers[1]["name"], "I/O wait ends");
    assert_eq!(markers[2]["args"]["bytes"], 5);
}

/// The `pipeline` sample with a preemption of step 2's thread after step 2 and a stall of
/// step 3's thread after step 3, as a plain run with time slices and the watchdog records
/// them.
fn with_preemption_and_stall(dir: &TempDir) -> PathBuf {
    let trace = decode("pipeline");
    let mut bytes = reel_trace::encode_prologue(&trace.header);
    let files: Vec<&str> = trace.files.iter().map(String::as_str).collect();
    bytes.extend_from_slice(&reel_trace::encode_definitions(&files, &trace.locations));
    let mut encoder = reel_trace::ChunkEncoder::new();
    let mut steps = 0;
    for event in &trace.events {
        match event {
            Event::Step(step) => {
                steps += 1;
                encoder.step(step.thread, step.op, step.object, step.location);
                if steps == 2 {
                    encoder.preemption(step.thread);
                }
                if steps == 3 {
                    encoder.stall(&reel_trace::Stall {
                        thread: step.thread,
                        duration_micros: 812_000,
                        syscall: Some("fsync".to_owned()),
                        location: Some(reel_trace::SourceLocation {
                            file: "src/log.rs".to_owned(),
                            line: 31,
                            column: 9,
                        }),
                        ready: 5,
                    });
                }
            }
            Event::Spawn(spawn) => encoder.spawn(spawn.parent, spawn.name.as_deref()),
            Event::Object(kind) => encoder.object(*kind),
            Event::Timeout { thread } => encoder.timeout(*thread),
            Event::Preemption { thread } => encoder.preemption(*thread),
            Event::Stall(stall) => encoder.stall(stall),
            Event::Signal(arrival) => encoder.signal(arrival),
            Event::ClockRead(reading) => encoder.clock_read(*reading),
            Event::RandomSeed { seed } => encoder.random_seed(*seed),
            Event::Io(io) => encoder.io(io),
            Event::Outcome(outcome) => encoder.outcome(outcome),
        }
    }
    encoder.seal();
    bytes.extend_from_slice(encoder.sealed());
    dir.file("fair.reel", &bytes)
}

#[test]
fn preemptions_and_stalls_are_shown_counted_and_exported() {
    let dir = TempDir::new("fair");
    let path = with_preemption_and_stall(&dir);
    let path = path.to_str().unwrap();
    let shown = reel_ok(&["show", path], 0);
    assert!(
        shown.contains("preempted (its time slice ran out)"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "stall: held the kernel thread for 812 ms in fsync(2); 5 ready threads waited"
        ),
        "{shown}"
    );
    assert!(shown.contains("src/log.rs:31:9"), "{shown}");
    let json: Vec<Value> = reel_ok(&["show", path, "--json"], 0)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        json.iter()
            .any(|event| event["event"] == "preemption" && event["step"] == 2)
    );
    let stall = json
        .iter()
        .find(|event| event["event"] == "stall")
        .expect("the stall is listed");
    assert_eq!(stall["step"], 3);
    assert_eq!(stall["duration_us"], 812_000);
    assert_eq!(stall["syscall"], "fsync");

    let stats: Value = serde_json::from_str(&reel_ok(&["stats", path, "--json"], 0)).unwrap();
    assert_eq!(stats["slice_preemptions"], 1);
    assert_eq!(stats["stalls"], 1);
    assert_eq!(stats["longest_stall_us"], 812_000);
    let text = reel_ok(&["stats", path], 0);
    assert!(
        text.contains("stalls:           1 (longest 812 ms)"),
        "{text}"
    );

    let exported: Value =
        serde_json::from_str(&reel_ok(&["export", path, "--format", "chrome"], 0)).unwrap();
    let events = exported["traceEvents"].as_array().unwrap();
    assert!(events.iter().any(|event| event["cat"] == "preemption"));
    assert!(events.iter().any(|event| event["cat"] == "stall"
        && event["args"]["syscall"] == "fsync"
        && event["args"]["location"] == "src/log.rs:31:9"));
}

#[test]
fn a_damaged_io_result_is_refused_by_every_subcommand_naming_the_event() {
    let dir = TempDir::new("damaged-io");
    let good = trace_with_io(&dir.0);
    let mut bytes = std::fs::read(&good).unwrap();
    // The 5 bytes read are the result `Bytes` (variant 2), its length, then the bytes.
    let at = bytes
        .windows(5)
        .position(|window| window == b"hello")
        .expect("the bytes read are in the trace");
    assert_eq!(&bytes[at - 2..at], &[2, 5]);
    // Damage behind a valid checksum: a result variant that does not exist.
    bytes[at - 2] = 99;
    let (frame, _) = reel_trace::tests_support::chunk_frame_around(&bytes, at - 2);
    reel_trace::tests_support::refresh_crc(&mut bytes, frame);
    let damaged = dir.file("damaged-io.reel", &bytes);
    let damaged_arg = damaged.to_string_lossy().into_owned();
    let good_arg = good.to_string_lossy().into_owned();
    let forms: [Vec<&str>; 6] = [
        vec!["show", &damaged_arg],
        vec!["stats", &damaged_arg],
        vec!["export", &damaged_arg, "--format", "chrome"],
        vec!["diff", &good_arg, &damaged_arg],
        vec!["replay", &damaged_arg],
        vec!["debug", &damaged_arg, "--batch"],
    ];
    for args in forms {
        let output = reel(&args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "reel {args:?}: {message}");
        assert!(
            message.starts_with("reel: error:") || message.starts_with("error:"),
            "reel {args:?}: {message}"
        );
        assert!(
            message.contains(&damaged_arg)
                && message.contains("malformed event in chunk")
                && message.contains("an I/O event does not decode"),
            "reel {args:?} names the file and the damaged I/O event: {message}"
        );
        assert!(!message.contains("panicked"), "{message}");
    }
}
