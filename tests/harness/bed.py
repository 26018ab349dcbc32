#!/usr/bin/env python3
"""Talpa's integration test bed: Prosody + a private Tor network + a C tor client.

Subcommands (python3 stdlib only):

  bed.py ensure  --dir DIR            start the bed (or reuse a live one); writes DIR/bed.json
  bed.py stop    --dir DIR            stop every process the bed started
  bed.py adduser --dir DIR USER PASS  register USER@talpa.test with PASS
  bed.py status  --dir DIR            print bed.json and whether every process is alive

`ensure` holds an exclusive flock on DIR/lock while it checks/starts the bed, so
concurrent test processes share one bed.  A bed is reused when DIR/ready exists,
every recorded pid is alive (and its command line names DIR) and the Prosody c2s
port and the tor client's SocksPort accept TCP.  Otherwise whatever is left of an
old bed is stopped, DIR is cleared (except the lock) and a new bed is started.
Any component that fails to start makes `ensure` exit non-zero after printing
the tail of that component's log.

Processes run in their own process group (session), detached from the caller, so
they outlive the test binary that started them.  All ports are picked by binding
port 0 on 127.0.0.1.
"""

import argparse
import base64
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

DOMAIN = "talpa.test"
MUC_DOMAIN = "rooms.talpa.test"
UPLOAD_DOMAIN = "upload.talpa.test"
HOST = "127.0.0.1"
N_AUTHORITIES = 3
N_RELAYS = 6
N_EXITS = 3
# A bed for benchmarks (`--bench`): no stanza debug log (writing every stanza to it throttles
# each client to some 60 messages/s; bed.json's stanza_log is null then) and message archives in
# a faster store than the file-based one (Prosody's internal archive store reads the whole archive
# file for every MAM query).
BENCH = False
# The archive store of a bench bed (`--bench-storage`): "memory" (mod_storage_memory: each query
# copies and scans the archive in memory — still less server CPU per page than SQL) or "sql"
# (SQLite through mod_storage_sql and lua-dbi-sqlite3, what most real servers run; every
# archived message is a transaction on disk, so filling 10,000 takes minutes).
BENCH_STORAGE = "memory"
VOTING_INTERVAL = 20  # seconds, for the authorities' consensus schedule
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VENV = "/root/.cache/talpa/venv"

PROSODY_START_TIMEOUT = 30
CONSENSUS_TIMEOUT = 150
# Authorities ignore bandwidth files older than 3 days; restart older beds.
MAX_BED_AGE = 2 * 24 * 3600
BOOTSTRAP_TIMEOUT = 150


class BedError(Exception):
    """A component failed; the message carries the log tail."""


def log(msg):
    print(f"[bed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tail(path, lines=40):
    try:
        with open(path, "r", errors="replace") as f:
            data = f.readlines()
    except OSError as e:
        return f"(cannot read {path}: {e})"
    return "".join(data[-lines:])


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_open(port, host=HOST, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid, dir_):
    """True if pid runs and its command line mentions dir_ (guards against pid reuse)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return dir_ in cmd


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise BedError(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r


class Bed:
    def __init__(self, dir_):
        self.dir = os.path.abspath(dir_)
        self.pids_file = os.path.join(self.dir, "pids.json")
        self.bed_file = os.path.join(self.dir, "bed.json")
        self.ready_file = os.path.join(self.dir, "ready")

    # ---- process bookkeeping -------------------------------------------------

    def _pids(self):
        try:
            with open(self.pids_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _record_pid(self, name, pid):
        pids = self._pids()
        pids[name] = pid
        write_json(self.pids_file, pids)

    def spawn(self, name, cmd, logfile, env=None):
        """Start cmd detached in its own session; stdout/stderr go to logfile."""
        full_env = dict(os.environ)
        full_env["MALLOC_ARENA_MAX"] = "1"
        if env:
            full_env.update(env)
        out = open(logfile, "ab")
        p = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=full_env,
            close_fds=True,
        )
        out.close()
        self._record_pid(name, p.pid)
        return p

    # ---- liveness ------------------------------------------------------------

    def is_live(self):
        if not (os.path.exists(self.ready_file) and os.path.exists(self.bed_file)):
            return False
        try:
            with open(self.bed_file) as f:
                bed = json.load(f)
        except (OSError, ValueError):
            return False
        try:
            with open(self.ready_file) as f:
                started = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return False
        if time.time() - started > MAX_BED_AGE:
            log("bed is older than MAX_BED_AGE; restarting it")
            return False
        if bed.get("bed_version") != bed_version():
            log("bed was started by another version of bed.py; restarting it")
            return False
        pids = self._pids()
        if not pids or not all(pid_alive(p, self.dir) for p in pids.values()):
            return False
        return port_open(bed["prosody"]["c2s_port"]) and port_open(bed["tor"]["socks_port"])

    def stop(self):
        pids = self._pids()
        try:
            os.unlink(self.ready_file)
        except FileNotFoundError:
            pass
        live = {n: p for n, p in pids.items() if pid_alive(p, self.dir)}
        for name, pid in live.items():
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            except PermissionError:
                os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 10
        while time.time() < deadline and any(pid_alive(p, self.dir) for p in live.values()):
            time.sleep(0.1)
        for name, pid in live.items():
            if pid_alive(pid, self.dir):
                log(f"{name} (pid {pid}) ignored SIGTERM; killing")
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        deadline = time.time() + 5
        while time.time() < deadline and any(pid_alive(p, self.dir) for p in live.values()):
            time.sleep(0.1)
        try:
            os.unlink(self.pids_file)
        except FileNotFoundError:
            pass

    def clear(self):
        for entry in os.listdir(self.dir):
            if entry == "lock":
                continue
            path = os.path.join(self.dir, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)

    # ---- TLS -----------------------------------------------------------------

    def make_certs(self):
        d = os.path.join(self.dir, "tls")
        os.makedirs(d)
        ca_key, ca_pem = os.path.join(d, "ca.key"), os.path.join(self.dir, "ca.pem")
        key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
        ext = os.path.join(d, "server.ext")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-keyout", ca_key, "-out", ca_pem, "-subj", "/CN=Talpa test bed CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
             "-subj", f"/CN={DOMAIN}"])
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    f"subjectAltName=DNS:{DOMAIN},DNS:{MUC_DOMAIN},DNS:{UPLOAD_DOMAIN},"
                    "DNS:localhost,IP:127.0.0.1\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
             "-CAcreateserial", "-days", "3650", "-sha256", "-out", crt, "-extfile", ext])
        os.chmod(key, 0o644)
        return ca_pem, key, crt

    # ---- Prosody -------------------------------------------------------------

    def prosody_config(self, key, crt, c2s, c2s_tls, http):
        d = os.path.join(self.dir, "prosody")
        data = os.path.join(d, "data")
        os.makedirs(data)
        os.chmod(data, 0o750)
        cfg = os.path.join(d, "prosody.cfg.lua")
        plog = os.path.join(d, "prosody.log")
        slog = os.path.join(d, "stanzas.log")
        pidfile = os.path.join(d, "prosody.pid")
        if BENCH:
            log_cfg = f'{{ info = "{plog}"; }}'
            slog = None
            if BENCH_STORAGE == "sql":
                storage = ('default_storage = "internal"\n'
                           'storage = { archive = "sql"; muc_log = "sql" }\n'
                           f'sql = {{ driver = "SQLite3"; database = "{data}/archive.sqlite" }}\n'
                           'storage_archive_item_limit = 1000000')
            else:
                storage = ('default_storage = "internal"\n'
                           'storage = { archive = "memory"; muc_log = "memory" }\n'
                           'storage_archive_item_limit = 1000000')
        else:
            log_cfg = f'{{ debug = "{slog}"; info = "{plog}"; }}'
            storage = 'storage = "internal"'
        text = f"""-- Generated by tests/harness/bed.py; do not edit.
run_as_root = {"true" if os.geteuid() == 0 else "false"}
pidfile = "{pidfile}"
data_path = "{data}"
admin_socket = "{os.path.join(d, "admin.sock")}"
log = {log_cfg}
interfaces = {{ "{HOST}" }}
local_interfaces = {{ "{HOST}" }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{ {c2s_tls} }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ {http} }}
http_interfaces = {{ "{HOST}" }}
https_ports = {{ }}
http_default_host = "{UPLOAD_DOMAIN}"
http_external_url = "http://{HOST}:{http}/"
modules_enabled = {{
  "roster"; "saslauth"; "tls"; "disco"; "ping"; "carbons"; "pep"; "private";
  "bookmarks"; "mam"; "smacks"; "blocklist"; "register"; {'' if BENCH else '"stanza_debug"; '}"admin_socket"; "admin_shell";
}}
modules_disabled = {{ "s2s"; "s2s_auth_certs"; }}
c2s_require_encryption = true
allow_unencrypted_plain_auth = false
authentication = "internal_hashed"
password_hash = "SHA-256"
{storage}
allow_registration = true
allowlist_registration_only = true
registration_allowlist = {{ "{HOST}" }}
min_seconds_between_registrations = 0
archive_expires_after = "never"
default_archive_policy = true
restrict_room_creation = false
ssl = {{ key = "{key}"; certificate = "{crt}"; }}

VirtualHost "{DOMAIN}"
  ssl = {{ key = "{key}"; certificate = "{crt}"; }}

Component "{MUC_DOMAIN}" "muc"
  modules_enabled = {{ "muc_mam" }}
  muc_log_by_default = true
  muc_log_all_rooms = false
  ssl = {{ key = "{key}"; certificate = "{crt}"; }}

Component "{UPLOAD_DOMAIN}" "http_file_share"
  http_file_share_size_limit = 16*1024*1024
  ssl = {{ key = "{key}"; certificate = "{crt}"; }}
"""
        with open(cfg, "w") as f:
            f.write(text)
        return cfg, plog, slog

    def start_prosody(self, cfg, plog, c2s, http):
        out = os.path.join(self.dir, "prosody", "stdout.log")
        p = self.spawn("prosody", ["prosody", "--config", cfg, "-F"], out)
        deadline = time.time() + PROSODY_START_TIMEOUT
        while time.time() < deadline:
            if p.poll() is not None:
                raise BedError(f"prosody exited with {p.returncode}\n--- {out}\n{tail(out)}\n--- {plog}\n{tail(plog)}")
            if port_open(c2s) and port_open(http):
                return p.pid
            time.sleep(0.2)
        raise BedError(f"prosody did not open its ports in {PROSODY_START_TIMEOUT}s\n--- {out}\n{tail(out)}\n--- {plog}\n{tail(plog)}")

    # ---- Tor -----------------------------------------------------------------

    def tor_common(self, nick, data_dir, dir_auth_lines):
        return [
            "TestingTorNetwork 1",
            f"DataDirectory {data_dir}",
            "RunAsDaemon 0",
            "ShutdownWaitLength 0",
            "SafeLogging 0",
            f"Log notice file {os.path.join(data_dir, 'notice.log')}",
            f"Nickname {nick}",
            "ContactInfo talpa-test-bed@talpa.test",
            f"Address {HOST}",
            "AssumeReachable 1",
            "PathsNeededToBuildCircuits 0.25",
            "TestingDirAuthVoteGuard *",
            "TestingDirAuthVoteHSDir *",
            "TestingMinExitFlagThreshold 0",
            "V3AuthNIntervalsValid 2",
            'GeoIPFile ""',
            'GeoIPv6File ""',
            "ClientUseIPv6 0",
        ] + dir_auth_lines

    def list_fingerprint(self, data_dir):
        empty = os.path.join(data_dir, "empty.torrc")
        open(empty, "w").close()
        run(["tor", "--list-fingerprint", "--DataDirectory", data_dir, "--ORPort", "1",
             "-f", empty, "--Log", "err stderr"])
        with open(os.path.join(data_dir, "fingerprint")) as f:
            rsa = f.read().split()[1:]
        with open(os.path.join(data_dir, "fingerprint-ed25519")) as f:
            ed = f.read().split()[1]
        return "".join(rsa).upper(), ed

    def start_tor(self, onion_ports):
        tdir = os.path.join(self.dir, "tor")
        os.makedirs(tdir)
        ports = free_ports(2 * N_AUTHORITIES + 2 * N_RELAYS + 1)
        nodes = []
        for i in range(N_AUTHORITIES):
            nodes.append({"nickname": f"auth{i}", "kind": "auth",
                          "or_port": ports.pop(), "dir_port": ports.pop()})
        for i in range(1, N_RELAYS + 1):
            nodes.append({"nickname": f"relay{i}", "kind": "relay", "exit": i <= N_EXITS,
                          "or_port": ports.pop(), "dir_port": ports.pop()})
        socks_port = ports.pop()
        for n in nodes:
            d = os.path.join(tdir, n["nickname"])
            os.makedirs(d, mode=0o700)
            n["data_dir"] = d
            n["rsa"], n["ed"] = self.list_fingerprint(d)
        # Authority keys.
        for n in nodes:
            if n["kind"] != "auth":
                continue
            keys = os.path.join(n["data_dir"], "keys")
            run(["tor-gencert", "--create-identity-key", "-m", "12",
                 "-a", f"{HOST}:{n['dir_port']}",
                 "-i", os.path.join(keys, "authority_identity_key"),
                 "-s", os.path.join(keys, "authority_signing_key"),
                 "-c", os.path.join(keys, "authority_certificate"),
                 "--passphrase-fd", "0"], input="talpa\n")
            with open(os.path.join(keys, "authority_certificate")) as f:
                for line in f:
                    if line.startswith("fingerprint "):
                        n["v3ident"] = line.split()[1].upper()
            if "v3ident" not in n:
                raise BedError(f"no fingerprint in {keys}/authority_certificate")
        dir_auth = [
            f"DirAuthority {n['nickname']} orport={n['or_port']} no-ipv6 v3ident={n['v3ident']} "
            f"{HOST}:{n['dir_port']} {n['rsa']}"
            for n in nodes if n["kind"] == "auth"
        ]
        bwfile = os.path.join(tdir, "bandwidth.txt")
        with open(bwfile, "w") as f:
            f.write(f"{int(time.time())}\n")
            for n in nodes:
                f.write(f"node_id=${n['rsa']} bw=1000\n")
        for n in nodes:
            lines = self.tor_common(n["nickname"], n["data_dir"], dir_auth) + [
                f"ORPort {HOST}:{n['or_port']}",
                f"DirPort {HOST}:{n['dir_port']}",
                "SocksPort 0",
            ]
            if n["kind"] == "auth":
                lines += [
                    "AuthoritativeDirectory 1",
                    "V3AuthoritativeDirectory 1",
                    f"V3AuthVotingInterval {VOTING_INTERVAL}",
                    "V3AuthVoteDelay 4",
                    "V3AuthDistDelay 4",
                    f"TestingV3AuthInitialVotingInterval {VOTING_INTERVAL}",
                    "TestingV3AuthInitialVoteDelay 4",
                    "TestingV3AuthInitialDistDelay 4",
                    "TestingV3AuthVotingStartOffset 0",
                    f"V3BandwidthsFile {bwfile}",
                    "ExitRelay 0",
                    "ExitPolicy reject *:*",
                ]
            elif n["exit"]:
                lines += [
                    "ExitRelay 1",
                    "ExitPolicyRejectPrivate 0",
                    f"ExitPolicy accept {HOST}:*",
                    "ExitPolicy accept *:*",
                    "RefuseUnknownExits 0",
                ]
            else:
                lines += ["ExitRelay 0", "ExitPolicy reject *:*"]
            n["torrc"] = os.path.join(n["data_dir"], "torrc")
            with open(n["torrc"], "w") as f:
                f.write("\n".join(lines) + "\n")
        client_dir = os.path.join(tdir, "client")
        os.makedirs(client_dir, mode=0o700)
        client_torrc = os.path.join(client_dir, "torrc")
        with open(client_torrc, "w") as f:
            f.write("\n".join(self.tor_common("client", client_dir, dir_auth) + [
                f"SocksPort {HOST}:{socks_port}",
                "SafeSocks 0",
                "ClientOnly 1",
                # Prosody as an onion service on the private network (v3).
                f"HiddenServiceDir {os.path.join(client_dir, 'hs')}",
            ] + [f"HiddenServicePort {virt} {HOST}:{real}" for virt, real in onion_ports]) + "\n")
        # Verify configs first: a config error then names the offending file.
        for torrc in [n["torrc"] for n in nodes] + [client_torrc]:
            r = subprocess.run(["tor", "--verify-config", "-f", torrc], capture_output=True, text=True)
            if r.returncode != 0:
                raise BedError(f"tor rejects {torrc}:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
        procs = {}
        for n in nodes + [{"nickname": "client", "data_dir": client_dir, "torrc": client_torrc}]:
            out = os.path.join(n["data_dir"], "stdout.log")
            p = self.spawn(f"tor-{n['nickname']}", ["tor", "-f", n["torrc"]], out)
            n["pid"] = p.pid
            procs[n["nickname"]] = (p, n["data_dir"])

        def check_alive():
            for nick, (p, d) in procs.items():
                if p.poll() is not None:
                    raise BedError(f"tor {nick} exited with {p.returncode}\n"
                                   f"--- {d}/notice.log\n{tail(os.path.join(d, 'notice.log'))}\n"
                                   f"--- {d}/stdout.log\n{tail(os.path.join(d, 'stdout.log'))}")

        # Wait for a consensus that lists every relay as Running (exits with Exit).
        auth0 = nodes[0]
        url = f"http://{HOST}:{auth0['dir_port']}/tor/status-vote/current/consensus"
        deadline = time.time() + CONSENSUS_TIMEOUT
        missing = "no consensus yet"
        while True:
            check_alive()
            ok, missing = self.consensus_complete(url, nodes)
            if ok:
                break
            if time.time() > deadline:
                raise BedError(f"no complete consensus after {CONSENSUS_TIMEOUT}s ({missing})\n"
                               f"--- auth0 notice.log\n{tail(os.path.join(auth0['data_dir'], 'notice.log'))}")
            time.sleep(1)
        log("consensus lists every relay; SIGHUP relays and client")
        for nick, (p, _) in procs.items():
            if not nick.startswith("auth"):
                p.send_signal(signal.SIGHUP)
        # Wait for the client to bootstrap.
        clog = os.path.join(client_dir, "notice.log")
        deadline = time.time() + BOOTSTRAP_TIMEOUT
        while True:
            check_alive()
            try:
                with open(clog, errors="replace") as f:
                    if "Bootstrapped 100%" in f.read():
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise BedError(f"tor client did not bootstrap in {BOOTSTRAP_TIMEOUT}s\n--- {clog}\n{tail(clog)}")
            time.sleep(0.5)
        with open(os.path.join(client_dir, "hs", "hostname")) as f:
            onion = f.read().strip()
        client = {"pid": procs["client"][0].pid, "data_dir": client_dir, "socks_port": socks_port,
                  "onion": onion}
        return nodes, client

    @staticmethod
    def consensus_complete(url, nodes):
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                text = r.read().decode(errors="replace")
        except Exception as e:  # noqa: BLE001 - any fetch failure means "not yet"
            return False, f"fetch: {e}"
        flags = {}
        current = None
        for line in text.splitlines():
            if line.startswith("r "):
                current = line.split()[1]
            elif line.startswith("s ") and current:
                flags[current] = set(line.split()[1:])
        for n in nodes:
            f = flags.get(n["nickname"])
            if f is None:
                return False, f"{n['nickname']} not listed"
            if "Running" not in f:
                return False, f"{n['nickname']} not Running"
            if n.get("exit") and "Exit" not in f:
                return False, f"{n['nickname']} has no Exit flag"
        return True, ""

    # ---- ensure --------------------------------------------------------------

    def ensure(self):
        os.makedirs(self.dir, exist_ok=True)
        lockf = open(os.path.join(self.dir, "lock"), "a")
        fcntl.flock(lockf, fcntl.LOCK_EX)
        try:
            if self.is_live():
                log(f"reusing live bed in {self.dir}")
                return
            log(f"starting a new bed in {self.dir}")
            self.stop()
            self.clear()
            try:
                self.start_all()
            except BaseException:
                self.stop()
                raise
        finally:
            fcntl.flock(lockf, fcntl.LOCK_UN)
            lockf.close()

    def start_all(self):
        t0 = time.time()
        ca_pem, key, crt = self.make_certs()
        c2s, c2s_tls, http = free_ports(3)
        cfg, plog, _slog = self.prosody_config(key, crt, c2s, c2s_tls, http)
        prosody_pid = self.start_prosody(cfg, plog, c2s, http)
        log(f"prosody up on c2s {c2s} (pid {prosody_pid})")
        nodes, client = self.start_tor([(5222, c2s), (5223, c2s_tls)])
        log(f"tor network and client ready after {time.time() - t0:.1f}s")
        network_file = os.path.join(self.dir, "tor-network.json")
        write_json(network_file, {
            "authorities": [{"name": n["nickname"], "v3ident": n["v3ident"]}
                            for n in nodes if n["kind"] == "auth"],
            "fallbacks": [{"rsa_identity": n["rsa"], "ed_identity": n["ed"],
                           "orports": [f"{HOST}:{n['or_port']}"]} for n in nodes],
            "local_network": True,
            # C tor on a TestingTorNetwork makes onion-service time periods one shared-random
            # run long (24 voting intervals), ignoring the consensus; tell Arti the same.
            "net_params": {"hsdir_interval": max(1, 24 * VOTING_INTERVAL // 60)},
        })
        venv = os.environ.get("TALPA_VENV", DEFAULT_VENV)
        bed = {
            "bed_version": bed_version(),
            "dir": self.dir,
            "domain": DOMAIN,
            "muc_domain": MUC_DOMAIN,
            "upload_domain": UPLOAD_DOMAIN,
            "prosody": {"host": HOST, "c2s_port": c2s, "c2s_direct_tls_port": c2s_tls,
                        "http_port": http, "config": cfg, "log": plog,
                        "stanza_log": _slog, "pid": prosody_pid},
            "ca_cert": ca_pem,
            # Prosody's c2s (5222) and direct-TLS (5223) ports as an onion service.
            "onion": client["onion"],
            "tor": {
                "network_file": network_file,
                "socks_port": client["socks_port"],
                "client": {"pid": client["pid"], "data_dir": client["data_dir"]},
                "relays": [{"nickname": n["nickname"], "or_port": n["or_port"],
                            "dir_port": n["dir_port"], "pid": n["pid"], "exit": n["exit"],
                            "data_dir": n["data_dir"], "rsa_identity": n["rsa"],
                            "ed_identity": n["ed"]}
                           for n in nodes if n["kind"] == "relay"],
                "authorities": [{"nickname": n["nickname"], "or_port": n["or_port"],
                                 "dir_port": n["dir_port"], "pid": n["pid"],
                                 "data_dir": n["data_dir"], "v3ident": n["v3ident"],
                                 "rsa_identity": n["rsa"], "ed_identity": n["ed"]}
                                for n in nodes if n["kind"] == "auth"],
            },
            "venv_python": os.path.join(venv, "bin", "python"),
        }
        write_json(self.bed_file, bed)
        with open(self.ready_file, "w") as f:
            f.write(f"{int(time.time())}\n")

    def adduser(self, user, password):
        with open(self.bed_file) as f:
            bed = json.load(f)
        r = subprocess.run(["prosodyctl", "--config", bed["prosody"]["config"], "register",
                            user, bed["domain"], password], capture_output=True, text=True)
        if r.returncode != 0:
            raise BedError(f"prosodyctl register {user} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")


def bed_version():
    """A hash of this script: a bed started by another version is not reused."""
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def main():
    global N_RELAYS, N_EXITS, BENCH, BENCH_STORAGE  # noqa: PLW0603 - shape of the bed start_all builds
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["ensure", "stop", "adduser", "status"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--dir", default=os.environ.get("TALPA_BED_DIR", "/root/.cache/talpa/bed"))
    ap.add_argument("--relays", type=int, default=N_RELAYS,
                    help="relays of a new bed (ensure only; a bed that is up is reused as it is)")
    ap.add_argument("--exits", type=int, default=N_EXITS,
                    help="how many of the relays are exits (ensure only)")
    ap.add_argument("--bench", action="store_true",
                    help="a bed for benchmarks: no stanza debug log, archives in SQLite or memory "
                         "(ensure only)")
    ap.add_argument("--bench-storage", choices=["sql", "memory"], default=BENCH_STORAGE,
                    help="archive store of a --bench bed: memory (default) or sql (SQLite, as "
                         "most real servers)")
    a = ap.parse_intermixed_args()
    BENCH, BENCH_STORAGE = a.bench, a.bench_storage
    if not 1 <= a.exits <= a.relays:
        ap.error("need 1 <= --exits <= --relays")
    N_RELAYS, N_EXITS = a.relays, a.exits
    bed = Bed(a.dir)
    try:
        if a.command == "ensure":
            bed.ensure()
            with open(bed.bed_file) as f:
                sys.stdout.write(f.read())
        elif a.command == "stop":
            if os.path.isdir(bed.dir):
                os.makedirs(bed.dir, exist_ok=True)
                with open(os.path.join(bed.dir, "lock"), "a") as lockf:
                    fcntl.flock(lockf, fcntl.LOCK_EX)
                    bed.stop()
            log(f"stopped bed in {bed.dir}")
        elif a.command == "adduser":
            if len(a.args) != 2:
                ap.error("adduser needs USER PASSWORD")
            bed.adduser(a.args[0], a.args[1])
        elif a.command == "status":
            live = bed.is_live()
            pids = bed._pids()
            print(json.dumps({"live": live,
                              "processes": {n: {"pid": p, "alive": pid_alive(p, bed.dir)}
                                            for n, p in pids.items()}}, indent=1))
            return 0 if live else 1
    except BedError as e:
        print(f"bed.py {a.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
