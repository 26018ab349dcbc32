//! Drives the real `talpa` binary in headless mode (docs/HEADLESS.md) from integration tests.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// The real `talpa` binary in headless mode, driven over its JSON-lines protocol.
pub struct Headless {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    next_id: u64,
    /// Every event seen so far.
    pub events: Vec<Value>,
}

impl Headless {
    /// Starts `talpa headless --profile DIR`.
    pub fn start(profile: &std::path::Path) -> Headless {
        Headless::start_with(profile, &[])
    }

    /// Starts `talpa headless --profile DIR` with extra arguments.
    pub fn start_with(profile: &std::path::Path, extra: &[&str]) -> Headless {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_talpa"));
        cmd.args(["headless", "--profile"]).arg(profile).args(extra);
        Headless::from_command(cmd)
    }

    /// Starts a prepared command that runs `talpa headless` (e.g. under `strace`).
    pub fn from_command(mut cmd: Command) -> Headless {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("talpa starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("talpa printed a non-JSON line {line:?}: {e}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Headless {
            child,
            stdin,
            lines,
            next_id: 0,
            events: Vec::new(),
        }
    }

    /// Writes one raw line.
    pub fn raw(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to talpa");
        self.stdin.flush().expect("flush");
    }

    /// Sends a command and returns its reply, collecting the events seen meanwhile.
    pub fn call(&mut self, mut cmd: Value) -> (Value, Vec<Value>) {
        self.next_id += 1;
        let id = format!("t{}", self.next_id);
        cmd["id"] = json!(id);
        self.raw(&cmd.to_string());
        self.reply_to(&json!(id))
    }

    /// Reads until the reply with this id, collecting events.
    pub fn reply_to(&mut self, id: &Value) -> (Value, Vec<Value>) {
        let mut events = Vec::new();
        loop {
            let v = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("talpa answers within a minute");
            if v.get("event").is_some() {
                self.events.push(v.clone());
                events.push(v);
            } else if &v["id"] == id {
                return (v, events);
            } else {
                panic!("unexpected line {v}");
            }
        }
    }

    /// Waits for an event matching `pred` (seen earlier or arriving within `timeout`).
    pub fn wait_event_for(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        if let Some(e) = self.events.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let v = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                let seen: Vec<String> = self
                    .events
                    .iter()
                    .filter(|e| e["event"] != "tor_status")
                    .map(Value::to_string)
                    .collect();
                panic!("event not seen within {timeout:?}; other events: {seen:#?}")
            });
            if v.get("event").is_some() {
                self.events.push(v.clone());
                if pred(&v) {
                    return v;
                }
            } else {
                panic!("unexpected reply {v}");
            }
        }
    }

    /// Reads events until `done` holds for all events seen so far (or panics after `timeout`).
    pub fn wait_events_until(&mut self, done: impl Fn(&[Value]) -> bool, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while !done(&self.events) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let v = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                let states: Vec<String> = self
                    .events
                    .iter()
                    .filter(|e| e["event"] == "account_state" || e["event"] == "error")
                    .map(Value::to_string)
                    .collect();
                panic!(
                    "the awaited events did not come within {timeout:?}; {} events seen; \
                         account states and errors: {states:#?}",
                    self.events.len()
                )
            });
            assert!(v.get("event").is_some(), "unexpected reply {v}");
            self.events.push(v);
        }
    }

    /// Waits up to a minute for an event matching `pred`.
    pub fn wait_event(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_event_for(pred, Duration::from_secs(60))
    }

    /// Kills the process with SIGKILL (no chance to flush, close or ack anything) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL talpa");
        let _ = self.child.wait();
    }

    /// The process id (to signal it from a test).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Quits and checks the exit status.
    pub fn quit(mut self) {
        let (reply, _) = self.call(json!({"cmd": "quit"}));
        assert_eq!(reply["ok"], true);
        let status = self.child.wait().expect("talpa exits");
        assert!(status.success(), "talpa exited with {status}");
    }
}

/// The error kind of a failed reply (panics when the reply succeeded).
pub fn error_kind(reply: &Value) -> &str {
    assert_eq!(reply["ok"], false, "expected an error, got {reply}");
    reply["error"]["kind"].as_str().unwrap_or("")
}

/// Starts a Talpa on a fresh profile with one account for `jid`, pointed at the bed's Prosody
/// through the bed's private Tor network, trusting the bed's CA for this account only.
pub fn talpa_online(
    bed: &super::Bed,
    dir: &std::path::Path,
    jid: &str,
    password: &str,
) -> Headless {
    talpa_online_with(bed, dir, jid, password, &json!({}))
}

/// Like [`talpa_online`], with extra `add_account` fields (e.g. `local_only_contacts`).
pub fn talpa_online_with(
    bed: &super::Bed,
    dir: &std::path::Path,
    jid: &str,
    password: &str,
    account_options: &Value,
) -> Headless {
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut t = Headless::start_with(dir, &["--tor-network", &network, "--startup-jitter", "2"]);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("bed CA");
    let mut add = json!({
        "cmd": "add_account", "jid": jid, "password": password,
        "host": bed.prosody.host, "port": bed.prosody.c2s_port, "trust_anchor_pem": ca,
    });
    if let (Some(add), Some(extra)) = (add.as_object_mut(), account_options.as_object()) {
        add.extend(extra.clone());
    }
    let (r, _) = t.call(add);
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(
        |e| e["event"] == "account_state" && e["account"] == jid && e["state"] == "online",
        Duration::from_secs(120),
    );
    // "online" means our presence was sent; give the server (reached over another circuit
    // than the peer's) a moment to process it before peers write to us, or their messages go
    // to the archive only, to be caught up at the next login.
    std::thread::sleep(Duration::from_secs(2));
    t
}

/// The bodies of a `history` reply's messages, oldest first.
pub fn bodies(history: &Value) -> Vec<String> {
    history["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["body"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Sends `body` from `account` to `to`; returns the queued message's origin-id.
pub fn send(t: &mut Headless, account: &str, to: &str, body: &str) -> String {
    let (r, _) = t.call(json!({"cmd": "send", "account": account, "to": to, "body": body}));
    assert_eq!(r["ok"], true, "{r}");
    r["origin_id"].as_str().expect("origin id").to_owned()
}

/// A room created by Talpa (`owner`, as "mole") with `members` (a peer, its JID, its nick)
/// invited and joined; returns once Talpa sees every one of them in the room.
pub fn room_with(
    talpa: &mut Headless,
    owner: &str,
    room: &str,
    members: &mut [(&mut super::Peer, &str, &str)],
) {
    const LONG: Duration = Duration::from_secs(90);
    let (r, _) =
        talpa.call(json!({"cmd": "create_room", "account": owner, "room": room, "nick": "mole"}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    for (peer, jid, nick) in members.iter_mut() {
        let (r, _) =
            talpa.call(json!({"cmd": "invite", "account": owner, "room": room, "jid": jid}));
        assert_eq!(r["ok"], true, "{r}");
        peer.send_cmd(&json!({"cmd": "join", "room": room, "nick": nick}));
        peer.wait_event(|e| e["event"] == "joined", LONG);
    }
    let n = members.len() + 1;
    talpa.wait_event_for(
        |e| {
            e["event"] == "occupants"
                && e["room"] == room
                && e["occupants"].as_array().is_some_and(|o| o.len() == n)
        },
        LONG,
    );
}
