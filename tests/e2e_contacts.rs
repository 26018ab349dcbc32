//! Contacts end to end through the private Tor network: refusing a subscription request,
//! blocking (XEP-0191), local-only contacts that never reach the server roster, and the
//! server archiving preference (XEP-0441) read back from the server.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{Headless, bodies, error_kind, talpa_online, talpa_online_with};
use support::{Bed, Peer, bed};

const LONG: Duration = Duration::from_secs(120);

fn lists(e: &Value, field: &str, jid: &str) -> bool {
    e[field]
        .as_array()
        .is_some_and(|c| c.iter().any(|j| j == jid))
}

/// Every roster file Prosody keeps for the domain, as text.
fn server_rosters(bed: &Bed) -> String {
    let dir = bed
        .prosody
        .config
        .parent()
        .expect("prosody dir")
        .join("data")
        .join("talpa%2etest")
        .join("roster");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return String::new(); // no roster stored at all
    };
    entries
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_subscription_request_is_shown_and_denied() {
    let bed = bed();
    let (a, apw) = bed.new_account("denier");
    let (b, bpw) = bed.new_account("asker");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);

    peer.send_cmd(&json!({"cmd": "roster_add", "jid": a}));
    talpa.wait_event_for(
        |e| e["event"] == "subscription_request" && e["account"] == a && e["from"] == b,
        LONG,
    );
    let (r, _) = talpa.call(json!({"cmd": "deny_contact", "account": a, "jid": b}));
    assert_eq!(r["ok"], true, "{r}");
    peer.wait_event(|e| e["event"] == "unsubscribed" && e["from"] == a, LONG);
    talpa.quit();
}

#[test]
fn a_blocked_contact_cannot_write_until_unblocked() {
    let bed = bed();
    let (a, apw) = bed.new_account("blocker");
    let (b, bpw) = bed.new_account("pest");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    talpa.wait_event(|e| e["event"] == "blocklist" && e["account"] == a);
    let mut peer = Peer::spawn(bed, &b, &bpw);

    let (r, _) = talpa.call(json!({"cmd": "block", "account": a, "jid": b}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event(|e| e["event"] == "blocklist" && lists(e, "jids", &b));

    // The server bounces the blocked contact's message; Talpa never sees it.
    peer.send_cmd(&json!({"cmd": "send", "to": a, "body": "let me in", "msg_id": "blocked-1"}));
    let bounce = peer.wait_event(
        |e| e["event"] == "message_error" && e["id"] == "blocked-1",
        LONG,
    );
    assert_eq!(bounce["condition"], "service-unavailable", "{bounce}");

    talpa.events.clear();
    let (r, _) = talpa.call(json!({"cmd": "unblock", "account": a, "jid": b}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event(|e| e["event"] == "blocklist" && !lists(e, "jids", &b));
    peer.send_message(&a, "may I now");
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == "may I now",
        LONG,
    );
    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b}));
    assert_eq!(
        bodies(&r),
        ["may I now"],
        "the blocked message is nowhere: {r}"
    );
    talpa.quit();
}

#[test]
fn local_only_contacts_stay_in_the_encrypted_store_and_off_the_server_roster() {
    let bed = bed();
    let (a, apw) = bed.new_account("hermit");
    let (b, _) = bed.new_account("friend");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut talpa = talpa_online_with(
        bed,
        &profile,
        &a,
        &apw,
        &json!({"local_only_contacts": true}),
    );

    let (r, _) = talpa.call(json!({"cmd": "add_contact", "account": a, "jid": b}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event(|e| e["event"] == "roster" && lists(e, "contacts", &b));
    let (r, _) = talpa.call(json!({"cmd": "approve_contact", "account": a, "jid": b}));
    assert_eq!(
        error_kind(&r),
        "invalid_input",
        "approving would reach the server: {r}"
    );
    // The same request/answer round trip that pushes a roster item on a normal account has
    // finished: nothing of it is on the server.
    let (r, _) = talpa.call(json!({"cmd": "archiving", "account": a}));
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        !server_rosters(bed).contains(&b),
        "the contact reached the server roster"
    );

    // Kept across restarts, in the encrypted store.
    talpa.quit();
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut talpa = Headless::start_with(
        &profile,
        &["--tor-network", &network, "--startup-jitter", "1"],
    );
    let (r, _) = talpa.call(json!({"cmd": "unlock", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event_for(
        |e| e["event"] == "roster" && e["account"] == a && lists(e, "contacts", &b),
        LONG,
    );
    talpa.events.clear();
    let (r, _) = talpa.call(json!({"cmd": "remove_contact", "account": a, "jid": b}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event(|e| e["event"] == "roster" && !lists(e, "contacts", &b));
    assert!(!server_rosters(bed).contains(&b));
    talpa.quit();
}

#[test]
fn archiving_preference_is_set_and_read_back_from_the_server() {
    let bed = bed();
    let (a, apw) = bed.new_account("archivist");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);

    let (r, _) = talpa.call(json!({"cmd": "archiving", "account": a}));
    assert_eq!(r["archiving"], "always", "the bed archives by default: {r}");
    for wanted in ["never", "roster", "always"] {
        let (r, _) = talpa.call(json!({"cmd": "set_archiving", "account": a, "default": wanted}));
        assert_eq!(r["archiving"], wanted, "{r}");
        let (r, _) = talpa.call(json!({"cmd": "archiving", "account": a}));
        assert_eq!(r["archiving"], wanted, "read back: {r}");
    }
    let (r, _) = talpa.call(json!({"cmd": "set_archiving", "account": a, "default": "sometimes"}));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    talpa.quit();
}

#[test]
fn a_contact_name_stays_in_the_encrypted_store_cleaned_and_goes_with_its_account() {
    let bed = bed();
    let (a, apw) = bed.new_account("namer");
    let (b, _) = bed.new_account("named");
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("p");
    let mut talpa = talpa_online(bed, &profile, &a, &apw);
    // A server roster contact (a normal account): the name must still stay off the server.
    let (r, _) = talpa.call(json!({"cmd": "add_contact", "account": a, "jid": b}));
    assert_eq!(r["ok"], true, "{r}");
    talpa.wait_event(|e| e["event"] == "roster" && lists(e, "contacts", &b));

    let name = format!("Ｍole\u{202e}Friend {}\n  zz", support::secret("nm"));
    let (r, _) = talpa.call(
        json!({"cmd": "set_contact_name", "account": a, "jid": b.to_uppercase(), "name": name}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let kept = r["names"][&b]
        .as_str()
        .expect("the name under the bare JID")
        .to_owned();
    assert!(
        kept.starts_with("ＭoleFriend ") && kept.ends_with(" zz"),
        "{kept:?}"
    );
    assert!(
        !kept.contains('\u{202e}') && !kept.contains('\n'),
        "{kept:?}"
    );
    let e = talpa.wait_event(|e| {
        e["event"] == "contact_names" && e["account"] == a && e["names"].get(&b).is_some()
    });
    assert_eq!(e["names"][&b], json!(kept), "{e}");
    let (r, _) = talpa.call(json!({"cmd": "set_contact_name", "account": a, "jid": b,
                                   "name": "x".repeat(500)}));
    assert_eq!(
        r["names"][&b].as_str().map(|n| n.chars().count()),
        Some(talpa::core::contact_names::MAX_CHARS),
        "bounded: {r}"
    );
    let (r, _) = talpa.call(json!({"cmd": "set_contact_name", "account": a, "jid": b,
                                   "name": kept}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = talpa.call(
        json!({"cmd": "set_contact_name", "account": a, "jid": "not a jid",
                                   "name": "x"}),
    );
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    // A round trip with the server: whatever the name caused would have been sent by now.
    let (r, _) = talpa.call(json!({"cmd": "archiving", "account": a}));
    assert_eq!(r["ok"], true, "{r}");
    let secret_part = kept
        .split(' ')
        .find(|w| w.len() == 24)
        .expect("the secret's random part")
        .to_owned();
    assert!(
        !server_rosters(bed).contains(&secret_part),
        "the name reached the server roster"
    );
    assert!(
        !bed.stanza_log_text().contains(&secret_part),
        "the name was sent to the server"
    );

    // Kept across restarts; an empty name forgets it.
    talpa.quit();
    let network = bed.tor.network_file.to_string_lossy().into_owned();
    let mut talpa = Headless::start_with(&profile, &["--tor-network", &network]);
    let (r, _) = talpa.call(json!({"cmd": "unlock", "passphrase": "e2e"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = talpa.call(json!({"cmd": "contact_names", "account": a}));
    assert_eq!(r["names"], json!({ b.clone(): kept }), "{r}");
    let (r, _) = talpa.call(json!({"cmd": "set_contact_name", "account": a, "jid": b,
                                   "name": " \u{200b} "}));
    assert_eq!(r["names"], json!({}), "{r}");
    let (r, _) = talpa.call(json!({"cmd": "contact_names", "account": a}));
    assert_eq!(r["names"], json!({}), "{r}");

    // Removing the account forgets its names with it.
    let (r, _) = talpa.call(json!({"cmd": "set_contact_name", "account": a, "jid": b,
                                   "name": "Until removed"}));
    assert_eq!(r["names"][&b], "Until removed", "{r}");
    let (r, _) = talpa.call(json!({"cmd": "remove_account", "account": a}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = talpa.call(json!({"cmd": "contact_names", "account": a}));
    assert_eq!(r["names"], json!({}), "{r}");
    let (r, _) = talpa.call(json!({"cmd": "set_contact_name", "account": a, "jid": b,
                                   "name": "x"}));
    assert_eq!(error_kind(&r), "not_found", "{r}");
    talpa.quit();
}

#[test]
fn a_name_another_client_put_in_the_server_roster_is_reported_cleaned_and_a_local_one_wins() {
    let bed = bed();
    let (a, apw) = bed.new_account("rostered");
    let (c, _) = bed.new_account("rostername");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    // Another client of the same account names the contact in the server roster.
    let mut other_client = Peer::spawn(bed, &a, &apw);
    other_client.send_cmd(&json!({"cmd": "roster_add", "jid": c, "name": "Server\u{202e} Name"}));
    let e = talpa.wait_event_for(
        |e| e["event"] == "contact_names" && e["roster_names"].get(&c).is_some(),
        LONG,
    );
    assert_eq!(e["roster_names"][&c], "Server Name", "cleaned: {e}");
    assert_eq!(e["names"], json!({}), "{e}");
    let (r, _) = talpa.call(json!({"cmd": "contact_names", "account": a}));
    assert_eq!(r["roster_names"][&c], "Server Name", "{r}");
    let (r, _) = talpa.call(json!({"cmd": "set_contact_name", "account": a, "jid": c,
                                   "name": "Mine"}));
    assert_eq!(
        (&r["names"][&c], &r["roster_names"][&c]),
        (&json!("Mine"), &json!("Server Name")),
        "both reported, the front end shows the local one: {r}"
    );
    talpa.quit();
}
