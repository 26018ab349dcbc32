//! Search in the local history, end to end: the real `talpa` binary finds messages a slixmpp
//! peer sent it over Tor, finds its own corrected message by its new text only, never its
//! retracted one, refuses empty and oversized queries with `invalid_input`, and never sends
//! the words searched for to the server (Prosody's stanza log checked).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{error_kind, send, talpa_online};
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

fn snippets(reply: &Value) -> Vec<String> {
    reply["hits"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|h| h["snippet"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn messages_received_over_tor_are_found_locally_by_their_current_text() {
    let bed = bed();
    let (a, apw) = bed.new_account("seeker");
    let (b, bpw) = bed.new_account("vole");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);
    talpa.call(json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}));

    peer.send_message(&a, "The Burrow under the ÉTÉ oak");
    peer.send_message(&a, "nothing to see");
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == "nothing to see",
        LONG,
    );
    let kept = send(&mut talpa, &a, &b, "my burrow is dry");
    let gone = send(&mut talpa, &a, &b, "burrow secret plans");
    peer.wait_message("burrow secret plans", LONG);
    let (r, _) = talpa.call(json!({"cmd": "correct", "account": a, "with": b,
        "message": kept, "body": "my tunnel is dry"}));
    assert_eq!(r["ok"], true, "{r}");
    let (r, _) = talpa.call(json!({"cmd": "retract", "account": a, "with": b, "message": gone}));
    assert_eq!(r["ok"], true, "{r}");

    let (r, _) = talpa.call(json!({"cmd": "search", "account": a, "query": "burrow été"}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(snippets(&r), ["The Burrow under the ÉTÉ oak"], "{r:#}");
    let hit = &r["hits"][0];
    assert_eq!(hit["with"], b);
    assert_eq!(hit["direction"], "in");
    assert_eq!(hit["is_room"], false);
    assert_eq!(r["more"], false);
    assert_eq!(hit["matches"], json!([[4, 10], [21, 26]]), "{hit}");

    let (r, _) = talpa.call(json!({"cmd": "search", "account": a, "query": "burrow"}));
    assert_eq!(
        snippets(&r),
        ["The Burrow under the ÉTÉ oak"],
        "neither the corrected nor the retracted message: {r:#}"
    );
    let (r, _) = talpa.call(json!({"cmd": "search", "account": a, "query": "TUNNEL", "with": b}));
    assert_eq!(snippets(&r), ["my tunnel is dry"], "{r:#}");
    assert_eq!(r["hits"][0]["direction"], "out");
    let (r, _) = talpa.call(
        json!({"cmd": "search", "account": a, "query": "tunnel", "with": "nobody@talpa.test"}),
    );
    assert_eq!(snippets(&r), Vec::<String>::new(), "{r:#}");

    // The search words never reach the server: after a search, a message sent on the same
    // stream and received by the peer proves the log holds everything sent before it.
    let secret_word = format!("zq{}", support::random_hex(8));
    let (r, _) = talpa.call(json!({"cmd": "search", "account": a, "query": secret_word}));
    assert_eq!(r["hits"], json!([]), "{r}");
    send(&mut talpa, &a, &b, "after the search");
    peer.wait_message("after the search", LONG);
    let log = bed.stanza_log_text();
    assert!(log.contains("after the search"), "the stanza log is live");
    assert!(
        !log.contains(&secret_word),
        "a search word went to the server"
    );

    let (r, _) = talpa.call(json!({"cmd": "search", "account": a, "query": "  "}));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    let (r, _) = talpa.call(json!({"cmd": "search", "account": a, "query": "x".repeat(201)}));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    let (r, _) =
        talpa.call(json!({"cmd": "search", "account": "ghost@talpa.test", "query": "burrow"}));
    assert_eq!(error_kind(&r), "not_found", "{r}");
    talpa.quit();
}
