//! A priority inversion, shown and diagnosed: a high-priority thread spins with `try_lock`
//! on a lock that a low-priority thread holds. Under strict priority the low thread never
//! runs again, so it never releases the lock, and the spin never ends; reel's spin detector
//! stops the run and names the spinner, the holder and both priorities.
//!
//! Run with `cargo run --release --example priority_inversion`. It exits 0 when the
//! inversion was reported as such, and shows that the fix (the high thread blocks in
//! `lock()`, which lets the holder run) finishes.

use std::process::ExitCode;

use reel::sync::mpsc;
use reel::sync::{Arc, Mutex};
use reel::thread;

/// How often the spinner tries before giving up (it never gets there: the detector stops it
/// first, after `SPIN_LIMIT` polls).
const ATTEMPTS: u64 = 10_000_000;
const SPIN_LIMIT: u64 = 100_000;

/// The sensor thread (low priority) holds the bus lock while it samples; the control loop
/// (high priority), woken by the sensor, polls for the lock.
fn control_loop(spin: bool) -> u32 {
    let bus = Arc::new(Mutex::new(0u32));
    let (wake, woken) = mpsc::channel::<()>();
    let control = {
        let bus = Arc::clone(&bus);
        thread::Builder::new()
            .name("control".to_string())
            .priority(10)
            .spawn(move || {
                woken.recv().unwrap();
                if !spin {
                    *bus.lock().unwrap() += 1; // Blocks: the holder runs and releases.
                    return;
                }
                for _ in 0..ATTEMPTS {
                    if let Ok(mut reading) = bus.try_lock() {
                        *reading += 1;
                        return;
                    }
                    thread::yield_now();
                }
            })
            .unwrap()
    };
    let sensor = {
        let bus = Arc::clone(&bus);
        thread::Builder::new()
            .name("sensor".to_string())
            .priority(1)
            .spawn(move || {
                let mut reading = bus.lock().unwrap();
                wake.send(()).unwrap();
                thread::yield_now(); // Sampling: the woken control loop preempts it here.
                *reading += 1;
            })
            .unwrap()
    };
    control.join().unwrap();
    sensor.join().unwrap();
    *bus.lock().unwrap()
}

fn main() -> ExitCode {
    println!("The control loop (priority 10) spins on the bus lock the sensor (priority 1) holds:");
    let runtime = reel::Runtime::new().spin_limit(Some(SPIN_LIMIT));
    let outcome = std::panic::catch_unwind(|| runtime.run(|| control_loop(true)));
    let report = match outcome {
        Ok(total) => {
            println!("-> it finished ({total}): no inversion, which strict priority rules out");
            return ExitCode::FAILURE;
        }
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default(),
    };
    println!("-> {report}");
    let diagnosed = report.contains("priority inversion")
        && report.contains("'control' (T1) (priority 10)")
        && report.contains("'sensor' (T2) (priority 1)");
    println!();
    println!("The fix: the control loop blocks in lock(), which lets the sensor run:");
    let total = reel::run(|| control_loop(false));
    println!("-> finished, reading {total}");
    if diagnosed && total == 2 {
        ExitCode::SUCCESS
    } else {
        println!("Not as expected");
        ExitCode::FAILURE
    }
}
