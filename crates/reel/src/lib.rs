//! reel.
