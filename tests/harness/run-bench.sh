#!/usr/bin/env bash
# `make bench`: every benchmark, printed as figures and as ratios to a peer doing the same work
# in the same run (plain SQLite for the store, a C tor client for Arti's bootstrap, Dino for the
# desktop client as a whole, a raw pager and slixmpp for MAM catch-up, python-omemo for OMEMO).
# Arguments pick sections (store, tor, client, mam, omemo); none means all of them.
# BENCH_CLIENT_ARGS passes options to bench_dino.py (e.g. "--ingest-open": only the floods and
# the open).
set -euo pipefail
sections=${*:-store tor client mam omemo}
want() { [[ " $sections " == *" $1 "* ]]; }
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/talpa/target}
bash tests/harness/system-deps.sh bench
bash tests/harness/setup-venv.sh
mkdir -p "$HOME/.cache/talpa/beds"
TALPA_BED_DIR=$(mktemp -d "$HOME/.cache/talpa/beds/bench.XXXXXX")
export TALPA_BED_DIR
trap 'python3 tests/harness/bed.py stop --dir "$TALPA_BED_DIR" >/dev/null 2>&1 || true' EXIT
python3 tests/harness/bed.py ensure --dir "$TALPA_BED_DIR" >/dev/null
if want store; then
  echo "== store: SQLCipher vs plain SQLite"
  cargo bench --profile dev --bench store
fi
if want tor; then
  echo "== tor: Arti vs C tor bootstrap on the private network"
  cargo bench --profile dev --bench tor
fi
if want client; then
  echo "== client: Talpa (through Tor) vs Dino (direct) on the same bed (takes ~10 minutes)"
  cargo build --release --bin talpa
  "${TALPA_VENV:-$HOME/.cache/talpa/venv}/bin/python" tests/harness/bench_dino.py \
    --bed-dir "$TALPA_BED_DIR" --talpa "$CARGO_TARGET_DIR/release/talpa" \
    --json "$CARGO_TARGET_DIR/bench-dino.json" ${BENCH_CLIENT_ARGS:-}
fi
if want mam; then
  echo "== mam: catch-up of 10,000 archived messages, Talpa vs a floor client vs slixmpp"
  cargo bench --profile dev --bench mam
fi
if want omemo; then
  echo "== omemo: Talpa vs python-omemo (twomemo), OMEMO 2 to 100 devices and decrypt throughput"
  # The release build, as shipped (python-omemo's crypto is compiled C): the dev profile keeps
  # debug assertions in the crypto crates, ~15% slower per decryption.
  cargo bench --bench omemo
fi
