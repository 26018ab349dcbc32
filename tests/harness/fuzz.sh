#!/usr/bin/env bash
# `make fuzz`: each OMEMO fuzz target of fuzz/ under libFuzzer (cargo-fuzz, nightly, address
# sanitizer), FUZZ_SECONDS each (default 30). Installs the nightly toolchain and cargo-fuzz
# (pinned, --locked, from crates.io) when missing. The build has its own target directory
# (TALPA_FUZZ_TARGET_DIR, default ~/.cache/talpa/fuzz-target), reused between runs. New inputs
# go to a scratch corpus (the checked-in seeds in fuzz/corpus/ are read, never written); a
# crash stops the run with its input in fuzz/artifacts/TARGET/ — add it to the corpus and a
# regression test (tests/fuzz_omemo.rs replays the corpus on stable).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-30}
cargo_fuzz_version=0.13.2
export CARGO_TARGET_DIR=${TALPA_FUZZ_TARGET_DIR:-$HOME/.cache/talpa/fuzz-target}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
if ! cargo fuzz --version 2>/dev/null | grep -q " $cargo_fuzz_version"; then
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi
scratch=$(mktemp -d "${TMPDIR:-/tmp}/talpa-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
  echo "== fuzz $target: ${seconds}s"
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if ! cargo +nightly fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(Done |stat::number_of_executed_units|stat::peak_rss)' "$log" || tail -n 3 "$log"
done
echo "fuzz: no crash in $(cargo +nightly fuzz list | wc -l) targets x ${seconds}s"
