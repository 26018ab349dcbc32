//! Hostile stanzas a contact can get relayed to Talpa by an ordinary server (Prosody's
//! defaults), end to end through Tor: Talpa must bound them without crashing, keep the
//! connection's other traffic, and store nothing of them.

mod support;

use std::time::Duration;

use serde_json::json;
use support::headless::{bodies, talpa_online};
use support::{Peer, bed};

const LONG: Duration = Duration::from_secs(120);

/// A headline message (Prosody neither archives nor stores it offline, it relays it as is)
/// nesting 20,000 elements, 140 KB — under Prosody's 256 KiB stanza limit. It overflowed the
/// stack of the tokio worker dropping the parsed tree: the process aborted. Now it is skipped
/// under the XML parser (`xmpp::stanza_guard`) and the message after it arrives.
#[test]
fn a_message_nested_twenty_thousand_deep_is_dropped_and_the_next_one_arrives() {
    let bed = bed();
    let dir = tempfile::tempdir().expect("profile dir");
    let (me, password) = bed.new_account("deepme");
    let (peer_jid, peer_password) = bed.new_account("deeppeer");
    let mut peer = Peer::spawn(bed, &peer_jid, &peer_password);
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &me, &password);
    let depth = 20_000;
    let deep = format!(
        "<message to='{me}' type='headline'><body>deep</body><a xmlns='urn:example:deep'>{}{}\
         </a></message>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    peer.send_cmd(&json!({"cmd": "raw", "xml": deep}));
    peer.wait_event(|e| e["event"] == "ack" && e["cmd"] == "raw", LONG);
    peer.send_message(&me, "after the deep one");
    let got = talpa.wait_event_for(|e| e["event"] == "message", LONG);
    assert_eq!(got["body"], "after the deep one", "{got}");
    let (history, _) = talpa.call(json!({"cmd": "history", "account": me, "with": peer_jid}));
    assert_eq!(bodies(&history), vec!["after the deep one".to_owned()]);
    // Still online: the connection was kept.
    let (r, _) = talpa.call(json!({"cmd": "list_accounts"}));
    assert_eq!(r["accounts"][0]["state"], "online", "{r}");
    talpa.quit();
}
