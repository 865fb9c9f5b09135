//! The results table: the rows the measurements add, their goals and whether each is met, and
//! how figures, intervals and ratios are printed (as Markdown, for README.md).

use crate::measure::Figure;
use crate::recording::TraceSize;

/// What a row's figures count. Times are kept as nanoseconds per unit whatever they are shown
/// as, so a ratio of two figures is a ratio of costs: lower is better for every figure.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    /// Shown as nanoseconds per unit (the unit's name).
    Nanos(&'static str),
    /// Shown as units (the unit's name) per second.
    PerSecond(&'static str),
    /// Resident KiB per live thread.
    KibPerThread,
}

impl Unit {
    fn name(self) -> String {
        match self {
            Unit::Nanos(unit) => format!("ns/{unit}"),
            Unit::PerSecond(unit) => format!("{unit}s/s"),
            Unit::KibPerThread => "KiB/thread".to_string(),
        }
    }

    /// The figure as shown: rates are the inverse of the time per unit.
    fn shown(self, cost: Figure) -> Figure {
        match self {
            Unit::PerSecond(_) => cost.inverse(1e9),
            Unit::Nanos(_) | Unit::KibPerThread => cost,
        }
    }

    /// The words for a ratio of costs above and below one.
    fn comparison(self) -> (&'static str, &'static str) {
        match self {
            Unit::Nanos(_) | Unit::PerSecond(_) => ("faster", "slower"),
            Unit::KibPerThread => ("less", "more"),
        }
    }
}

/// A goal on one figure of a row.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    /// No goal.
    None,
    /// reel's figure (a cost, in the row's unit) is at most this; `unit` names it in the goal.
    ReelAtMost { limit: f64, unit: &'static str },
    /// reel does at least this many times as much as shuttle in the same time.
    ReelTimesShuttle(f64),
}

/// Whether a figure meets a bound, judged on its whole interval: "met" when all of it does,
/// "NOT met" when none of it does, "borderline" (and what the point estimate says) otherwise.
fn status(figure: Option<Figure>, at_most: Option<f64>, at_least: Option<f64>) -> String {
    let Some(figure) = figure else {
        return "unknown (failed)".to_string();
    };
    let meets = |value: f64| {
        at_most.is_none_or(|limit| value <= limit) && at_least.is_none_or(|limit| value >= limit)
    };
    match (meets(figure.low), meets(figure.point), meets(figure.high)) {
        (true, _, true) => "met".to_string(),
        (false, false, false) => "NOT met".to_string(),
        (_, true, _) => "borderline (point estimate: met)".to_string(),
        (_, false, _) => "borderline (point estimate: NOT met)".to_string(),
    }
}

/// A row comparing reel, shuttle and std threads.
pub struct VersusRow {
    pub title: String,
    pub unit: Unit,
    pub reel: Option<Figure>,
    pub shuttle: Option<Figure>,
    pub std: Option<Figure>,
    pub goal: Goal,
}

impl VersusRow {
    /// How many times better reel is than `other` (other's cost over reel's).
    fn advantage(&self, other: Option<Figure>) -> Option<Figure> {
        Some(other?.over(self.reel?))
    }

    fn goal_cells(&self) -> (String, String) {
        match self.goal {
            Goal::None => ("-".to_string(), "-".to_string()),
            Goal::ReelAtMost { limit, unit } => (
                format!("reel <= {limit} {unit}"),
                status(self.reel, Some(limit), None),
            ),
            Goal::ReelTimesShuttle(times) => (
                format!("reel >= {times}x shuttle"),
                status(self.advantage(self.shuttle), None, Some(times)),
            ),
        }
    }
}

/// A row of reel's recording overhead: the same work with recording off and on.
pub struct RecordRow {
    pub title: String,
    pub unit: Unit,
    pub off: Option<Figure>,
    pub on: Option<Figure>,
    /// The goal: recording makes a unit take at most this many times as long.
    pub max_slowdown: f64,
}

/// The replay row: whole runs of one program, unrecorded, recorded and replayed, in
/// nanoseconds per step.
pub struct ReplayRow {
    pub title: String,
    pub unrecorded: Option<Figure>,
    pub recorded: Option<Figure>,
    pub replay: Option<Figure>,
}

/// A row of the trace-size table.
pub struct SizeRow {
    pub title: String,
    pub size: Option<TraceSize>,
    /// Bytes per step over the trace of an empty program (the fixed header and prologue).
    pub over_empty: Option<f64>,
    /// The goal: at most this many bytes per step.
    pub max_bytes_per_step: f64,
}

/// Everything measured, printed at the end.
#[derive(Default)]
pub struct Report {
    pub versus: Vec<VersusRow>,
    pub recording: Vec<RecordRow>,
    /// Features of plain runs (the watchdog, time slicing), off against on.
    pub toggles: Vec<RecordRow>,
    pub replay: Option<ReplayRow>,
    pub sizes: Vec<SizeRow>,
    /// How each measurement is taken, printed under the tables.
    pub notes: Vec<String>,
}

impl Report {
    pub fn print(&self) {
        println!("\n== results (figures: median ± half its 95% confidence interval)");
        if !self.versus.is_empty() {
            println!();
            print_table(
                &[
                    "measurement",
                    "unit",
                    "reel",
                    "shuttle",
                    "std",
                    "reel vs shuttle",
                    "reel vs std",
                    "goal",
                    "met?",
                ],
                "llrrrrrll",
                self.versus.iter().map(|row| {
                    let (goal, met) = row.goal_cells();
                    vec![
                        row.title.clone(),
                        row.unit.name(),
                        figure_cell(row.unit, row.reel),
                        figure_cell(row.unit, row.shuttle),
                        figure_cell(row.unit, row.std),
                        comparison_cell(row.unit, row.advantage(row.shuttle)),
                        comparison_cell(row.unit, row.advantage(row.std)),
                        goal,
                        met,
                    ]
                }),
            );
        }
        if !self.recording.is_empty() {
            println!();
            print_table(
                &[
                    "reel, recording",
                    "unit",
                    "off",
                    "on",
                    "slowdown (on/off)",
                    "goal",
                    "met?",
                ],
                "llrrrll",
                self.recording.iter().map(|row| {
                    let slowdown = row.on.zip(row.off).map(|(on, off)| on.over(off));
                    vec![
                        row.title.clone(),
                        row.unit.name(),
                        figure_cell(row.unit, row.off),
                        figure_cell(row.unit, row.on),
                        slowdown.map_or_else(|| "-".to_string(), ratio_cell),
                        format!("<= {}x", row.max_slowdown),
                        status(slowdown, Some(row.max_slowdown), None),
                    ]
                }),
            );
        }
        if !self.toggles.is_empty() {
            println!();
            print_table(
                &[
                    "reel, plain-run feature",
                    "unit",
                    "off",
                    "on",
                    "slowdown (on/off)",
                    "goal",
                    "met?",
                ],
                "llrrrll",
                self.toggles.iter().map(|row| {
                    let slowdown = row.on.zip(row.off).map(|(on, off)| on.over(off));
                    vec![
                        row.title.clone(),
                        row.unit.name(),
                        figure_cell(row.unit, row.off),
                        figure_cell(row.unit, row.on),
                        slowdown.map_or_else(|| "-".to_string(), ratio_cell),
                        format!("<= {}x", row.max_slowdown),
                        status(slowdown, Some(row.max_slowdown), None),
                    ]
                }),
            );
        }
        if let Some(row) = &self.replay {
            let unit = Unit::PerSecond("step");
            let speedup = |of: Option<Figure>, over: Option<Figure>| {
                of.zip(over)
                    .map_or_else(|| "-".to_string(), |(of, over)| ratio_cell(of.over(over)))
            };
            println!();
            print_table(
                &[
                    "reel, whole run",
                    "unit",
                    "unrecorded",
                    "recorded",
                    "replay",
                    "replay / recorded",
                    "replay / unrecorded",
                    "goal",
                    "met?",
                ],
                "llrrrrrll",
                [vec![
                    row.title.clone(),
                    unit.name(),
                    figure_cell(unit, row.unrecorded),
                    figure_cell(unit, row.recorded),
                    figure_cell(unit, row.replay),
                    // Speed ratios: the other's time per step over the replay's.
                    speedup(row.recorded, row.replay),
                    speedup(row.unrecorded, row.replay),
                    "-".to_string(),
                    "-".to_string(),
                ]],
            );
        }
        if !self.sizes.is_empty() {
            println!();
            print_table(
                &[
                    "trace",
                    "steps",
                    "file bytes",
                    "bytes/step",
                    "over an empty trace",
                    "goal",
                    "met?",
                ],
                "lrrrrll",
                self.sizes.iter().map(|row| {
                    let count = |count: Option<u64>| {
                        count.map_or_else(|| "FAILED".to_string(), format_count)
                    };
                    let bytes_per_step = row.size.as_ref().map(TraceSize::bytes_per_step);
                    let limit = Some(row.max_bytes_per_step);
                    let mut met = status(bytes_per_step.map(Figure::exact), limit, None);
                    let over_empty = status(row.over_empty.map(Figure::exact), limit, None);
                    if row.over_empty.is_some() && over_empty != met {
                        met.push_str(&format!(" (over empty: {over_empty})"));
                    }
                    vec![
                        row.title.clone(),
                        count(row.size.as_ref().map(|size| size.steps)),
                        count(row.size.as_ref().map(|size| size.file_bytes)),
                        bytes_per_step.map_or_else(|| "FAILED".to_string(), format_number),
                        row.over_empty
                            .map_or_else(|| "-".to_string(), format_number),
                        format!("<= {} B/step", row.max_bytes_per_step),
                        met,
                    ]
                }),
            );
        }
        println!();
        for note in &self.notes {
            println!("* {note}");
        }
    }
}

/// Prints a Markdown table with padded columns, aligned as `align` says, one letter a column:
/// `l` left (text), `r` right (figures).
fn print_table(header: &[&str], align: &str, rows: impl IntoIterator<Item = Vec<String>>) {
    let right: Vec<bool> = align.chars().map(|letter| letter == 'r').collect();
    assert_eq!(right.len(), header.len(), "one alignment per column");
    let rows: Vec<Vec<String>> = rows.into_iter().collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([header[column].chars().count(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(column, cell)| {
                let width = widths[column];
                if right[column] {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.iter().map(|cell| cell.to_string()).collect());
    line(
        widths
            .iter()
            .enumerate()
            .map(|(column, &width)| {
                if right[column] {
                    format!("{}:", "-".repeat(width - 1))
                } else {
                    "-".repeat(width)
                }
            })
            .collect(),
    );
    for row in rows {
        line(row);
    }
}

/// A figure in its row's unit, with its interval as ± a percentage when it has one.
fn figure_cell(unit: Unit, cost: Option<Figure>) -> String {
    let Some(cost) = cost else {
        return "FAILED".to_string();
    };
    let shown = unit.shown(cost);
    let half_width = shown.relative_half_width();
    if half_width > 0.0 {
        format!(
            "{} ±{}%",
            format_number(shown.point),
            format_percent(half_width)
        )
    } else {
        format_number(shown.point)
    }
}

/// How many times better reel is, e.g. `3.21x faster`, `2.05x slower`, `1.22x less`.
fn comparison_cell(unit: Unit, advantage: Option<Figure>) -> String {
    let Some(advantage) = advantage else {
        return "-".to_string();
    };
    let (better, worse) = unit.comparison();
    if advantage.point >= 1.0 {
        format!("{} {better}", format_ratio(advantage.point))
    } else {
        format!("{} {worse}", format_ratio(1.0 / advantage.point))
    }
}

/// A ratio with its interval, e.g. `1.18x (1.15x-1.21x)`.
fn ratio_cell(ratio: Figure) -> String {
    format!(
        "{} ({}-{})",
        format_ratio(ratio.point),
        format_ratio(ratio.low),
        format_ratio(ratio.high)
    )
}

/// A ratio with three significant digits, e.g. `0.00712x`, `1.25x`, `312x`.
pub fn format_ratio(ratio: f64) -> String {
    if ratio >= 100.0 {
        format!("{ratio:.0}x")
    } else if ratio > 0.0 {
        let decimals = (2 - ratio.log10().floor() as i32).max(0) as usize;
        format!("{ratio:.decimals$}x")
    } else {
        format!("{ratio}x")
    }
}

/// A fraction as a percentage with two significant digits, e.g. `0.41`, `3.2`, `15`.
fn format_percent(fraction: f64) -> String {
    let percent = fraction * 100.0;
    if percent >= 10.0 {
        format!("{percent:.0}")
    } else if percent >= 1.0 {
        format!("{percent:.1}")
    } else {
        format!("{percent:.2}")
    }
}

/// A number with about four significant digits and thousands separators.
pub fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= 1000.0 {
        let digits = format!("{:.0}", value.abs());
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        if value < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else if value.abs() >= 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A count, with thousands separators.
pub fn format_count(count: u64) -> String {
    if count >= 1000 {
        format_number(count as f64)
    } else {
        count.to_string()
    }
}
