#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Talpa needs. `build`: to build and run the client;
# `test`: also everything the test bed and the GUI tests use; `bench`: also Dino (the client
# `make bench` compares Talpa with) and what drives it. Only missing packages are installed.
set -euo pipefail
what=${1:-test}
# obfs4proxy: obfs4 bridges (Preferences → Tor) run it; where Tor is censored they are the way in.
pkgs=(build-essential pkg-config libssl-dev libgtk-4-dev libadwaita-1-dev ca-certificates obfs4proxy)
if [ "$what" = test ] || [ "$what" = bench ]; then
  pkgs+=(prosody tor xvfb xauth xdotool imagemagick strace python3-venv python3-dev
         sqlcipher openssl lua-unbound procps iproute2
         dbus-daemon dbus-bin at-spi2-core python3-gi gir1.2-atspi-2.0)
fi
if [ "$what" = bench ]; then
  pkgs+=(dino-im dbus-daemon libglib2.0-bin util-linux lua-dbi-sqlite3)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
# The Debian packages start system-wide services we do not use; the bed runs its own instances.
for svc in prosody tor; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $sudo systemctl stop "$svc" || true
  fi
done
