#!/bin/sh
# Create (idempotently) the Python venv used by the test bed's peers.
# Venv location: ${TALPA_VENV:-/root/.cache/talpa/venv}. pip runs only when
# requirements.txt changed since the last successful install (hash stamp).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${TALPA_VENV:-/root/.cache/talpa/venv}
req="$here/requirements.txt"
stamp="$venv/.talpa-requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
mkdir -p "$(dirname "$venv")"
lock="$(dirname "$venv")/.venv.lock"
# Serialize concurrent creators; re-check the stamp once we hold the lock.
exec 9>"$lock"
flock 9
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
py=${TALPA_PYTHON:-/usr/bin/python3}
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
echo "$want" > "$stamp"
