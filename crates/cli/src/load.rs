//! Reading a trace file for a subcommand: one error message for every way it can fail.

use std::path::Path;

use anyhow::{Context, Result};
use reel_trace::{ErrorKind, Trace};

/// Reads a complete trace. A trace cut short (a recording that was killed) is read up to
/// its last complete chunk, with a warning on standard error.
pub(crate) fn trace(path: &Path) -> Result<Trace> {
    match reel_trace::read_file(path) {
        Ok(trace) => Ok(trace),
        Err(error) if matches!(error.kind, ErrorKind::Truncated { .. }) => {
            let trace = reel_trace::read_file_prefix(path)
                .with_context(|| format!("cannot read the trace {}", path.display()))?;
            eprintln!(
                "reel: warning: {} was cut short ({error}); using its first {} steps",
                path.display(),
                trace.steps
            );
            Ok(trace)
        }
        Err(error) => {
            Err(anyhow::Error::new(error)).with_context(|| format!("cannot read the trace {}", path.display()))
        }
    }
}
