//! bluetooth_driver (SCTBench CS, `bluetooth_driver_bad.c`, after Qadeer and Wu's KISS): a
//! stopping thread frees the device while an adder, which checked the stopping flag before
//! it was set, still works on it. The pending-I/O count is updated in ESBMC atomic sections
//! (one global lock); the flags are plain shared variables, so atomics here.

for_each_runtime! {
    use std::sync::Arc;

    use rt::sync::Mutex;
    use rt::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use rt::thread;

    struct Device {
        /// The atomic sections' lock and what they guard.
        pending_io: Mutex<i32>,
        stopping_flag: AtomicBool,
        stopping_event: AtomicBool,
        stopped: AtomicBool,
    }

    fn io_increment(device: &Device) -> bool {
        if device.stopping_flag.load(SeqCst) {
            return false;
        }
        *device.pending_io.lock().unwrap() += 1;
        true
    }

    fn io_decrement(device: &Device) {
        let pending_io = {
            let mut pending_io = device.pending_io.lock().unwrap();
            *pending_io -= 1;
            *pending_io
        };
        if pending_io == 0 {
            device.stopping_event.store(true, SeqCst);
        }
    }

    fn pnp_add(device: &Device, fixed: bool) {
        // The fix takes the reference and checks the flag in one atomic section.
        let status = if fixed {
            let mut pending_io = device.pending_io.lock().unwrap();
            if device.stopping_flag.load(SeqCst) {
                false
            } else {
                *pending_io += 1;
                true
            }
        } else {
            io_increment(device)
        };
        if status {
            // Work on the device.
            assert!(!device.stopped.load(SeqCst), "the device was stopped while in use");
        }
        if status || !fixed {
            io_decrement(device);
        }
    }

    fn pnp_stop(device: &Device, fixed: bool) {
        if fixed {
            let _pending_io = device.pending_io.lock().unwrap();
            device.stopping_flag.store(true, SeqCst);
        } else {
            device.stopping_flag.store(true, SeqCst);
        }
        io_decrement(device);
        if device.stopping_event.load(SeqCst) {
            // Release the device's resources.
            device.stopped.store(true, SeqCst);
        }
    }

    fn driver(fixed: bool) {
        let device = Arc::new(Device {
            pending_io: Mutex::new(1),
            stopping_flag: AtomicBool::new(false),
            stopping_event: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let stopper = Arc::clone(&device);
        let stop = thread::spawn(move || pnp_stop(&stopper, fixed));
        pnp_add(&device, fixed);
        stop.join().unwrap();
    }

    /// The adder checks the stopping flag, then takes its reference: the stopper can come
    /// in between.
    pub fn bug() {
        driver(false);
    }

    /// The adder checks the flag and takes its reference in one atomic section, and the
    /// stopper sets the flag in one; an adder that finds the flag set takes no reference
    /// and drops none.
    pub fn fixed() {
        driver(true);
    }
}
