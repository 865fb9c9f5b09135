//! Runtime benchmarks: reel, shuttle and std threads measured side by side in one run, then a
//! table of their ratios in which every row says its goal and whether it is met.
//!
//! Run with `cargo bench --bench runtime [-- [FILTER ...] [--quick]]`. A FILTER keeps the
//! measurements whose name contains it (see `MEASUREMENTS`: `pingpong`,
//! `pingpong-user-program`, `lock-exploration`, `lock-exploration-jobs`, `spawn-join`,
//! `memory`, `pingpong-record`, `lock-exploration-record`, `replay`, `bytes-per-step`,
//! `clock-and-random`, `pingpong-watchdog-slicing`; so `record` keeps both recording
//! overheads and `bytes` the trace size); several filters keep what any of them keeps.
//! `--quick` takes fewer and shorter samples and holds ten times fewer threads in the memory
//! cases. Other arguments (cargo passes `--bench`) are ignored.
//!
//! Every program is written once against std's API and compiled for each runtime by changing
//! its imports (see `for_each_runtime!`), so the three contenders run the same code.
//!
//! # Statistics: criterion, read back into one table
//! The timed figures are criterion's (0.7). Each contender's figure is one criterion benchmark
//! (`GROUP/CONTENDER`, e.g. `pingpong/shuttle`) whose routine is an `iter_custom`: what is timed
//! is rarely one call of a closure (a round trip is timed inside a `reel::run` that does
//! 100,000 of them, an exploration from outside a `Checker` that runs N executions), and
//! `iter_custom` lets the routine do N units its own way and say how long they took. criterion
//! warms up, sizes the samples (flat sampling: every sample the same number of units), flags
//! outliers and bootstraps confidence intervals; it prints its own lines as it goes and keeps
//! its history in `target/criterion`, so a later run also says what changed. criterion hands
//! no results back to the program, so after each benchmark `measure::Bench` reads the
//! `estimates.json` criterion has just written for it (deleted beforehand, so that a stale file
//! is never read) and the table (`table.rs`) shows its median with its 95% confidence interval.
//! The intervals are what decides a goal: met when the whole interval is on the right side,
//! NOT met when it is all on the wrong side, borderline otherwise.
//!
//! divan was the other candidate: it times each call of the closure itself, with no
//! counterpart of `iter_custom`, and it gives no results back to the program for a table.
//!
//! What criterion does not take: the resident memory per blocked thread (one reading per case,
//! each case in a child process of its own: the binary re-executes itself with the hidden
//! arguments `--memory-child CASE`) and a trace's bytes per step (a size, not a time).
//!
//! The price of criterion: it takes one contender's samples, then the next one's, where a
//! round-robin over the contenders would spread a burst of load from elsewhere on the machine
//! over all of them. On a shared machine a disturbed figure shows as a wide interval, and a
//! ratio's interval (from both figures' intervals) as a borderline goal.

use std::time::Instant;

/// Defines the modules `on_reel`, `on_shuttle` and `on_std`, each holding `$items` compiled
/// against that runtime, imported as `runtime` (`use runtime::sync::mpsc;`): a program is
/// written once against std's API and only its imports differ, as when porting code to reel.
/// In `$items`, `super::` is the module that invoked the macro.
macro_rules! for_each_runtime {
    ($($items:item)*) => {
        /// The programs on reel.
        pub mod on_reel {
            use reel as runtime;
            $($items)*
        }
        /// The programs on shuttle.
        pub mod on_shuttle {
            use shuttle as runtime;
            $($items)*
        }
        /// The programs on std threads.
        pub mod on_std {
            use std as runtime;
            $($items)*
        }
    };
}

mod exploration;
mod fairness;
mod inputs;
mod measure;
mod memory;
mod ping_pong;
mod recording;
mod replay;
mod spawn_join;
mod table;

use measure::Bench;
use memory::MemoryCase;
use recording::TraceFiles;
use table::Report;

/// What every measurement gets: criterion, the trace files, and the report it adds its rows
/// and notes to.
pub struct Run {
    /// Takes the timed figures.
    pub bench: Bench,
    /// Where recordings go.
    pub files: TraceFiles,
    /// The rows of the final table.
    pub report: Report,
    /// `--quick`: fewer, shorter samples, fewer threads.
    pub quick: bool,
}

/// Takes one measurement and adds it to the report.
type Measure = fn(&mut Run);

/// The measurements, in the order they run: the name a FILTER is matched against, and the
/// function that takes the measurement.
const MEASUREMENTS: [(&str, Measure); 12] = [
    ("pingpong", ping_pong::measure),
    ("pingpong-user-program", ping_pong::measure_user_program),
    ("lock-exploration", exploration::measure),
    ("lock-exploration-jobs", exploration::measure_jobs),
    ("spawn-join", spawn_join::measure),
    ("memory", memory::measure),
    ("pingpong-record", recording::measure_ping_pong),
    ("lock-exploration-record", recording::measure_exploration),
    ("replay", replay::measure),
    ("bytes-per-step", recording::measure_trace_size),
    ("clock-and-random", inputs::measure),
    ("pingpong-watchdog-slicing", fairness::measure),
];

/// Command-line options.
struct Options {
    /// Measurement names must contain one of these (all run when there is none).
    filters: Vec<String>,
    quick: bool,
    /// Set in a child process that measures one memory case.
    memory_child: Option<MemoryCase>,
    /// `--steps-child SETTING STEPS`: a plain run of STEPS atomic steps with the watchdog
    /// and slicing as SETTING says, and nothing else, for instruction counts under
    /// callgrind (see `fairness.rs`).
    steps_child: Option<(fairness::StepSetting, u64)>,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            filters: Vec::new(),
            quick: false,
            memory_child: None,
            steps_child: None,
        };
        let mut arguments = std::env::args().skip(1);
        while let Some(argument) = arguments.next() {
            match argument.as_str() {
                "--quick" => options.quick = true,
                "--memory-child" => {
                    let case = arguments.next().unwrap_or_default();
                    match MemoryCase::from_argument(&case) {
                        Some(case) => options.memory_child = Some(case),
                        None => {
                            eprintln!("unknown memory case {case:?}");
                            std::process::exit(2);
                        }
                    }
                }
                "--steps-child" => {
                    let setting = arguments.next().unwrap_or_default();
                    let steps = arguments.next().and_then(|steps| steps.parse().ok());
                    match (fairness::StepSetting::from_argument(&setting), steps) {
                        (Some(setting), Some(steps)) => {
                            options.steps_child = Some((setting, steps));
                        }
                        _ => {
                            eprintln!("usage: --steps-child off|watchdog|slicing|both STEPS");
                            std::process::exit(2);
                        }
                    }
                }
                // Cargo passes `--bench`; other harness flags mean nothing here either.
                flag if flag.starts_with('-') => {}
                filter => options.filters.push(filter.to_string()),
            }
        }
        options
    }

    fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|filter| name.contains(filter))
    }
}

fn main() {
    let options = Options::parse();
    if let Some(case) = options.memory_child {
        memory::run_child(case, options.quick);
        return;
    }
    if let Some((setting, steps)) = options.steps_child {
        fairness::run_steps(setting, steps);
        return;
    }
    let selected: Vec<_> = MEASUREMENTS
        .iter()
        .filter(|(name, _)| options.selects(name))
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = MEASUREMENTS.iter().map(|(name, _)| *name).collect();
        println!(
            "no measurement matches {:?}; the names are: {}",
            options.filters,
            names.join(", ")
        );
        return;
    }

    let started = Instant::now();
    let mut run = Run {
        bench: Bench::new(options.quick),
        files: TraceFiles::new(),
        report: Report::default(),
        quick: options.quick,
    };
    println!(
        "reel runtime benchmarks, {} mode, {} CPUs: {}",
        if options.quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, usize::from),
        run.bench.describe(),
    );
    for variable in [
        "REEL_RECORD",
        "REEL_REPLAY",
        "REEL_ITERATIONS",
        "REEL_SEED",
        "REEL_SHARD",
    ] {
        if std::env::var_os(variable).is_some_and(|value| !value.is_empty()) {
            println!("warning: {variable} is set; it changes what reel's figures measure");
        }
    }
    for (name, measure) in selected {
        println!("\n== {name}");
        measure(&mut run);
    }

    run.report.print();
    println!(
        "\nMeasured by `cargo bench --bench runtime{}` (benches/runtime/); {} CPUs; {}. \
         Total bench time {:.0} s.",
        if options.quick { " -- --quick" } else { "" },
        std::thread::available_parallelism().map_or(0, usize::from),
        run.bench.describe(),
        started.elapsed().as_secs_f64(),
    );
}
