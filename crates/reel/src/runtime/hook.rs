//! The panic hook: on a green thread it records the panic's message and location for the
//! failure report, prints it std-style (naming the green thread) in a plain run, and stays
//! quiet during exploration. Panics elsewhere go to the hook that was installed before.

use std::io::Write;
use std::sync::Once;

use super::execution;
use super::failure::Location;

static INSTALL: Once = Once::new();

/// Installs the hook once per process, chaining to the previous one.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = execution::panic_message(info.payload());
            let location = info.location().map(Location::from_std);
            let printed_location = location.clone();
            match execution::record_panic(message.clone(), location) {
                Some((print, who)) => {
                    let at = printed_location.map(|location| location.to_string());
                    if print {
                        // Not eprintln!: a closed standard error must not panic in the hook
                        // (an abort), before the observers (the recorder's flush) hear of it.
                        let _ = writeln!(
                            std::io::stderr(),
                            "{who} panicked at {}:\n{message}",
                            at.as_deref().unwrap_or("")
                        );
                    }
                    // The observers hear of it before the unwind (a debugger may pause here).
                    execution::panic_observed(&message, at);
                }
                None => previous(info),
            }
        }));
    });
}
