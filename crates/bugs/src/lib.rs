//! A public bug suite: programs of SCTBench (Thomson, Donaldson, Betts, "Concurrency testing
//! using controlled schedulers: an empirical study", PPoPP 2014 / TOPC 2016) ported to Rust with
//! the bug their original has, plus two shapes where a uniform random walk shines, each
//! runnable on reel and on shuttle.
//!
//! Every program is written once, against std's API, and compiled for each runtime by
//! `for_each_runtime!`, which expands it twice: in a module `on_reel` with `use reel as rt;`
//! and in a module `on_shuttle` with `use shuttle as rt;`. A program's bug is a panic (an
//! `assert!` as in the original) or a deadlock. Plain shared variables that the original
//! reads and writes without a lock (the racy ones, which SCTBench's tools made scheduling
//! points) become the runtime's atomics, so that each access is a step; data only ever
//! touched under a lock lives in the runtime's `Mutex`; and memory that no two threads race
//! on uses std's atomics, which are no step on either runtime.
//!
//! [`PROGRAMS`] lists them with the failure each must end in; [`run`] explores one with a
//! reel strategy or a shuttle scheduler and counts the schedules to the first bug:
//!
//! ```
//! use reel_bugs::{Bug, program, run};
//!
//! let deadlock01 = program("deadlock01").unwrap();
//! assert_eq!(deadlock01.bug, Bug::Deadlock);
//! let outcome = run::on_reel(deadlock01, &reel::Strategy::Random, 1, 1_000);
//! assert!(outcome.found().is_some());
//! ```

pub mod run;

/// Expands `$items` twice, in `pub mod on_reel` (with `use reel as rt;`) and in
/// `pub mod on_shuttle` (with `use shuttle as rt;`), so a program written once against
/// `rt::sync` and `rt::thread` runs on both runtimes. Inside `$items`, `super::` is the module
/// that invoked the macro.
macro_rules! for_each_runtime {
    ($($items:item)*) => {
        /// The program on reel.
        pub mod on_reel {
            #[allow(unused_imports)]
            use reel as rt;
            $($items)*
        }
        /// The program on shuttle.
        pub mod on_shuttle {
            #[allow(unused_imports)]
            use shuttle as rt;
            $($items)*
        }
    };
}

pub mod programs;

/// How a program's bug shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// A thread panics: an `assert!` of the original fails.
    Panic,
    /// Threads wait for each other for ever.
    Deadlock,
}

impl std::fmt::Display for Bug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bug::Panic => "panic",
            Bug::Deadlock => "deadlock",
        })
    }
}

/// One program of the suite, compiled for both runtimes.
#[derive(Clone, Copy, Debug)]
pub struct Program {
    /// Its name (SCTBench's, where it comes from there).
    pub name: &'static str,
    /// Where it comes from.
    pub origin: &'static str,
    /// How its bug shows.
    pub bug: Bug,
    /// The program on reel: one execution's main.
    pub reel: fn(),
    /// The program on shuttle.
    pub shuttle: fn(),
    /// A version without the bug, where the fix is meaningful.
    pub fixed: Option<Fixed>,
}

/// A program's version without its bug.
#[derive(Clone, Copy, Debug)]
pub struct Fixed {
    /// On reel.
    pub reel: fn(),
    /// On shuttle.
    pub shuttle: fn(),
}

/// Builds a [`Program`] from a module of `programs` that has `bug` (and `fixed` when `fixed`
/// is given) in `on_reel` and `on_shuttle`.
macro_rules! program {
    ($name:literal, $module:ident :: $function:ident, $origin:expr, $bug:ident) => {
        Program {
            name: $name,
            origin: $origin,
            bug: Bug::$bug,
            reel: programs::$module::on_reel::$function,
            shuttle: programs::$module::on_shuttle::$function,
            fixed: None,
        }
    };
    ($name:literal, $module:ident :: $function:ident, $origin:expr, $bug:ident, $fixed:ident) => {
        Program {
            fixed: Some(Fixed {
                reel: programs::$module::on_reel::$fixed,
                shuttle: programs::$module::on_shuttle::$fixed,
            }),
            ..program!($name, $module::$function, $origin, $bug)
        }
    };
}

/// SCTBench's CS (concurrent-software-benchmarks) directory.
const CS: &str = "SCTBench CS";

/// Every program of the suite.
pub const PROGRAMS: &[Program] = &[
    program!("account", account::bug, CS, Panic, fixed),
    program!("bluetooth_driver", bluetooth_driver::bug, CS, Panic, fixed),
    program!("carter01", carter01::bug, CS, Deadlock, fixed),
    program!("circular_buffer", circular_buffer::bug, CS, Panic, fixed),
    program!("deadlock01", deadlock01::bug, CS, Deadlock, fixed),
    program!("lazy01", lazy01::bug, CS, Panic),
    program!("queue", queue::bug, CS, Panic, fixed),
    program!("reorder_3", reorder::bug_3, CS, Panic, fixed_3),
    program!("reorder_10", reorder::bug_10, CS, Panic),
    program!(
        "reorder_100",
        reorder::bug_100,
        "SCTBench CS shape, SURW",
        Panic
    ),
    program!("stack", stack::bug, CS, Panic, fixed),
    program!("token_ring", token_ring::bug, CS, Panic),
    program!("twostage", twostage::bug, CS, Panic, fixed),
    program!("twostage_100", twostage::bug_100, CS, Panic),
    program!("wronglock", wronglock::bug, CS, Panic, fixed),
    program!("safestack", safestack::bug, "SCTBench misc (Vyukov)", Panic),
    program!(
        "workstealqueue",
        workstealqueue::bug,
        "SCTBench CHESS",
        Panic,
        fixed
    ),
    program!("late_writer", late_writer::bug, "URW shape", Panic),
    program!("loop_99", loop_99::bug, "URW shape", Panic),
];

/// The program of that name.
pub fn program(name: &str) -> Option<&'static Program> {
    PROGRAMS.iter().find(|program| program.name == name)
}
