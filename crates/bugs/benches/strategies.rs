//! The strategy benchmark: schedules to the first bug of every program of the suite, for
//! every reel strategy and shuttle's random, PCT (depth 3) and URW schedulers, over 20 seeds,
//! with a cap of 10,000 schedules; a table side by side, a verdict per program on reel's
//! `portfolio` against the best shuttle scheduler, and SURW's published figures beside reel's
//! `surw`.
//!
//! Run with `cargo bench -p reel-bugs --bench strategies`. Every (program, strategy, seed) runs
//! in a process of its own, since a failed shuttle execution can leave state behind for the
//! next: the binary re-executes itself with the hidden arguments
//! `--child PROGRAM RUNTIME STRATEGY SEED CAP` and the child prints one line (`found N`,
//! `none N`, `other N WHAT`). The children run REEL_BUGS_JOBS at a time (default 2).
//!
//! Settings, from the environment: REEL_BUGS_QUICK=1 (3 seeds, a cap of 1,000 schedules: a
//! try in about a minute), REEL_BUGS_SEEDS, REEL_BUGS_CAP, REEL_BUGS_JOBS, REEL_BUGS_PROGRAMS
//! and REEL_BUGS_STRATEGIES (comma-separated names, to run a part: a strategy is its reel
//! spelling or `shuttle random`, `shuttle pct(depth 3)`, `shuttle urw`). A child that runs
//! longer than REEL_BUGS_CHILD_SECONDS (default 300) is stopped and counted as not finding.

use std::collections::HashMap;
use std::io::{self, Read};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use reel::Strategy;
use reel_bugs::run::{self, Outcome, ShuttleStrategy};
use reel_bugs::{PROGRAMS, Program};

/// reel's strategies, by their spelling. A spelling this build of reel does not know (it
/// parses to `Strategy::Custom`) is skipped with a note.
const REEL_STRATEGIES: &[&str] = &[
    "random",
    "pct(depth 3)",
    "pct(random depth)",
    "urw",
    "surw",
    "pos",
    "dfs(preemptions 2)",
    "portfolio",
];

/// The strategy whose verdict is given per program against shuttle's best.
const PORTFOLIO: &str = "portfolio";

/// The strategy SURW's published figures are printed beside.
const SURW: &str = "surw";

/// Schedules to the first bug in SURW's evaluation (Zhao, Wolff, Mathur, Roychoudhury,
/// "Selectively Uniform Concurrency Testing", ASPLOS 2025).
const SURW_PUBLISHED: &[(&str, usize)] = &[("reorder_100", 194), ("twostage_100", 454)];

const DEFAULT_SEEDS: u64 = 20;
const DEFAULT_CAP: usize = 10_000;
const QUICK_SEEDS: u64 = 3;
const QUICK_CAP: usize = 1_000;
const DEFAULT_JOBS: usize = 2;
const DEFAULT_CHILD_SECONDS: u64 = 300;

/// Who explores: a reel strategy or a shuttle scheduler.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Contender {
    Reel(Strategy),
    Shuttle(ShuttleStrategy),
}

impl Contender {
    fn name(&self) -> String {
        match self {
            Contender::Reel(strategy) => strategy.to_string(),
            Contender::Shuttle(strategy) => strategy.to_string(),
        }
    }

    /// The child's arguments: runtime and strategy.
    fn arguments(&self) -> [String; 2] {
        match self {
            Contender::Reel(strategy) => ["reel".to_owned(), strategy.to_string()],
            Contender::Shuttle(strategy) => ["shuttle".to_owned(), strategy.to_string()],
        }
    }
}

struct Settings {
    seeds: u64,
    cap: usize,
    jobs: usize,
    child_limit: Duration,
    programs: Vec<&'static Program>,
    contenders: Vec<Contender>,
    /// Notes printed under the table.
    notes: Vec<String>,
}

fn env_number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={text} is not a number")),
        Err(_) => Ok(None),
    }
}

fn env_list(name: &str) -> Option<Vec<String>> {
    let text = std::env::var(name).ok()?;
    Some(
        text.split(',')
            .map(|word| word.trim().to_owned())
            .filter(|word| !word.is_empty())
            .collect(),
    )
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let quick = std::env::var("REEL_BUGS_QUICK").is_ok_and(|value| value != "0");
        let mut notes = Vec::new();
        let seeds = env_number("REEL_BUGS_SEEDS")?.unwrap_or(if quick {
            QUICK_SEEDS
        } else {
            DEFAULT_SEEDS
        });
        let cap =
            env_number("REEL_BUGS_CAP")?.unwrap_or(if quick { QUICK_CAP } else { DEFAULT_CAP });
        let jobs = env_number("REEL_BUGS_JOBS")?.unwrap_or(DEFAULT_JOBS).max(1);
        let child_seconds = env_number("REEL_BUGS_CHILD_SECONDS")?.unwrap_or(DEFAULT_CHILD_SECONDS);
        if seeds == 0 || cap == 0 {
            return Err("REEL_BUGS_SEEDS and REEL_BUGS_CAP must be at least 1".to_owned());
        }
        let programs = match env_list("REEL_BUGS_PROGRAMS") {
            None => PROGRAMS.iter().collect(),
            Some(names) => names
                .iter()
                .map(|name| {
                    reel_bugs::program(name).ok_or_else(|| {
                        let known: Vec<_> = PROGRAMS.iter().map(|program| program.name).collect();
                        format!("no program {name:?}; the programs: {}", known.join(", "))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut contenders = Vec::new();
        for spelling in REEL_STRATEGIES {
            match Strategy::parse(spelling) {
                Strategy::Custom(_) => notes.push(format!(
                    "reel strategy '{spelling}' skipped: this build of reel does not know it"
                )),
                strategy => contenders.push(Contender::Reel(strategy)),
            }
        }
        contenders.extend(ShuttleStrategy::ALL.map(Contender::Shuttle));
        if let Some(names) = env_list("REEL_BUGS_STRATEGIES") {
            for name in &names {
                if !contenders.iter().any(|contender| contender.name() == *name) {
                    let known: Vec<_> = contenders.iter().map(Contender::name).collect();
                    return Err(format!(
                        "no strategy {name:?} to run; the strategies: {}",
                        known.join(", ")
                    ));
                }
            }
            contenders.retain(|contender| names.contains(&contender.name()));
        }
        if quick {
            notes.push(format!(
                "quick mode (REEL_BUGS_QUICK): {seeds} seeds, a cap of {cap} schedules"
            ));
        }
        Ok(Settings {
            seeds,
            cap,
            jobs,
            child_limit: Duration::from_secs(child_seconds),
            programs,
            contenders,
            notes,
        })
    }
}

/// One child's work.
struct Job {
    program: &'static Program,
    contender: usize,
    seed: u64,
}

/// What a child reported, or why it reported nothing.
#[derive(Clone, Debug)]
enum Result_ {
    Outcome(Outcome),
    TimedOut,
    Broken(String),
}

fn run_child(job: &Job, contender: &Contender, cap: usize, limit: Duration) -> Result_ {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => return Result_::Broken(format!("no path to this program: {error}")),
    };
    let [runtime, strategy] = contender.arguments();
    let mut child = match Command::new(exe)
        .args(["--child", job.program.name, &runtime, &strategy])
        .arg(job.seed.to_string())
        .arg(cap.to_string())
        .env_remove("REEL_SEED")
        .env_remove("REEL_ITERATIONS")
        .env_remove("REEL_REPLAY")
        .env_remove("REEL_CHECK_DETERMINISM")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => return Result_::Broken(format!("could not start a child: {error}")),
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_status)) => break,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Result_::TimedOut;
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(error) => return Result_::Broken(format!("waiting for a child: {error}")),
        }
    }
    let mut output = String::new();
    if let Some(mut stdout) = child.stdout.take()
        && let Err(error) = stdout.read_to_string(&mut output)
    {
        return Result_::Broken(format!("reading a child's output: {error}"));
    }
    let line = output.lines().last().unwrap_or("");
    let what = format!(
        "{} / {} / seed {}",
        job.program.name,
        contender.name(),
        job.seed
    );
    if let Some(why) = line.strip_prefix("broken ") {
        return Result_::Broken(format!("{what}: {why}"));
    }
    match Outcome::parse(line) {
        Some(outcome) => Result_::Outcome(outcome),
        None => Result_::Broken(format!(
            "{what}: the child said {line:?} (and nothing else on stdout)"
        )),
    }
}

/// The child: explores one program with one strategy and seed. Prints the outcome, or
/// `broken WHY` when it could not explore (bad arguments, a panic outside the program).
fn child(arguments: &[String]) {
    // The program's failures are expected and caught: no panic messages.
    std::panic::set_hook(Box::new(|_| {}));
    let result =
        std::panic::catch_unwind(|| explore_in_child(arguments)).unwrap_or_else(|payload| {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| {
                    payload
                        .downcast_ref::<&str>()
                        .map(|text| (*text).to_owned())
                })
                .unwrap_or_default();
            Err(format!("the child panicked: {message}"))
        });
    match result {
        Ok(outcome) => println!("{outcome}"),
        Err(why) => println!("broken {}", why.replace('\n', " ")),
    }
}

fn explore_in_child(arguments: &[String]) -> Result<Outcome, String> {
    let [program, runtime, strategy, seed, cap] = arguments else {
        return Err("usage: --child PROGRAM reel|shuttle STRATEGY SEED CAP".to_owned());
    };
    let program = reel_bugs::program(program).ok_or_else(|| format!("no program {program:?}"))?;
    let seed: u64 = seed.parse().map_err(|_| format!("bad seed {seed:?}"))?;
    let cap: usize = cap.parse().map_err(|_| format!("bad cap {cap:?}"))?;
    match runtime.as_str() {
        "reel" => match Strategy::parse(strategy) {
            Strategy::Custom(name) => Err(format!("reel does not know strategy {name:?}")),
            strategy => Ok(run::on_reel(program, &strategy, seed, cap)),
        },
        "shuttle" => {
            let strategy = ShuttleStrategy::parse(strategy)
                .ok_or_else(|| format!("no shuttle strategy {strategy:?}"))?;
            Ok(run::on_shuttle(program, strategy, seed, cap))
        }
        other => Err(format!("no runtime {other:?}: reel or shuttle")),
    }
}

/// Per (program, contender): the schedules to the bug of each seed that found it, and the
/// seeds that ended otherwise.
#[derive(Default, Clone)]
struct Cell {
    found: Vec<usize>,
    other: Vec<String>,
    timed_out: usize,
}

impl Cell {
    fn mean(&self) -> Option<f64> {
        (!self.found.is_empty())
            .then(|| self.found.iter().sum::<usize>() as f64 / self.found.len() as f64)
    }

    fn text(&self, seeds: u64) -> String {
        match self.mean() {
            Some(mean) => format!("{mean:.1} ({}/{seeds})", self.found.len()),
            None => format!("- (0/{seeds})"),
        }
    }

    /// Ordered best first: more seeds found, then fewer schedules.
    fn better_than(&self, other: &Cell) -> bool {
        match self.found.len().cmp(&other.found.len()) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => {
                self.mean().unwrap_or(f64::MAX) < other.mean().unwrap_or(f64::MAX)
            }
        }
    }
}

fn parent(settings: Settings) -> Result<(), String> {
    let started = Instant::now();
    let jobs: Vec<Job> = settings
        .programs
        .iter()
        .flat_map(|program| {
            (0..settings.contenders.len()).flat_map(move |contender| {
                (0..settings.seeds).map(move |seed| Job {
                    program,
                    contender,
                    seed,
                })
            })
        })
        .collect();
    eprintln!(
        "strategies: {} programs x {} strategies x {} seeds = {} children, cap {} schedules, \
         {} at a time",
        settings.programs.len(),
        settings.contenders.len(),
        settings.seeds,
        jobs.len(),
        settings.cap,
        settings.jobs
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<HashMap<(&str, usize), Cell>> = Mutex::new(HashMap::new());
    let broken: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..settings.jobs {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    let contender = &settings.contenders[job.contender];
                    let result = run_child(job, contender, settings.cap, settings.child_limit);
                    let mut results = results.lock().unwrap();
                    let cell = results
                        .entry((job.program.name, job.contender))
                        .or_default();
                    match result {
                        Result_::Outcome(Outcome::Found { schedules }) => {
                            cell.found.push(schedules)
                        }
                        Result_::Outcome(Outcome::Other { schedules, failure }) => {
                            cell.other.push(format!("{failure} at {schedules}"))
                        }
                        Result_::Outcome(Outcome::NotFound { .. }) => {}
                        Result_::TimedOut => cell.timed_out += 1,
                        Result_::Broken(why) => broken.lock().unwrap().push(why),
                    }
                    drop(results);
                    let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if done % 100 == 0 || done == jobs.len() {
                        eprintln!(
                            "strategies: {done}/{} children done ({:.0} s)",
                            jobs.len(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let broken = broken.into_inner().unwrap();
    print_table(&settings, &results, started.elapsed());
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} children failed:\n  {}",
            broken.len(),
            broken.join("\n  ")
        ))
    }
}

fn print_table(settings: &Settings, results: &HashMap<(&str, usize), Cell>, elapsed: Duration) {
    let seeds = settings.seeds;
    let cell = |program: &str, contender: usize| {
        results
            .get(&(program, contender))
            .cloned()
            .unwrap_or_default()
    };
    println!();
    println!(
        "Schedules to the first bug: mean over the seeds that found it (seeds that found it / \
         {seeds}); cap {} schedules",
        settings.cap
    );
    let name_width = settings
        .programs
        .iter()
        .map(|program| program.name.len())
        .chain(SURW_PUBLISHED.iter().map(|(name, _)| name.len()))
        .max()
        .unwrap_or(7)
        .max(7);
    let widths: Vec<usize> = settings
        .contenders
        .iter()
        .map(|contender| contender.name().len().max(12))
        .collect();
    let mut header = format!("{:name_width$}", "program");
    for (contender, width) in settings.contenders.iter().zip(&widths) {
        header.push_str(&format!("  {:>width$}", contender.name()));
    }
    println!("{header}");
    println!("{}", "-".repeat(header.len()));
    for program in &settings.programs {
        let mut row = format!("{:name_width$}", program.name);
        for (index, width) in widths.iter().enumerate() {
            row.push_str(&format!(
                "  {:>width$}",
                cell(program.name, index).text(seeds)
            ));
        }
        println!("{row}");
    }

    let find = |name: &str| {
        settings.contenders.iter().position(
            |contender| matches!(contender, Contender::Reel(strategy) if strategy == name),
        )
    };
    let shuttle: Vec<usize> = settings
        .contenders
        .iter()
        .enumerate()
        .filter(|(_, contender)| matches!(contender, Contender::Shuttle(_)))
        .map(|(index, _)| index)
        .collect();
    println!();
    match find(PORTFOLIO) {
        None => println!(
            "reel's {PORTFOLIO}: not in this run (this build of reel does not know it, or it was \
             filtered out)"
        ),
        Some(portfolio) if !shuttle.is_empty() => {
            println!(
                "reel's {PORTFOLIO} against the best shuttle scheduler (more seeds found, then \
                 fewer schedules):"
            );
            for program in &settings.programs {
                let ours = cell(program.name, portfolio);
                let best = shuttle
                    .iter()
                    .copied()
                    .reduce(|best, index| {
                        if cell(program.name, index).better_than(&cell(program.name, best)) {
                            index
                        } else {
                            best
                        }
                    })
                    .expect("a shuttle scheduler");
                let theirs = cell(program.name, best);
                let verdict = if theirs.better_than(&ours) {
                    "ABOVE"
                } else {
                    "at or under"
                };
                println!(
                    "  {:name_width$}  {verdict}: {} vs {} {}",
                    program.name,
                    ours.text(seeds),
                    settings.contenders[best].name(),
                    theirs.text(seeds)
                );
            }
        }
        Some(_) => {}
    }
    println!();
    println!("SURW's published figures (schedules to the first bug) beside reel's {SURW}:");
    let surw = find(SURW);
    for (name, published) in SURW_PUBLISHED {
        let ours = match surw {
            Some(index)
                if settings
                    .programs
                    .iter()
                    .any(|program| program.name == *name) =>
            {
                cell(name, index).text(seeds)
            }
            Some(_) => "not in this run".to_owned(),
            None => "not in this build".to_owned(),
        };
        println!("  {name:name_width$}  published {published}, reel {SURW} {ours}");
    }

    let mut others = Vec::new();
    for program in &settings.programs {
        for (index, contender) in settings.contenders.iter().enumerate() {
            let cell = cell(program.name, index);
            if !cell.other.is_empty() {
                others.push(format!(
                    "  {} / {}: {}",
                    program.name,
                    contender.name(),
                    cell.other.join(", ")
                ));
            }
            if cell.timed_out > 0 {
                others.push(format!(
                    "  {} / {}: {} seeds stopped after {} s",
                    program.name,
                    contender.name(),
                    cell.timed_out,
                    settings.child_limit.as_secs()
                ));
            }
        }
    }
    if !others.is_empty() {
        println!();
        println!("Seeds that ended otherwise (not counted as found):");
        for line in others {
            println!("{line}");
        }
    }
    println!();
    for note in &settings.notes {
        println!("note: {note}");
    }
    println!(
        "wall time {:.1} s, {} children at a time (REEL_BUGS_JOBS)",
        elapsed.as_secs_f64(),
        settings.jobs
    );
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = arguments.iter().position(|argument| argument == "--child") {
        child(&arguments[at + 1..]);
        return ExitCode::SUCCESS;
    }
    let result = Settings::from_env().and_then(parent);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = io::Write::write_all(
                &mut io::stderr(),
                format!("strategies: {message}\n").as_bytes(),
            );
            ExitCode::FAILURE
        }
    }
}
