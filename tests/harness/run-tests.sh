#!/usr/bin/env bash
# `make test`: install what is missing, prepare the Python peers, check format and lints, run
# every test against one shared bed (Prosody + private Tor network), stop everything it
# started — also on failure or Ctrl-C — and run the OMEMO fuzz targets under libFuzzer for
# FUZZ_SECONDS each (20 here; `make fuzz` alone defaults to 30).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/talpa/target}
export TALPA_VENV=${TALPA_VENV:-$HOME/.cache/talpa/venv}

bash tests/harness/system-deps.sh test
bash tests/harness/setup-venv.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings

# One bed for the whole run, in a fresh directory, stopped whatever happens.
mkdir -p "$HOME/.cache/talpa/beds"
TALPA_BED_DIR=$(mktemp -d "$HOME/.cache/talpa/beds/run.XXXXXX")
export TALPA_BED_DIR
stop_bed() {
  python3 tests/harness/bed.py stop --dir "$TALPA_BED_DIR" >/dev/null 2>&1 || true
}
trap stop_bed EXIT
trap 'stop_bed; exit 130' INT TERM

echo "== bed: $TALPA_BED_DIR"
python3 tests/harness/bed.py ensure --dir "$TALPA_BED_DIR"

echo "== cargo test"
set +e
cargo test --no-fail-fast 2>&1 | tee "$TALPA_BED_DIR/cargo-test.log"
status=${PIPESTATUS[0]}
set -e
grep -E '^test result:' "$TALPA_BED_DIR/cargo-test.log" | awk '
  { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
  END { printf "\ntotal: %d passed, %d failed\n", p, f }' || true

# libFuzzer + address sanitizer on nightly, own target dir (reused: cold build ≈ 12 min on
# 2 cores, warm ≈ 1 min); a crash fails the run with its input in fuzz/artifacts/.
echo "== fuzz"
fuzz_status=0
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash tests/harness/fuzz.sh || fuzz_status=$?
if [ "$status" -eq 0 ]; then status=$fuzz_status; fi
exit "$status"
