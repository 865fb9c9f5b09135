#!/bin/sh
# Checks that the fuzz targets build and pass on their seeds; it does not fuzz.
#   fuzz/check.sh                       (from anywhere)
# To fuzz: cd fuzz && cargo fuzz run -s none decode corpus/decode seeds/decode -- -max_total_time=600
set -eu
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# `-s none`: no sanitizer, so a stable toolchain builds it (the reader has no unsafe code).
cargo fuzz build -s none decode
# Each seed once, through the target's checks.
cargo fuzz run -s none decode seeds/decode/*.reel
