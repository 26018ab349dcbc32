#!/usr/bin/env bash
# `make demo`: try Talpa offline. Brings up the bed (a private Tor network, Prosody and an
# echoing peer bot, all on 127.0.0.1), prepares a demo profile (passphrase "demo") with two
# accounts configured for it, and opens the window. Everything it started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/talpa/target}
export TALPA_VENV=${TALPA_VENV:-$HOME/.cache/talpa/venv}
bash tests/harness/system-deps.sh test
bash tests/harness/setup-venv.sh

demo=${TALPA_DEMO_DIR:-$HOME/.cache/talpa/demo}
bed_dir="$demo/bed"
profile="$demo/profile"
mkdir -p "$demo"
peer_pid=""
cleanup() {
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  python3 tests/harness/bed.py stop --dir "$bed_dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting the private Tor network and Prosody (about 30 s the first time)"
python3 tests/harness/bed.py ensure --dir "$bed_dir" >/dev/null
field() { python3 -c "import json,sys; b=json.load(open('$bed_dir/bed.json')); print(eval('b'+sys.argv[1]))" "$1"; }
port=$(field '["prosody"]["c2s_port"]')
ca=$(field '["ca_cert"]')
network=$(field '["tor"]["network_file"]')

cargo build --bin talpa
talpa="$CARGO_TARGET_DIR/debug/talpa"

if [ ! -e "$profile/talpa.db" ]; then
  echo "== creating the demo profile (passphrase: demo)"
  for u in alice bob echo; do
    python3 tests/harness/bed.py adduser --dir "$bed_dir" "$u" "demo-$u" 2>/dev/null || true
  done
  ca_json=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$ca")
  {
    echo '{"id":1,"cmd":"create_profile","passphrase":"demo"}'
    for u in alice bob; do
      echo "{\"id\":\"$u\",\"cmd\":\"add_account\",\"jid\":\"$u@talpa.test\",\"password\":\"demo-$u\",\"host\":\"127.0.0.1\",\"port\":$port,\"trust_anchor_pem\":$ca_json}"
    done
    echo '{"id":9,"cmd":"quit"}'
  } | "$talpa" headless --profile "$profile" --tor-network "$network" --startup-jitter 3600 \
    | grep -E '"ok":false' && { echo "demo profile setup failed" >&2; exit 1; } || true
fi

echo "== echo@talpa.test answers every message you send it (OMEMO, as Talpa encrypts by default)"
( echo '{"cmd":"echo","on":true}'; sleep infinity ) | \
  "$TALPA_VENV/bin/python" tests/harness/peer.py --jid echo@talpa.test --password demo-echo \
    --host 127.0.0.1 --port "$port" --ca "$ca" --omemo-storage "$demo/echo-omemo.json" \
    >/dev/null 2>"$demo/peer.log" &
peer_pid=$!

echo "== opening Talpa on $profile — passphrase: demo"
"$talpa" --profile "$profile" --tor-network "$network" --startup-jitter 5
