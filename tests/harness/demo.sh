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
# One demo per demo directory: a second one would share the first's bed and stop it on exit.
exec 9>"$demo/demo.lock"
if ! flock -n 9; then
  echo "make demo: another demo is running with $demo; close its window first," \
       "or give this one its own directory with TALPA_DEMO_DIR" >&2
  exit 1
fi
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

# The bed is new on every run (bed.py starts it afresh once the last demo stopped it): new
# ports, a new certificate authority, an empty server. So the accounts are registered again and
# an existing demo profile is pointed at this run's server; its messages and keys are kept.
for u in alice bob echo; do
  python3 tests/harness/bed.py adduser --dir "$bed_dir" "$u" "demo-$u" >/dev/null
done
ca_json=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$ca")
if [ ! -e "$profile/talpa.db" ]; then
  echo "== creating the demo profile (passphrase: demo)"
  open='{"id":1,"cmd":"create_profile","passphrase":"demo"}'
  verb=add_account
  account_fields() { echo "\"jid\":\"$1@talpa.test\",\"password\":\"demo-$1\""; }
else
  echo "== pointing the demo profile's accounts at this run's server"
  open='{"id":1,"cmd":"unlock","passphrase":"demo"}'
  verb=update_account
  account_fields() { echo "\"account\":\"$1@talpa.test\",\"password\":\"demo-$1\""; }
fi
setup_out=$({
  echo "$open"
  for u in alice bob; do
    echo "{\"id\":\"$u\",\"cmd\":\"$verb\",$(account_fields "$u"),\"host\":\"127.0.0.1\",\"port\":$port,\"trust_anchor_pem\":$ca_json}"
  done
  echo '{"id":9,"cmd":"quit"}'
} | "$talpa" headless --profile "$profile" --tor-network "$network" --startup-jitter 3600) || true
if ! grep -q '"id":9,"ok":true' <<<"$setup_out" || grep -q '"ok":false' <<<"$setup_out"; then
  echo "demo profile setup failed:" >&2
  grep -E '"ok":false|"event":"error"' <<<"$setup_out" >&2 || true
  echo "(passphrase changed? remove $profile to start over)" >&2
  exit 1
fi

echo "== echo@talpa.test answers every message you send it (OMEMO, as Talpa encrypts by default)"
# The feeder keeps the bot's input open while this script runs, and ends with it.
( echo '{"cmd":"echo","on":true}'; while kill -0 $$ 2>/dev/null; do sleep 2; done ) | \
  "$TALPA_VENV/bin/python" tests/harness/peer.py --jid echo@talpa.test --password demo-echo \
    --host 127.0.0.1 --port "$port" --ca "$ca" --omemo-storage "$demo/echo-omemo.json" \
    >/dev/null 2>"$demo/peer.log" &
peer_pid=$!

echo "== opening Talpa on $profile — passphrase: demo"
"$talpa" --profile "$profile" --tor-network "$network" --startup-jitter 5
