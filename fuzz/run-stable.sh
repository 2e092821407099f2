#!/usr/bin/env bash
# Runs a fuzz target with libFuzzer on the stable toolchain (cargo-fuzz needs nightly for its
# sanitizer flags; coverage instrumentation alone works on stable): no AddressSanitizer, but
# Rust's own checks (bounds, overflow with debug assertions, panics) are what these targets
# look for.
#   fuzz/run-stable.sh ebpf_decode 60      # target, seconds
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?target name (see fuzz_targets/)}"
seconds="${2:-60}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions" \
  cargo build --release --target "$triple" --bin "$target"
mkdir -p "corpus/$target"
"target/$triple/release/$target" -max_total_time="$seconds" "corpus/$target"
