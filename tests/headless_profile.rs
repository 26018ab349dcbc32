//! The headless front end over a real encrypted profile: the JSON-lines contract end to end,
//! through the real `talpa` binary.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

struct Headless {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    next_id: u64,
    events: Vec<Value>,
}

impl Headless {
    fn start(profile: &std::path::Path) -> Headless {
        let mut child = Command::new(env!("CARGO_BIN_EXE_talpa"))
            .args(["headless", "--profile"])
            .arg(profile)
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

    fn raw(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to talpa");
        self.stdin.flush().expect("flush");
    }

    /// Sends a command and returns its reply, collecting the events seen meanwhile.
    fn call(&mut self, mut cmd: Value) -> (Value, Vec<Value>) {
        self.next_id += 1;
        let id = format!("t{}", self.next_id);
        cmd["id"] = json!(id);
        self.raw(&cmd.to_string());
        self.reply_to(&json!(id))
    }

    fn reply_to(&mut self, id: &Value) -> (Value, Vec<Value>) {
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

    /// Waits for an event matching `pred` (seen earlier or arriving within a minute).
    fn wait_event(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(e) = self.events.iter().find(|e| pred(e)) {
            return e.clone();
        }
        loop {
            let v = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("event not seen; events so far: {:?}", self.events));
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

    fn quit(mut self) {
        let (reply, _) = self.call(json!({"cmd": "quit"}));
        assert_eq!(reply["ok"], true);
        let status = self.child.wait().expect("talpa exits");
        assert!(status.success(), "talpa exited with {status}");
    }
}

fn error_kind(reply: &Value) -> &str {
    assert_eq!(reply["ok"], false, "expected an error, got {reply}");
    reply["error"]["kind"].as_str().unwrap_or("")
}

#[test]
fn malformed_lines_get_error_replies_and_the_process_keeps_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    t.raw("this is not json");
    let (r, _) = t.reply_to(&Value::Null);
    assert_eq!(error_kind(&r), "invalid_input");
    t.raw(r#"{"id":"x","cmd":"teleport"}"#);
    let (r, _) = t.reply_to(&json!("x"));
    assert_eq!(error_kind(&r), "invalid_input");
    t.raw(&format!(
        r#"{{"id":"big","cmd":"send","body":"{}"}}"#,
        "a".repeat(2 << 20)
    ));
    let (r, _) = t.reply_to(&Value::Null);
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(error_kind(&r), "locked");
    t.quit();
}

#[test]
fn profile_lifecycle_create_lock_wrong_passphrase_unlock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "nothing here"}));
    assert_eq!(error_kind(&r), "no_profile");
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "tall mole digs"}));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event(|e| e["event"] == "unlocked");
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "again"}));
    assert_eq!(error_kind(&r), "profile_exists");

    let (r, _) = t.call(json!({"cmd": "lock"}));
    assert_eq!(r["ok"], true);
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(error_kind(&r), "locked");
    t.wait_event(|e| e["event"] == "locked");

    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "tall mole digz"}));
    assert_eq!(error_kind(&r), "wrong_passphrase");
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "tall mole digs"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["accounts"], json!([]));
    t.quit();

    // A second process opens the same profile: it was really persisted, encrypted.
    let mut t = Headless::start(&profile);
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "tall mole digs"}));
    assert_eq!(r["ok"], true, "{r}");
    t.quit();
}

#[test]
fn accounts_are_validated_and_messages_queue_with_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": "not a jid", "password": "x"}));
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": "a@talpa.test", "password": ""}));
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(
        json!({"cmd": "add_account", "jid": "a@talpa.test", "password": "x",
                               "retention": "fortnight"}),
    );
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(
        json!({"cmd": "add_account", "jid": "a@talpa.test", "password": "x",
                               "host": "127.0.0.1", "port": 5222}),
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["accounts"][0]["jid"], "a@talpa.test");
    assert_eq!(r["accounts"][0]["retention"], "1w");
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": "a@talpa.test", "password": "y"}));
    assert_eq!(
        error_kind(&r),
        "invalid_input",
        "a duplicate account is refused"
    );
    let (r, _) = t.call(
        json!({"cmd": "set_account_enabled", "account": "a@talpa.test",
                               "enabled": false}),
    );
    assert_eq!(r["ok"], true, "{r}");

    let (r, _) = t.call(json!({"cmd": "send", "account": "a@talpa.test",
                               "to": "b@talpa.test", "body": "first"}));
    assert_eq!(r["ok"], true, "{r}");
    let origin = r["origin_id"].as_str().expect("origin id").to_owned();
    assert_eq!(origin.len(), 32);
    t.wait_event(|e| e["event"] == "message" && e["body"] == "first");
    let (r, _) = t.call(
        json!({"cmd": "send", "account": "a@talpa.test", "to": "b@talpa.test",
                               "body": "   "}),
    );
    assert_eq!(error_kind(&r), "invalid_input");
    let (r, _) = t.call(json!({"cmd": "send", "account": "nobody@talpa.test",
                               "to": "b@talpa.test", "body": "x"}));
    assert_eq!(error_kind(&r), "not_found");

    let (r, _) =
        t.call(json!({"cmd": "history", "account": "a@talpa.test", "with": "b@talpa.test"}));
    let msgs = r["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["body"], "first");
    assert_eq!(msgs[0]["direction"], "out");

    let (r, _) = t.call(json!({"cmd": "clear_history", "account": "a@talpa.test"}));
    assert_eq!(r["erased"], 1, "{r}");
    let (r, _) =
        t.call(json!({"cmd": "history", "account": "a@talpa.test", "with": "b@talpa.test"}));
    assert_eq!(r["messages"], json!([]));

    let (r, _) = t.call(json!({"cmd": "remove_account", "account": "a@talpa.test"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = t.call(json!({"cmd": "list_accounts"}));
    assert_eq!(r["accounts"], json!([]));
    t.quit();
}

#[test]
fn dont_store_conversations_keep_messages_in_memory_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    t.call(json!({"cmd": "add_account", "jid": "a@talpa.test", "password": "x"}));
    t.call(json!({"cmd": "set_account_enabled", "account": "a@talpa.test", "enabled": false}));
    let (r, _) = t.call(json!({"cmd": "set_retention", "account": "a@talpa.test",
                               "with": "b@talpa.test", "policy": "dont_store"}));
    assert_eq!(r["ok"], true, "{r}");
    t.call(
        json!({"cmd": "send", "account": "a@talpa.test", "to": "b@talpa.test",
                  "body": "ephemeral canary"}),
    );
    let (r, _) =
        t.call(json!({"cmd": "history", "account": "a@talpa.test", "with": "b@talpa.test"}));
    assert_eq!(r["messages"][0]["body"], "ephemeral canary", "{r}");
    t.call(json!({"cmd": "lock"}));
    t.call(json!({"cmd": "unlock", "passphrase": "pw"}));
    let (r, _) =
        t.call(json!({"cmd": "history", "account": "a@talpa.test", "with": "b@talpa.test"}));
    assert_eq!(
        r["messages"],
        json!([]),
        "memory-only messages are gone after lock"
    );
    t.quit();
}

#[test]
fn wipe_leaves_nothing_and_the_old_passphrase_opens_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    t.call(json!({"cmd": "create_profile", "passphrase": "pw"}));
    let (r, _) = t.call(json!({"cmd": "wipe"}));
    assert_eq!(r["ok"], true, "{r}");
    let left: Vec<_> = std::fs::read_dir(&profile)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left after wipe: {left:?}");
    let (r, _) = t.call(json!({"cmd": "unlock", "passphrase": "pw"}));
    assert_eq!(error_kind(&r), "no_profile");
    t.quit();
}
