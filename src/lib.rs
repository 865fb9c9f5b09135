//! Bundled racy programs.
