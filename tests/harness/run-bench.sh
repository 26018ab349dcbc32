#!/usr/bin/env bash
# `make bench`: every benchmark, printed as figures and as ratios to a peer doing the same work
# in the same run (plain SQLite for the store, a C tor client for Arti's bootstrap).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/talpa/target}
bash tests/harness/system-deps.sh test
bash tests/harness/setup-venv.sh
mkdir -p "$HOME/.cache/talpa/beds"
TALPA_BED_DIR=$(mktemp -d "$HOME/.cache/talpa/beds/bench.XXXXXX")
export TALPA_BED_DIR
trap 'python3 tests/harness/bed.py stop --dir "$TALPA_BED_DIR" >/dev/null 2>&1 || true' EXIT
python3 tests/harness/bed.py ensure --dir "$TALPA_BED_DIR" >/dev/null
echo "== store: SQLCipher vs plain SQLite"
cargo bench --profile dev --bench store
echo "== tor: Arti vs C tor bootstrap on the private network"
cargo bench --profile dev --bench tor
echo "== mam: catch-up of 10,000 archived messages, Talpa vs a floor client vs slixmpp"
cargo bench --profile dev --bench mam
echo "== omemo: Talpa vs python-omemo (twomemo), OMEMO 2 to 100 devices and decrypt throughput"
# Talpa's own code optimised too (python-omemo's crypto is compiled C); dependencies are reused.
cargo bench --profile dev --config 'profile.dev.package.talpa.opt-level=3' --bench omemo
