#!/usr/bin/env python3
"""Talpa and Dino side by side on the same bed, in the same run (issue #9; `make bench`).

Run with the bed's venv python (it needs slixmpp for the floods):

  bench_dino.py --bed-dir DIR --talpa PATH/TO/talpa [--quick] [--json OUT.json]

Both clients run under one Xvfb (1280x800) and one session D-Bus, with the same environment.
Talpa reaches Prosody through the bed's private Tor network (embedded Arti); Dino connects
directly. Dino cannot be given a host or port and only trusts the system CA store, so it runs
in its own mount namespace (a holder process made with `unshare --mount`, entered with
`nsenter`) where /etc/hosts maps the bed's domain to 127.0.0.2, /etc/resolv.conf points at a
dead resolver (its SRV lookup fails at once) and the system CA bundle has the bed's CA
appended; a small TCP forwarder (this script's `forward` mode) listens on 127.0.0.2:5222 and
passes bytes to the bed's Prosody port.

What is measured (each figure for both clients, then the ratio Talpa/Dino):
- start -> first window mapped (`xdotool search --onlyvisible --pid`), warm, 5 runs: Talpa
  shows its unlock page; the Argon2id unlock is timed separately by the probe;
- idle RSS/PSS (/proc/PID/smaps_rollup) 30 s after login, with 1 account (empty history) and
  with 3 accounts (after the two floods below, the same history for both clients);
- ingest of 2,000 chat messages sent as fast as the server takes them into a conversation
  not on screen, then into the conversation on screen: wall time from the first message sent
  until the client's CPU goes quiet, and the client's CPU time (utime+stime) over that span;
- open of the 2,000-message conversation: from the request (a click on the sidebar row for
  Dino, the probe's `open` for Talpa) until the client's CPU goes quiet; for Talpa also the
  first painted frame showing the newest messages (probe);
- Talpa alone (with the 3 accounts online, after the 3-account memory figure): the same with
  10,000 messages, and the message-row widgets alive vs visible.

Talpa is driven through its benchmark probe (`--bench-fd`, src/ui/probe.rs): the passphrase
comes over a pipe, never argv or the environment.
"""

import argparse
import asyncio
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
FORWARD_ADDR = "127.0.0.2"
# Dino's sidebar: the most recent conversation's row, in window coordinates (1280x800 Xvfb).
DINO_FIRST_ROW_Y = 78
# Both windows get this size for the measured sessions (Dino opens at about this size).
WINDOW = (1200, 700)
QUIET_WINDOW = 1.5  # seconds of (almost) no CPU use that count as "quiet"
QUIET_CPU = 0.03
GIVE_UP = 20.0  # seconds of quiet after which a flood is taken as over  # CPU seconds allowed within the quiet window


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- process measurements

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid):
    """CPU seconds per thread name (for BENCH_TRACE)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
            name = head.split("(", 1)[1]
            fields = rest.split()
            out[name] = round(out.get(name, 0) + (int(fields[11]) + int(fields[12])) / CLK_TCK, 2)
        except (OSError, IndexError):
            pass
    return out


def memory_kb(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in ("Rss:", "Pss:"):
                out[parts[0][:-1].lower()] = int(parts[1])
    return out


def window_mapped(pid, display):
    r = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(pid)],
                       capture_output=True, text=True, env={**os.environ, "DISPLAY": display})
    return r.stdout.split()


def resize(pid, display):
    """Gives the client's window the same size for both clients (Dino's default)."""
    for wid in window_mapped(pid, display):
        subprocess.run(["xdotool", "windowsize", wid, str(WINDOW[0]), str(WINDOW[1])],
                       env={**os.environ, "DISPLAY": display}, capture_output=True)


def wait_quiet(pid, since, done=None, timeout=600.0):
    """Waits until `pid` used at most QUIET_CPU CPU seconds over QUIET_WINDOW seconds (and
    `done()` holds, when given). Returns (wall seconds from `since` to the last busy sample,
    CPU seconds used from the call until then)."""
    samples = [(time.monotonic(), cpu_seconds(pid))]
    cpu0 = samples[0][1]
    last_busy = samples[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now, cpu = time.monotonic(), cpu_seconds(pid)
        if cpu - samples[-1][1] > 0.005:
            last_busy = (now, cpu)
        samples.append((now, cpu))
        window = [s for s in samples if s[0] >= now - QUIET_WINDOW]
        if os.environ.get("BENCH_TRACE") and cpu - samples[-2][1] > 0.005:
            log(f"  busy at +{now - since:.2f} s: {cpu - samples[-2][1]:.3f} CPU s "
                f"{thread_cpu(pid)}")
        # Quiet, and all messages seen (or quiet for so long that no more will come: the
        # report then shows how many arrived).
        if now - last_busy[0] >= QUIET_WINDOW and window[-1][1] - window[0][1] <= QUIET_CPU \
                and (done is None or now - last_busy[0] >= GIVE_UP or done()):
            return last_busy[0] - since, last_busy[1] - cpu0
    raise RuntimeError(f"process {pid} never went quiet")


# Per process, each thread's CPU time as last read: a thread that ended (tokio's blocking
# threads end after 10 s idle) keeps counting with what it had used, so the total never
# drops between two polls (summing only the live threads made an open's CPU negative).
_THREAD_NS = {}


def cpu_ns(pid):
    """CPU time of all of `pid`'s threads in nanoseconds (schedstat: not rounded to ticks),
    threads that ended since an earlier call included."""
    seen = _THREAD_NS.setdefault(pid, {})
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                seen[tid] = int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # a thread that ended meanwhile: its last reading stands
    return sum(seen.values())


def thread_cpu_ns(pid, tid):
    """CPU time of one thread of `pid` in nanoseconds (the main thread: `tid` = `pid`)."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        return int(f.read().split()[0])


# An open takes tens of milliseconds: `wait_quiet`'s 50 ms polls of tick-rounded (10 ms) CPU
# time cannot tell 20 ms from 50 ms, so the opens are timed with 5 ms polls of schedstat.
FINE_POLL = 0.005
FINE_BUSY_NS = 1_000_000  # more than 1 ms of CPU within one poll (20 % of a core) is busy


def wait_quiet_fine(pid, since, timeout=120.0):
    """Like `wait_quiet` (same quiet window and allowance), timed to the poll: returns (wall
    seconds from `since` to the end of the last busy poll, CPU seconds used until then)."""
    start = cpu_ns(pid)
    samples = [(time.monotonic(), start)]
    last_busy = samples[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(FINE_POLL)
        now, cpu = time.monotonic(), cpu_ns(pid)
        if cpu - samples[-1][1] > FINE_BUSY_NS:
            last_busy = (now, cpu)
        samples.append((now, cpu))
        while samples[0][0] < now - QUIET_WINDOW:
            samples.pop(0)
        if now - last_busy[0] >= QUIET_WINDOW and \
                samples[-1][1] - samples[0][1] <= QUIET_CPU * 1e9:
            return last_busy[0] - since, (last_busy[1] - start) / 1e9
    raise RuntimeError(f"process {pid} never went quiet")


# ---------------------------------------------------------------- the TCP forwarder for Dino

async def _pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def _forward(listen_host, listen_port, to_host, to_port):
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(to_host, to_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, listen_host, listen_port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


# ---------------------------------------------------------------- the flood sender

def flood(bed, jid, password, to, count, label):
    """Sends `count` chat messages from jid to `to` as fast as the server takes them; returns
    (start, end) monotonic times, end = the server answered a ping sent after the last one."""
    import slixmpp  # the bed's venv

    times = {}

    class Flooder(slixmpp.ClientXMPP):
        def __init__(self):
            super().__init__(jid, password)
            self.register_plugin("xep_0199")
            self.add_event_handler("session_start", self.start)

        async def start(self, _event):
            self.send_presence()
            await self.get_roster()
            times["start"] = time.monotonic()
            for i in range(count):
                self.send_message(mto=to, mtype="chat",
                                  mbody=f"{label} message {i + 1} of {count}: the quick brown "
                                        f"fox jumps over the lazy dog, {secrets.token_hex(8)}")
                if i % 200 == 199:
                    await asyncio.sleep(0)
            try:
                # The server answers once it has handled every message before the ping.
                await self.plugin["xep_0199"].ping(self.boundjid.domain, timeout=900)
                times["end"] = time.monotonic()
            except Exception as e:  # noqa: BLE001 - reported by the caller as a failed flood
                times["error"] = repr(e)
            finally:
                self.disconnect()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    xmpp = Flooder()
    import ssl
    ctx = ssl.create_default_context(cafile=bed["ca_cert"])
    xmpp.ssl_context = ctx
    xmpp.enable_plaintext = False
    xmpp.connect(host=bed["prosody"]["host"], port=bed["prosody"]["c2s_port"])
    loop.run_until_complete(xmpp.disconnected)
    if "end" not in times:
        raise RuntimeError(f"flood from {jid} did not complete: {times.get('error')}")
    return times["start"], times["end"]


# ---------------------------------------------------------------- the shared session

class Session:
    """One Xvfb, one session bus, the forwarder and the mount namespace for Dino."""

    def __init__(self, bed, work):
        self.bed = bed
        self.work = work
        self.procs = []
        n = 170 + secrets.randbelow(60)
        while os.path.exists(f"/tmp/.X11-unix/X{n}") or os.path.exists(f"/tmp/.X{n}-lock"):
            n += 1
        self.display = f":{n}"
        self.procs.append(subprocess.Popen(
            ["Xvfb", self.display, "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "xvfb.log"), "w")))
        for _ in range(100):
            if os.path.exists(f"/tmp/.X11-unix/X{n}"):
                break
            time.sleep(0.05)
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.procs.append(bus)
        self.bus_address = bus.stdout.readline().strip()
        # A blinking cursor repaints twice a second for 10 s after every focus change, and the
        # overlay scrollbars fade in and out for seconds after a scroll; with software GL each
        # such frame costs tens of ms and would hide "CPU quiet". Both clients read these
        # settings (each HOME gets a copy).
        self.gtk_settings = "[Settings]\ngtk-cursor-blink=false\ngtk-enable-animations=false\n"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DISPLAY": self.display,
            "DBUS_SESSION_BUS_ADDRESS": self.bus_address,
            "LANG": "C.UTF-8",
            "NO_AT_BRIDGE": "1",
        }
        port = bed["prosody"]["c2s_port"]
        # Another bench running at the same time holds 127.0.0.2:5222: take the next address.
        for last in range(2, 40):
            addr = f"127.0.0.{last}"
            fwd = subprocess.Popen([sys.executable, os.path.abspath(__file__), "forward",
                                    f"{addr}:5222", f"127.0.0.1:{port}"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.procs.append(fwd)
            if fwd.stdout.readline().strip() == "listening":
                break
        else:
            raise RuntimeError(f"the forwarder could not listen on {FORWARD_ADDR}:5222")
        # Dino's view of /etc: the bed's domain on 127.0.0.2, no resolver, the bed's CA trusted.
        etc = os.path.join(work, "dino-etc")
        os.makedirs(etc, exist_ok=True)
        with open("/etc/hosts") as f:
            hosts = f.read()
        with open(os.path.join(etc, "hosts"), "w") as f:
            f.write(hosts + f"\n{addr} {bed['domain']}\n")
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\n")
        with open("/etc/ssl/certs/ca-certificates.crt") as f:
            system_cas = f.read()
        with open(bed["ca_cert"]) as f:
            bed_ca = f.read()
        with open(os.path.join(etc, "ca-certificates.crt"), "w") as f:
            f.write(system_cas + "\n" + bed_ca)
        script = " && ".join([
            f"mount --bind {etc}/hosts /etc/hosts",
            f"mount --bind {etc}/resolv.conf /etc/resolv.conf",
            f"mount --bind {etc}/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
            "echo ready", "exec sleep infinity"])
        holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                                   "sh", "-c", script], stdout=subprocess.PIPE, text=True)
        self.procs.append(holder)
        if holder.stdout.readline().strip() != "ready":
            raise RuntimeError("could not make Dino's mount namespace (needs root)")
        self.mount_ns = f"/proc/{holder.pid}/ns/mnt"

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()


def make_home(session, home):
    os.makedirs(os.path.join(home, ".config", "gtk-4.0"), exist_ok=True)
    with open(os.path.join(home, ".config", "gtk-4.0", "settings.ini"), "w") as f:
        f.write(session.gtk_settings)
    return home


def adduser(bed_dir, user, password):
    subprocess.run(["python3", os.path.join(HERE, "bed.py"),
                    "adduser", "--dir", bed_dir, user, password], check=True,
                   stdout=subprocess.DEVNULL)


class Prosody:
    """Watches the bed's Prosody log for logins."""

    def __init__(self, bed):
        self.path = bed["prosody"]["log"]
        self.offset = os.path.getsize(self.path)

    def authenticated(self, jid):
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            return f"Authenticated as {jid}" in f.read()


# ---------------------------------------------------------------- the clients

class Dino:
    name = "Dino"

    def __init__(self, session, accounts):
        self.s = session
        self.home = make_home(session, os.path.join(session.work, "dino-home"))
        self.env = {**session.env, "HOME": self.home}
        self.proc = None
        self.db = os.path.join(self.home, ".local/share/dino/dino.db")
        # First start creates the database; then the accounts are inserted while it is stopped.
        self.start()
        self.wait_mapped()
        deadline = time.monotonic() + 30
        while not os.path.exists(self.db) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.quit()
        self.set_accounts(accounts)

    def set_accounts(self, accounts):
        db = sqlite3.connect(self.db)
        db.execute("DELETE FROM account")
        for jid, password in accounts:
            db.execute("INSERT INTO account (bare_jid, resourcepart, password, enabled) "
                       "VALUES (?, ?, ?, 1)", (jid, "dino." + secrets.token_hex(4), password))
        db.commit()
        db.close()

    def start(self):
        self.started = time.monotonic()
        self.proc = subprocess.Popen(["nsenter", f"--mount={self.s.mount_ns}", "--", "dino-im"],
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.s.work, "dino.log"), "a"))
        return self.proc.pid

    @property
    def pid(self):
        return self.proc.pid

    def wait_mapped(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            windows = window_mapped(self.pid, self.s.display)
            if windows:
                self.window = windows[0]
                return time.monotonic() - self.started
            time.sleep(0.005)
        raise RuntimeError(f"Dino's window never mapped (X server: {self.s.procs[0].poll()})")

    def unlock(self):
        return None

    def wait_online(self, jids, prosody, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(prosody.authenticated(j) for j in jids):
                return
            time.sleep(0.2)
        raise RuntimeError(f"Dino did not log in as {jids}")

    def received(self, peer):
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT count(*) FROM message m JOIN jid j ON m.counterpart_id = j.id "
                             "WHERE j.bare_jid = ?", (peer,)).fetchone()
            return row[0]
        except sqlite3.Error:
            return 0
        finally:
            db.close()

    def open(self, account, peer, row_y):
        """Clicks the conversation's row in the sidebar; returns when the click was sent (the
        open is timed from there, not from before xdotool started)."""
        env = {**os.environ, "DISPLAY": self.s.display}
        subprocess.run(["xdotool", "mousemove", "--window", self.window, "120", str(row_y),
                        "click", "1"], env=env, check=True)
        clicked = time.monotonic()
        # Away from the row, so no tooltip keeps the client busy.
        subprocess.run(["xdotool", "mousemove", "--window", self.window, "700", "400"],
                       env=env, check=True)
        return clicked

    def quit(self):
        subprocess.run(["gdbus", "call", "--session", "--dest", "im.dino.Dino", "--object-path",
                        "/im/dino/Dino", "--method", "org.gtk.Actions.Activate", "quit", "[]",
                        "{}"], env=self.env, capture_output=True)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Talpa:
    name = "Talpa"

    def __init__(self, session, binary, accounts, passphrase):
        self.s = session
        self.binary = binary
        self.passphrase = passphrase
        self.profile = os.path.join(session.work, "talpa-profile-" + secrets.token_hex(3))
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        bed = session.bed
        with open(bed["ca_cert"]) as f:
            ca = f.read()
        cmds = [{"id": 1, "cmd": "create_profile", "passphrase": passphrase}]
        for i, (jid, password) in enumerate(accounts):
            cmds.append({"id": i + 2, "cmd": "add_account", "jid": jid, "password": password,
                         "host": bed["prosody"]["host"], "port": bed["prosody"]["c2s_port"],
                         "trust_anchor_pem": ca})
        cmds.append({"id": 99, "cmd": "quit"})
        r = subprocess.run([binary, "headless", "--profile", self.profile],
                           input="".join(json.dumps(c) + "\n" for c in cmds),
                           capture_output=True, text=True, timeout=120)
        replies = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        bad = [x for x in replies if x.get("ok") is False]
        if r.returncode != 0 or bad:
            raise RuntimeError(f"could not make Talpa's profile: {bad} {r.stderr[-2000:]}")

    def start(self):
        rfd, wfd = os.pipe()
        env = {**self.s.env, "HOME": make_home(self.s, os.path.join(self.s.work, "talpa-home")),
               # BENCH_TALPA_LOG=...,talpa::bench::frames=debug with TALPA_PROBE_FRAMES=1 in
               # the environment traces every frame of an open (in the work directory's
               # talpa.log).
               "TALPA_LOG": os.environ.get("BENCH_TALPA_LOG",
                                           "warn,tor_netdir=error,talpa::bench=info")}
        self.lines = []
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [self.binary, "--profile", self.profile, "--tor-network",
             self.s.bed["tor"]["network_file"], "--startup-jitter", "0",
             "--bench-fd", str(rfd)],
            env=env, pass_fds=(rfd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, errors="replace")
        os.close(rfd)
        self.control = os.fdopen(wfd, "w")
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self.proc.pid

    def _read(self, proc):
        # Bytes that are not UTF-8 (a library's message) are replaced: a decoding error would
        # end this thread, and the bench would then wait forever for lines Talpa did log.
        with open(os.path.join(self.s.work, "talpa.log"), "a") as out:
            for line in proc.stderr:
                out.write(line)
                out.flush()
                with self.cond:
                    self.lines.append((time.monotonic(), line.strip()))
                    self.cond.notify_all()

    def wait_line(self, pred, timeout=120, since=0):
        deadline = time.monotonic() + timeout
        with self.cond:
            seen = since
            while True:
                for t, line in self.lines[seen:]:
                    if pred(line):
                        return t, line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"Talpa never logged the expected line; last lines: "
                                       f"{[l for _, l in self.lines[-20:]]}")
                self.cond.wait(left)

    @staticmethod
    def field(line, key):
        for word in line.split():
            if word.startswith(key + "="):
                return word.split("=", 1)[1]
        return None

    @property
    def pid(self):
        return self.proc.pid

    def wait_mapped(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if window_mapped(self.pid, self.s.display):
                return time.monotonic() - self.started
            time.sleep(0.005)
        raise RuntimeError("Talpa's window never mapped")

    def startup_marks(self):
        """The probe's start-up marks of this run, in ms after the process was started."""
        try:
            _, line = self.wait_line(lambda l: "startup main_us=" in l, timeout=20)
        except RuntimeError:
            return None
        return {w.split("=")[0][:-3]: round(int(w.split("=")[1]) / 1000 - self.started * 1000, 1)
                for w in line.split() if "_us=" in w}

    def command(self, text):
        self.control.write(text + "\n")
        self.control.flush()

    def unlock(self):
        self.command(self.passphrase)
        _, line = self.wait_line(lambda l: "unlocked unlock_ms=" in l)
        return float(self.field(line, "unlock_ms")) / 1000.0

    def wait_online(self, jids, prosody, timeout=180):
        deadline = time.monotonic() + timeout
        for jid in jids:
            left = max(deadline - time.monotonic(), 1)
            try:
                self.wait_line(lambda l, j=jid: f"account={j} state=online" in l, left)
            except RuntimeError:
                if len(jids) == 1:
                    raise
                log(f"bench: WARNING: {jid} did not come online within {timeout} s")

    def stats(self, peer="-"):
        n = len(self.lines)
        self.command(f"stats {peer}")
        _, line = self.wait_line(lambda l: "stats received=" in l, since=n)
        return {k: int(self.field(line, k) or 0) for k in
                ("received", "lagged", "items", "rows_alive", "rows_visible")}

    def received(self, peer):
        # Events the probe missed (a lagging subscriber) may have been this peer's.
        stats = self.stats(peer)
        return stats["received"] + stats["lagged"]

    def open(self, account, peer, _row_y):
        self.opened_at = len(self.lines)
        self.command(f"open {account} {peer}")

    def first_frame(self):
        _, line = self.wait_line(lambda l: "opened first_frame_ms=" in l, since=self.opened_at)
        return {"first_frame_s": float(self.field(line, "first_frame_ms")) / 1000.0,
                **{k: int(self.field(line, k)) for k in ("items", "rows_alive", "rows_visible")}}

    def quit(self):
        try:
            self.control.close()
        except OSError:
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- the benchmark

def fmt_s(x):
    return "-" if x is None else (f"{x * 1000:.0f} ms" if x < 10 else f"{x:.1f} s")


def fmt_mb(kb):
    return "-" if kb is None else f"{kb / 1024:.0f} MB"


def ratio(talpa, dino):
    if talpa is None or dino is None or dino == 0:
        return "-"
    return f"{talpa / dino:.2f}x"


def measure_start(client, runs, stages=None):
    """Start -> first window mapped, `runs` warm runs. For Talpa, `stages` (a list) also gets
    each run's start-up marks from the probe (ms after the process was started)."""
    times = []
    for i in range(runs + 1):  # the first run warms the page cache and is not counted
        client.start()
        t = client.wait_mapped()
        marks = client.startup_marks() if hasattr(client, "startup_marks") else None
        time.sleep(1.0)
        client.quit()
        if i:
            times.append(t)
            if stages is not None and marks:
                stages.append(marks)
    return times


def perf_start(client, label):
    """`BENCH_PERF=LABEL` records a perf profile of that phase (off, on, big, open, loop: the
    `--open-loop` opens), at `BENCH_PERF_HZ` samples a second (999)."""
    if os.environ.get("BENCH_PERF") != label:
        return None
    out = os.path.join(client.s.work, f"perf-{client.name}-{label}.data")
    log(f"bench: perf profile in {out}")
    return subprocess.Popen(["perf", "record", "-F", os.environ.get("BENCH_PERF_HZ", "999"), "-g", "-p", str(client.pid),
                             "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_stop(proc):
    if proc is not None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def measure_flood(client, bed, flooder, target, count, label, expect_total):
    perf = perf_start(client, label)
    cpu_before = cpu_seconds(client.pid)
    mem_before = memory_kb(client.pid)
    result = {}

    def run():
        result["times"] = flood(bed, flooder[0], flooder[1], target, count, label)

    t = threading.Thread(target=run, daemon=True)
    begin = time.monotonic()
    t.start()
    while "times" not in result and t.is_alive():
        time.sleep(0.05)
    t.join()
    if "times" not in result:
        raise RuntimeError(f"the {label} flood failed")
    start, sent = result["times"]
    wall, cpu = wait_quiet(client.pid, start,
                           done=lambda: client.received(flooder[0]) >= expect_total)
    perf_stop(perf)
    got = client.received(flooder[0])
    mem_after = memory_kb(client.pid)
    return {"wall_s": wall, "cpu_s": cpu_seconds(client.pid) - cpu_before,
            "sender_s": sent - start, "received": got,
            "rss_delta_kb": mem_after["rss"] - mem_before["rss"]}


def main():
    # slixmpp leaves tasks behind when a flood's client disconnects; that noise is not a result.
    warnings.filterwarnings("ignore")
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    sys.unraisablehook = lambda _unraisable: None
    ap = argparse.ArgumentParser()
    ap.add_argument("--bed-dir", required=True)
    ap.add_argument("--talpa", required=True)
    ap.add_argument("--quick", action="store_true", help="fewer messages and runs (a smoke run)")
    ap.add_argument("--json")
    ap.add_argument("--only", choices=["talpa", "dino"])
    ap.add_argument("--ingest-open", action="store_true",
                    help="only the ingest and open figures (no start runs, no idle memory, no "
                         "3-account phase): a quick loop for that work")
    ap.add_argument("--open-loop", type=int, default=0, metavar="K",
                    help="Talpa only: after the open, K more opens of the flooded conversation "
                         "(each after opening another one), printed as min/median/max: a "
                         "quick loop for work on the open")
    ap.add_argument("--startmem", action="store_true",
                    help="only start-up and the 1-account idle memory (to iterate on those)")
    ap.add_argument("--runs", type=int, help="warm start-up runs (default 5, 2 with --quick)")
    ap.add_argument("--explore", action="store_true",
                    help="screenshot Dino after the first flood (to find the row to click)")
    args = ap.parse_args()
    with open(os.path.join(args.bed_dir, "bed.json")) as f:
        bed = json.load(f)
    n = 200 if args.quick else 2000
    big = 1000 if args.quick else 10000
    runs = args.runs or (2 if args.quick else 5)
    idle = 5 if args.quick else 30
    work = tempfile.mkdtemp(prefix="bench-dino.")
    log(f"bench: work dir {work}")
    tag = secrets.token_hex(3)
    pw = "bench-" + secrets.token_hex(8)

    def account(name):
        user = f"{name}-{tag}"
        adduser(args.bed_dir, user, pw)
        return (f"{user}@{bed['domain']}", pw)

    flooder = account("flood")
    decoy = account("decoy")
    flooder_big = account("floodbig")
    clients = {}
    session = Session(bed, work)
    figures = {"Talpa": {}, "Dino": {}}
    try:
        for which in ("dino", "talpa"):
            if args.only and args.only != which:
                continue
            accounts = [account(f"{which}{i}") for i in range(3)]
            if which == "dino":
                client = Dino(session, accounts[:1])
            else:
                client = Talpa(session, args.talpa, accounts[:1], "bench " + secrets.token_hex(8))
            f = figures[client.name]
            if not args.ingest_open:
                log(f"bench: {client.name}: start -> first window, {runs} warm runs")
                if which == "talpa":
                    f["start_stages"] = []
                f["start"] = measure_start(client, runs, f.get("start_stages"))
            # One account: idle memory, then the floods and the open.
            prosody = Prosody(bed)
            client.start()
            client.wait_mapped()
            resize(client.pid, session.display)
            unlock = client.unlock()
            if unlock is not None:
                f["unlock_s"] = unlock
            client.wait_online([accounts[0][0]], prosody)
            if not args.ingest_open:
                log(f"bench: {client.name}: online; idle {idle} s")
                time.sleep(idle)
                f["idle1"] = memory_kb(client.pid)
                f["idle1_cpu_s"] = cpu_seconds(client.pid)
            if args.startmem:
                client.quit()
                continue
            # Another contact writes first and that conversation is on screen (Dino opens the
            # first conversation that comes in by itself; Talpa is asked to), so the flood
            # goes to a conversation not on screen.
            flood(bed, decoy[0], decoy[1], accounts[0][0], 1, "decoy")
            wait_quiet(client.pid, time.monotonic(),
                       done=lambda: client.received(decoy[0]) >= 1)
            if which == "talpa":
                client.open(accounts[0][0], decoy[0], 0)
                client.first_frame()
            log(f"bench: {client.name}: flood of {n} into a conversation not on screen")
            save(args.json, figures)
            f["ingest_off"] = measure_flood(client, bed, flooder, accounts[0][0], n, "off", n)
            if args.explore and which == "dino":
                subprocess.run(["import", "-window", "root", os.path.join(work, "dino.png")],
                               env={**os.environ, "DISPLAY": session.display})
                log(f"bench: screenshot {work}/dino.png")
            log(f"bench: {client.name}: open the {n}-message conversation")
            perf = perf_start(client, "open")
            t0 = time.monotonic()
            t0 = client.open(accounts[0][0], flooder[0], DINO_FIRST_ROW_Y) or t0
            wall, cpu = wait_quiet_fine(client.pid, t0)
            perf_stop(perf)
            f["open"] = {"quiet_s": wall, "cpu_s": cpu}
            if which == "talpa":
                f["open"].update(client.first_frame())
                if args.open_loop:
                    f["open_loop"] = open_loop(client, accounts[0][0], flooder[0], decoy[0],
                                               args.open_loop)
            if args.explore and which == "dino":
                subprocess.run(["import", "-window", "root", os.path.join(work, "dino2.png")],
                               env={**os.environ, "DISPLAY": session.display})
            save(args.json, figures)
            log(f"bench: {client.name}: flood of {n} into the conversation on screen")
            f["ingest_on"] = measure_flood(client, bed, flooder, accounts[0][0], n, "on", 2 * n)
            save(args.json, figures)
            client.quit()
            if args.ingest_open:
                continue
            # Three accounts: idle memory. Both clients now hold the same history (the two
            # floods of n); Talpa's own 10,000-message flood comes only after this figure, or
            # the comparison would weigh 14,000 stored messages against Dino's 4,000.
            if which == "dino":
                client.set_accounts(accounts)
            else:
                client = Talpa(session, args.talpa, accounts, client.passphrase)
            prosody = Prosody(bed)
            client.start()
            client.wait_mapped()
            resize(client.pid, session.display)
            client.unlock()
            client.wait_online([a[0] for a in accounts], prosody)
            log(f"bench: {client.name}: 3 accounts online; idle {idle} s")
            time.sleep(idle)
            f["idle3"] = memory_kb(client.pid)
            if which == "talpa":
                log(f"bench: Talpa: flood of {big} into a conversation not on screen")
                f["ingest_big"] = measure_flood(client, bed, flooder_big, accounts[0][0], big,
                                                "big", big)
                t0 = time.monotonic()
                client.open(accounts[0][0], flooder_big[0], 0)
                wall, cpu = wait_quiet_fine(client.pid, t0)
                f["open_big"] = {"quiet_s": wall, "cpu_s": cpu, **client.first_frame()}
                f["open_big"]["stats"] = client.stats()
            client.quit()
    finally:
        session.close()
        # Whatever was measured is kept and printed, also when a later step failed.
        save(args.json, figures)
        report(figures, n, big)
        sys.stdout.flush()


def open_loop(client, account, flooded, other, rounds):
    """`rounds` opens of the flooded conversation, each after opening `other` (Talpa only):
    until CPU quiet, CPU (all threads, and the GTK thread's) and first frame per open, and
    their min / median / max."""
    runs = []
    perf = perf_start(client, "loop")
    for _ in range(rounds):
        client.open(account, other, 0)
        client.first_frame()
        wait_quiet_fine(client.pid, time.monotonic())
        gtk_before = thread_cpu_ns(client.pid, client.pid)
        t0 = time.monotonic()
        client.open(account, flooded, 0)
        wall, cpu = wait_quiet_fine(client.pid, t0)
        gtk = (thread_cpu_ns(client.pid, client.pid) - gtk_before) / 1e9
        runs.append({"quiet_s": wall, "cpu_s": cpu, "gtk_cpu_s": gtk, **client.first_frame()})
    perf_stop(perf)
    summary = {}
    for key in ("quiet_s", "cpu_s", "gtk_cpu_s", "first_frame_s"):
        values = sorted(r[key] for r in runs)
        summary[key] = (values[0], values[len(values) // 2], values[-1])
        log(f"bench: open loop ({rounds}): {key} min/median/max " +
            " / ".join(f"{v * 1000:.1f} ms" for v in summary[key]))
    return {"runs": runs, "summary": summary}


def save(path, figures):
    if path:
        with open(path, "w") as out:
            json.dump(figures, out, indent=1)


def report(figures, n, big):
    t, d = figures["Talpa"], figures["Dino"]

    def get(f, *path):
        for p in path:
            if f is None or p not in f:
                return None
            f = f[p]
        return f

    rows = []

    def row(label, tv, dv, fmt):
        rows.append((label, fmt(tv), fmt(dv), ratio(tv, dv)))

    for i, name in enumerate(("min", "median", "max")):
        pick = (min, statistics.median, max)[i]
        row(f"start -> first window, {name}", pick(t["start"]) if "start" in t else None,
            pick(d["start"]) if "start" in d else None, fmt_s)
    row("Talpa's Argon2id unlock (excluded above)", t.get("unlock_s"), None, fmt_s)
    for k, label in (("idle1", "1 account"), ("idle3", "3 accounts")):
        row(f"idle RSS, {label}", get(t, k, "rss"), get(d, k, "rss"), fmt_mb)
        row(f"idle PSS, {label}", get(t, k, "pss"), get(d, k, "pss"), fmt_mb)
    for k, label in (("ingest_off", "not on screen"), ("ingest_on", "on screen")):
        row(f"ingest {n}, {label}: wall", get(t, k, "wall_s"), get(d, k, "wall_s"), fmt_s)
        row(f"ingest {n}, {label}: CPU", get(t, k, "cpu_s"), get(d, k, "cpu_s"), fmt_s)
        row(f"ingest {n}, {label}: sender alone", get(t, k, "sender_s"), get(d, k, "sender_s"),
            fmt_s)
    row(f"ingest {n}, on screen: RSS growth", get(t, "ingest_on", "rss_delta_kb"),
        get(d, "ingest_on", "rss_delta_kb"), fmt_mb)
    row(f"open the {n}-message conversation (CPU quiet)", get(t, "open", "quiet_s"),
        get(d, "open", "quiet_s"), fmt_s)
    row("  Talpa: first frame with the newest messages", get(t, "open", "first_frame_s"), None,
        fmt_s)
    row(f"Talpa alone: ingest {big}, not on screen: wall", get(t, "ingest_big", "wall_s"), None,
        fmt_s)
    row(f"Talpa alone: ingest {big}, not on screen: CPU", get(t, "ingest_big", "cpu_s"), None,
        fmt_s)
    row(f"Talpa alone: open {big} (first frame)", get(t, "open_big", "first_frame_s"), None,
        fmt_s)
    stages = t.get("start_stages")
    if stages:
        names = [k for k in stages[0] if all(k in m for m in stages)]
        rows.append(("  Talpa start-up stages (median ms after exec):", "", "", ""))
        for k in names:
            rows.append((f"    {k}", f"{statistics.median(m[k] for m in stages):.0f} ms", "", ""))
    w = max(len(r[0]) for r in rows)
    print(f"{'':{w}}  {'Talpa':>10}  {'Dino':>10}  {'Talpa/Dino':>10}")
    for label, tv, dv, r in rows:
        print(f"{label:{w}}  {tv:>10}  {dv:>10}  {r:>10}")
    ob = get(t, "open_big")
    if ob:
        print(f"Talpa, {big} messages: {ob['items']} loaded in the list, "
              f"{ob['rows_alive']} row widgets alive for {ob['rows_visible']} visible "
              f"({ob['rows_alive'] / max(ob['rows_visible'], 1):.1f}x)")
    for name, f in figures.items():
        for k in ("ingest_off", "ingest_on", "ingest_big"):
            if k in f and f[k]["received"] < {"ingest_on": 2 * n, "ingest_big": big}.get(k, n):
                print(f"WARNING: {name} received only {f[k]['received']} in {k}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "forward":
        lh, lp = sys.argv[2].rsplit(":", 1)
        th, tp = sys.argv[3].rsplit(":", 1)
        try:
            asyncio.run(_forward(lh, int(lp), th, int(tp)))
        except KeyboardInterrupt:
            pass
    else:
        main()
