//! Reading a trace file for a subcommand: one error message for every way it can fail.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, anyhow};
use reel_trace::{Error, ErrorKind, Trace};

/// Reads a complete trace. A trace cut short (a recording that was killed) is read up to
/// its last complete chunk, with a warning on standard error. Every error names the file
/// once and says what is wrong with it.
pub(crate) fn trace(path: &Path) -> Result<Trace> {
    let shown = path.display();
    match reel_trace::read_file(path) {
        Ok(trace) => Ok(trace),
        Err(error) if error.is_truncation() => match reel_trace::read_file_prefix(path) {
            Ok(trace) => {
                let cut = without_path(error);
                // A closed standard error is no reason to stop.
                let _ = writeln!(
                    std::io::stderr(),
                    "reel: warning: {shown} was cut short ({cut}); using its first {} steps",
                    trace.steps
                );
                Ok(trace)
            }
            Err(error) if error.is_truncation() && error.offset == 0 => {
                Err(anyhow!("cannot read the trace {shown}: the file is empty"))
            }
            Err(error) if error.is_truncation() => Err(anyhow!(
                "cannot read the trace {shown}: it is too short to hold a trace's header ({})",
                without_path(error)
            )),
            Err(error) => Err(failure(path, error)),
        },
        Err(error) => Err(failure(path, error)),
    }
}

/// The error for a file that cannot be read or is not a sound trace.
fn failure(path: &Path, error: Error) -> anyhow::Error {
    let shown = path.display();
    match &error.kind {
        ErrorKind::Io(message) => anyhow!("cannot read {shown}: {message}"),
        _ => anyhow!("cannot read the trace {shown}: {}", without_path(error)),
    }
}

/// The error without the file name it carries (the messages above give it first).
fn without_path(mut error: Error) -> Error {
    error.path = None;
    error
}
