//! A burst of live chat messages (the core stores the ones queued together in one transaction)
//! arrives complete, in order, each shown once, with a correction inside the burst applied to
//! the message it follows.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::headless::{bodies, talpa_online};
use support::{Peer, bed};

const BURST: usize = 300;
const TARGET: usize = 150;

#[test]
fn a_burst_of_live_messages_is_stored_complete_in_order_with_a_correction_applied() {
    let bed = bed();
    let (a, apw) = bed.new_account("burst");
    let (b, bpw) = bed.new_account("flooder");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = Peer::spawn(bed, &b, &bpw);

    // Raw stanzas, so the peer writes them in exactly this order.
    let chat = |id: &str, body: &str, extra: &str| {
        json!({"cmd": "raw", "xml": format!(
            "<message xmlns='jabber:client' to='{a}' type='chat' id='{id}'>\
             <body>{body}</body>{extra}</message>")})
    };
    let mut expected = Vec::new();
    for i in 0..BURST {
        if i == TARGET {
            peer.send_cmd(&chat("burst-target", "before correction", ""));
            expected.push("after correction".to_owned());
        } else {
            let body = format!("burst {i}");
            peer.send_cmd(&chat(&format!("burst-{i}"), &body, ""));
            expected.push(body);
        }
        if i == TARGET + 1 {
            let fix = "<replace xmlns='urn:xmpp:message-correct:0' id='burst-target'/>";
            peer.send_cmd(&chat("burst-fix", "after correction", fix));
        }
    }
    let last = format!("burst {}", BURST - 1);
    talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == last.as_str(),
        Duration::from_secs(120),
    );
    talpa.wait_event_for(
        |e| e["event"] == "message_updated" && e["body"] == "after correction",
        Duration::from_secs(30),
    );

    let (r, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b, "limit": 1000}));
    assert_eq!(
        bodies(&r),
        expected,
        "every message once, in order, corrected in place"
    );
    let shown: Vec<&Value> = talpa
        .events
        .iter()
        .filter(|e| e["event"] == "message" && e["with"] == b.as_str())
        .collect();
    assert_eq!(shown.len(), BURST, "one message event per message");
    talpa.quit();
}
