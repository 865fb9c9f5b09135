//! The panic hook: on a green thread it records the panic's message and location for the
//! failure report, prints it std-style (naming the green thread) in a plain run, and stays
//! quiet during exploration. Panics elsewhere go to the hook that was installed before.

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
                Some((true, who)) => {
                    let at = printed_location
                        .map(|location| location.to_string())
                        .unwrap_or_default();
                    eprintln!("{who} panicked at {at}:\n{message}");
                }
                Some((false, _)) => {}
                None => previous(info),
            }
        }));
    });
}
