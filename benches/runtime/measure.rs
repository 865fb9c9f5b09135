//! How a timed figure is taken: criterion's settings, one `iter_custom` benchmark per
//! contender, criterion's estimate read back from the file it saves, and the helpers that run
//! N units of work on each runtime.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use serde::Deserialize;

/// A measured figure with its confidence interval: nanoseconds per unit of work for a time,
/// or an exact value (`low == point == high`) for what is read once, such as a size.
#[derive(Clone, Copy, Debug)]
pub struct Figure {
    pub point: f64,
    pub low: f64,
    pub high: f64,
}

impl Figure {
    /// A value read once, without an interval.
    pub fn exact(value: f64) -> Figure {
        Figure {
            point: value,
            low: value,
            high: value,
        }
    }

    /// The figure times a positive `factor`.
    pub fn scaled(self, factor: f64) -> Figure {
        Figure {
            point: self.point * factor,
            low: self.low * factor,
            high: self.high * factor,
        }
    }

    /// `numerator / self`, e.g. units per second from nanoseconds per unit (the interval's
    /// bounds swap).
    pub fn inverse(self, numerator: f64) -> Figure {
        Figure {
            point: numerator / self.point,
            low: numerator / self.high,
            high: numerator / self.low,
        }
    }

    /// `self / other`, with the widest interval the two intervals allow.
    pub fn over(self, other: Figure) -> Figure {
        Figure {
            point: self.point / other.point,
            low: self.low / other.high,
            high: self.high / other.low,
        }
    }

    /// Half the interval's width, relative to the point estimate.
    pub fn relative_half_width(self) -> f64 {
        (self.high - self.low) / 2.0 / self.point
    }
}

/// criterion, set up for this run, and where it saves its estimates.
pub struct Bench {
    criterion: Criterion,
    directory: PathBuf,
    samples: usize,
    warm_up: Duration,
    measurement: Duration,
}

impl Bench {
    pub fn new(quick: bool) -> Bench {
        let (samples, warm_up, measurement) = if quick {
            (10, Duration::from_millis(250), Duration::from_millis(750))
        } else {
            (30, Duration::from_secs(1), Duration::from_secs(3))
        };
        let directory = criterion_home();
        // Given explicitly so that criterion saves where `measure` reads, whatever it would
        // have found by itself.
        let criterion = Criterion::default()
            .output_directory(&directory)
            .sample_size(samples)
            .warm_up_time(warm_up)
            .measurement_time(measurement)
            .without_plots();
        Bench {
            criterion,
            directory,
            samples,
            warm_up,
            measurement,
        }
    }

    /// How the figures are taken, for the header and the footer.
    pub fn describe(&self) -> String {
        format!(
            "criterion, per figure {:.2} s of warm-up and {} samples in {:.2} s, median with \
             its 95% confidence interval (data in {})",
            self.warm_up.as_secs_f64(),
            self.samples,
            self.measurement.as_secs_f64(),
            self.directory.display(),
        )
    }

    /// Benchmarks `routine` as `group/name`: `routine(n)` does `n` units of work and returns
    /// the time they took. Returns criterion's median time per unit, in nanoseconds, with its
    /// confidence interval; None (after saying why) if the routine panicked or criterion saved
    /// no estimate.
    pub fn measure(
        &mut self,
        group: &str,
        name: &str,
        mut routine: impl FnMut(u64) -> Duration,
    ) -> Option<Figure> {
        let estimates = self
            .directory
            .join(group)
            .join(name)
            .join("new")
            .join("estimates.json");
        // criterion rewrites this file; gone beforehand, a file read afterwards is this run's.
        let _ = std::fs::remove_file(&estimates);
        let criterion = &mut self.criterion;
        let ran = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut benchmarks = criterion.benchmark_group(group);
            benchmarks.sampling_mode(SamplingMode::Flat);
            benchmarks.bench_function(name, |bencher| bencher.iter_custom(&mut routine));
            benchmarks.finish();
        }));
        if ran.is_err() {
            println!("{group}/{name}: FAILED (panicked; see the message above)");
            return None;
        }
        match read_median(&estimates) {
            Ok(figure) => Some(figure),
            Err(error) => {
                println!("{group}/{name}: no estimate: {error}");
                None
            }
        }
    }
}

/// Where criterion keeps its data: CRITERION_HOME, else `criterion` in the target directory
/// (CARGO_TARGET_DIR, else the one this binary was built in: `TARGET/PROFILE/deps/runtime-*`).
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME").filter(|home| !home.is_empty()) {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(target).join("criterion");
    }
    std::env::current_exe()
        .ok()
        .and_then(|executable| executable.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion")
}

/// The parts of criterion's `estimates.json` the table uses.
#[derive(Deserialize)]
struct SavedEstimates {
    median: SavedEstimate,
}

#[derive(Deserialize)]
struct SavedEstimate {
    point_estimate: f64,
    confidence_interval: SavedInterval,
}

#[derive(Deserialize)]
struct SavedInterval {
    lower_bound: f64,
    upper_bound: f64,
}

/// The median (nanoseconds per iteration) in criterion's `estimates.json` at `path`.
fn read_median(path: &Path) -> Result<Figure, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let estimates: SavedEstimates = serde_json::from_str(&text)
        .map_err(|error| format!("cannot parse {}: {error}", path.display()))?;
    let median = estimates.median;
    let figure = Figure {
        point: median.point_estimate,
        low: median.confidence_interval.lower_bound,
        high: median.confidence_interval.upper_bound,
    };
    if figure.low > 0.0 && figure.low <= figure.point && figure.point <= figure.high {
        Ok(figure)
    } else {
        Err(format!("{}: unusable median {figure:?}", path.display()))
    }
}

/// The time `f` takes.
pub fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Runs `units` units of work in as many executions as needed, at most `per_execution` each,
/// and adds up the times the executions return.
pub fn in_executions(
    units: u64,
    per_execution: u64,
    mut execution: impl FnMut(u64) -> Duration,
) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut remaining = units;
    while remaining > 0 {
        let chunk = remaining.min(per_execution);
        elapsed += execution(chunk);
        remaining -= chunk;
    }
    elapsed
}

/// Runs `f` as the single execution of `shuttle::check_random(.., 1)` and returns its result.
pub fn in_one_shuttle_execution<T: Send + 'static>(f: impl Fn() -> T + Send + Sync + 'static) -> T {
    let result = std::sync::Arc::new(std::sync::Mutex::new(None));
    let result_in_execution = std::sync::Arc::clone(&result);
    shuttle::check_random(
        move || {
            let value = f();
            *result_in_execution.lock().expect("not poisoned") = Some(value);
        },
        1,
    );
    let value = result.lock().expect("not poisoned").take();
    value.expect("check_random(.., 1) runs the closure once")
}
