//! Diagnostics never print message bodies, room passwords, nicknames typed into rooms or
//! passphrases — not even at `TALPA_LOG=trace`, where tokio-xmpp dumps every stanza it sends
//! and receives (docs/HEADLESS.md). A real session against the bed: a plaintext message out, a
//! plaintext message in, a password-protected room created; then the whole stderr is searched.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::headless::{Headless, send};
use support::{Peer, bed, random_hex};

const LONG: Duration = Duration::from_secs(120);

#[test]
fn trace_logging_prints_no_body_room_password_nick_or_passphrase() {
    let bed = bed();
    let (jid, password) = bed.new_account("logs");
    let (peer_jid, peer_password) = bed.new_account("logspeer");
    let mut peer = Peer::spawn(bed, &peer_jid, &peer_password);
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("stderr.log");
    let canary = |what: &str| format!("Canary{what}{}", random_hex(6));
    let (passphrase, out_body, in_body, room_password, nick) = (
        canary("Passphrase"),
        canary("Out"),
        canary("In"),
        canary("RoomPassword"),
        canary("Nick"),
    );

    // The real binary with every diagnostic on, stderr to a file.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "exec \"$0\" headless --profile \"$1\" --tor-network \"$2\" --startup-jitter 2 2>\"$3\"",
        env!("CARGO_BIN_EXE_talpa"),
    ])
    .arg(tmp.path().join("profile"))
    .arg(&bed.tor.network_file)
    .arg(&log)
    .env("TALPA_LOG", "trace");
    let mut t = Headless::from_command(cmd);
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": passphrase}));
    assert_eq!(r["ok"], true, "{r}");
    let ca = std::fs::read_to_string(&bed.ca_cert).expect("bed CA");
    let (r, _) = t.call(json!({
        "cmd": "add_account", "jid": jid, "password": password,
        "host": bed.prosody.host, "port": bed.prosody.c2s_port, "trust_anchor_pem": ca,
    }));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(
        |e| e["event"] == "account_state" && e["account"] == jid && e["state"] == "online",
        LONG,
    );

    let (r, _) = t.call(json!({"cmd": "set_encryption", "account": jid,
                               "conversation": peer_jid, "enabled": false}));
    assert_eq!(r["ok"], true, "{r}");
    send(&mut t, &jid, &peer_jid, &out_body);
    peer.wait_message(&out_body, LONG);
    peer.send_message(&jid, &in_body);
    t.wait_event_for(|e| e["event"] == "message" && e["body"] == in_body, LONG);
    let room = bed.new_room("logs");
    let (r, _) = t.call(json!({"cmd": "create_room", "account": jid, "room": room,
                               "nick": nick, "password": room_password}));
    assert_eq!(r["ok"], true, "{r}");
    t.wait_event_for(|e| e["event"] == "room_joined" && e["room"] == room, LONG);
    t.quit();

    let text = std::fs::read_to_string(&log).expect("stderr log");
    assert!(
        text.contains("TRACE"),
        "trace diagnostics were written (positive control): {} bytes",
        text.len()
    );
    for (what, secret) in [
        ("the passphrase", &passphrase),
        ("the account password", &password),
        ("an outgoing body", &out_body),
        ("an incoming body", &in_body),
        ("the room password", &room_password),
        ("the nick", &nick),
    ] {
        let hits: Vec<_> = text
            .lines()
            .filter(|l| l.contains(secret.as_str()))
            .collect();
        assert!(
            hits.is_empty(),
            "{what} is in the log:\n{}",
            hits.iter()
                .map(|l| l.chars().take(300).collect::<String>())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
