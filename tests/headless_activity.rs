//! The choice to share delivery, read and typing status is kept in the encrypted store: per
//! conversation and as the account default, across a restart; it is off until chosen; an
//! unknown chat state is refused; removing the account forgets its choices, so the same
//! address added again starts with everything off. No network needed.

mod support;

use serde_json::{Value, json};
use support::headless::{Headless, error_kind};

const MOLE: &str = "mole@talpa.test";

fn privacy(t: &mut Headless, with: &str) -> (Value, Value) {
    let (r, _) = t.call(json!({"cmd": "conversation_privacy", "account": MOLE, "with": with}));
    assert_eq!(r["ok"], true, "{r}");
    (r["share_activity"].clone(), r["account_default"].clone())
}

fn ok(t: &mut Headless, cmd: Value) {
    let (r, _) = t.call(cmd);
    assert_eq!(r["ok"], true, "{r}");
}

#[test]
fn sharing_is_off_until_chosen_kept_across_a_restart_and_forgotten_with_the_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut t = Headless::start(&profile);
    ok(
        &mut t,
        json!({"cmd": "create_profile", "passphrase": "activity"}),
    );
    ok(
        &mut t,
        json!({"cmd": "add_account", "jid": MOLE, "password": "pw", "host": "127.0.0.1", "port": 9}),
    );
    assert_eq!(
        privacy(&mut t, "carol@talpa.test"),
        (json!(false), json!(false))
    );
    ok(
        &mut t,
        json!({"cmd": "set_conversation_privacy", "account": MOLE, "with": "carol@talpa.test",
               "share_activity": true}),
    );
    ok(
        &mut t,
        json!({"cmd": "set_conversation_privacy", "account": MOLE, "with": "dave@talpa.test",
               "share_activity": false}),
    );
    ok(
        &mut t,
        json!({"cmd": "set_conversation_privacy", "account": MOLE, "share_activity": true}),
    );
    // Nothing is sent for a conversation that does not share, online or not: no error either.
    ok(
        &mut t,
        json!({"cmd": "chat_state", "account": MOLE, "with": "dave@talpa.test", "state": "composing"}),
    );
    let (r, _) = t.call(
        json!({"cmd": "chat_state", "account": MOLE, "with": "carol@talpa.test", "state": "typing"}),
    );
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    let (r, _) = t.call(
        json!({"cmd": "set_conversation_privacy", "account": "nobody@talpa.test",
               "share_activity": true}),
    );
    assert_eq!(error_kind(&r), "not_found", "{r}");
    t.quit();

    let mut t = Headless::start(&profile);
    ok(&mut t, json!({"cmd": "unlock", "passphrase": "activity"}));
    assert_eq!(
        privacy(&mut t, "carol@talpa.test"),
        (json!(true), json!(true))
    );
    // The default covers roster contacts only; dave chose "off" himself; erin is no contact.
    assert_eq!(
        privacy(&mut t, "dave@talpa.test"),
        (json!(false), json!(true))
    );
    assert_eq!(
        privacy(&mut t, "erin@talpa.test"),
        (json!(false), json!(true))
    );
    let (r, _) = t.call(json!({"cmd": "conversation_privacy", "account": MOLE}));
    assert_eq!(
        (&r["share_activity"], &r["account_default"]),
        (&json!(true), &json!(true)),
        "without `with`: the account default: {r}"
    );

    ok(&mut t, json!({"cmd": "remove_account", "account": MOLE}));
    ok(
        &mut t,
        json!({"cmd": "add_account", "jid": MOLE, "password": "pw", "host": "127.0.0.1", "port": 9}),
    );
    assert_eq!(
        privacy(&mut t, "carol@talpa.test"),
        (json!(false), json!(false))
    );
    t.quit();
}
