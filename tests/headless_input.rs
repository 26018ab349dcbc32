//! Text XML cannot carry (control characters, U+FFFE/U+FFFF) is refused at the core's door with
//! a clear error naming the character, before anything is stored or queued; ordinary text, tabs
//! and newlines go through. Over the real headless front end, no server needed.

mod support;

use serde_json::json;
use support::headless::{Headless, error_kind};

const ACCOUNT: &str = "mole@talpa.test";
const PEER: &str = "carol@talpa.test";

fn history_bodies(t: &mut Headless) -> Vec<String> {
    let (r, _) = t.call(json!({"cmd": "history", "account": ACCOUNT, "with": PEER}));
    assert_eq!(r["ok"], true, "{r}");
    r["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn text_xml_cannot_carry_is_refused_before_anything_is_stored_and_names_the_character() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = Headless::start(&dir.path().join("p"));
    let (r, _) = t.call(json!({"cmd": "create_profile", "passphrase": "input"}));
    assert_eq!(r["ok"], true, "{r}");
    // The account never connects (no such server): messages wait in the outbox.
    let (r, _) = t.call(json!({"cmd": "add_account", "jid": ACCOUNT, "password": "pw"}));
    assert_eq!(r["ok"], true, "{r}");

    for (bad, named) in [
        ("bell\u{7}", "U+0007"),
        ("nul\u{0}byte", "U+0000"),
        ("form\u{c}feed", "U+000C"),
        ("not a character \u{ffff}", "U+FFFF"),
    ] {
        let (r, _) = t.call(json!({"cmd": "send", "account": ACCOUNT, "to": PEER, "body": bad}));
        assert_eq!(error_kind(&r), "invalid_input", "{r}");
        let message = r["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(named) && message.contains("message"),
            "the error does not name {named}: {r}"
        );
    }
    assert!(
        history_bodies(&mut t).is_empty(),
        "a refused message was stored"
    );

    let good = "tabs\tand\nnewlines, émoji 🦫 and U+FFFD \u{fffd} are fine";
    let (r, _) = t.call(json!({"cmd": "send", "account": ACCOUNT, "to": PEER, "body": good}));
    assert_eq!(r["ok"], true, "{r}");
    let origin = r["origin_id"].as_str().expect("origin_id").to_owned();
    assert_eq!(history_bodies(&mut t), vec![good.to_owned()]);

    // A correction, a subject, a nickname and a reason are checked the same way.
    let (r, _) = t.call(json!({
        "cmd": "correct", "account": ACCOUNT, "with": PEER, "message": origin,
        "body": "fixed\u{1b}[31m",
    }));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("U+001B"),
        "{r}"
    );
    assert_eq!(
        history_bodies(&mut t),
        vec![good.to_owned()],
        "the refused correction applied"
    );
    for (cmd, extra) in [
        ("set_subject", json!({"subject": "plans\u{8}"})),
        ("join_room", json!({"nick": "bad\u{1}nick"})),
        ("kick", json!({"nick": "otter", "reason": "spam\u{0}"})),
        (
            "direct_invite",
            json!({"jid": PEER, "reason": "come\u{fffe}"}),
        ),
    ] {
        let mut c = json!({"cmd": cmd, "account": ACCOUNT, "room": "plans@rooms.talpa.test"});
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        let (r, _) = t.call(c);
        assert_eq!(error_kind(&r), "invalid_input", "{cmd}: {r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("cannot carry"),
            "{cmd}: {r}"
        );
    }
    t.quit();
}
