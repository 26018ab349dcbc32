//! XEP-0363 against real components: the bed's Prosody announces its `http_file_share`
//! service and gives a usable slot for a random name; a hostile "upload service" (the Python
//! peer answering slot requests) gets every bad slot refused with a typed error naming what is
//! wrong — no URL from it is ever used.

mod support;
mod xmpp_common;

use serde_json::json;
use support::{Peer, bed};
use talpa::xmpp::XmppError;
use talpa::xmpp::http_upload::{UploadService, upload_name};
use tokio_xmpp::jid::Jid;
use xmpp_common::connect;

#[tokio::test(flavor = "multi_thread")]
async fn the_servers_upload_service_is_found_and_gives_a_slot_for_a_random_name() {
    let b = bed();
    let (jid, pw) = b.new_account("upsvc");
    let (session, _events) = connect(&jid, &pw).await;
    let service = session
        .upload_service()
        .await
        .expect("disco")
        .expect("the bed has an upload service");
    assert_eq!(service.jid.to_string(), "upload.talpa.test");
    assert_eq!(service.max_file_size, Some(16 * 1024 * 1024));
    let name = upload_name("Secret plans.pdf");
    let slot = session
        .upload_slot(&service, &name, 1234, "application/octet-stream")
        .await
        .expect("slot");
    assert!(slot.put_url.ends_with(&name), "{}", slot.put_url);
    assert!(slot.get_url.starts_with("http://"), "{}", slot.get_url);
    assert!(!slot.get_url.contains("Secret"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_slot_answers_are_refused_with_what_is_wrong() {
    let b = bed();
    let (jid, pw) = b.new_account("uphost");
    let (fake, fpw) = b.new_account("upfake");
    let (session, _events) = connect(&jid, &pw).await;
    let cases = [
        (
            "<slot xmlns='urn:xmpp:http:upload:0'><put url='file:///etc/passwd'/>\
             <get url='https://h.example/x'/></slot>",
            "scheme file",
        ),
        (
            "<slot xmlns='urn:xmpp:http:upload:0'><put url='https://h.example/x'>\
             <header name='Host'>evil.example</header></put>\
             <get url='https://h.example/x'/></slot>",
            "header",
        ),
        (
            "<slot xmlns='urn:xmpp:http:upload:0'><put url='https://h.example/x'/></slot>",
            "no get URL",
        ),
    ];
    for (xml, expected) in cases {
        let mut peer = Peer::spawn(b, &fake, &fpw);
        peer.send_cmd(&json!({"cmd": "serve_slot", "xml": xml, "id": "serve"}));
        peer.wait_event(
            |e| e["event"] == "ack" && e["id"] == "serve",
            std::time::Duration::from_secs(30),
        );
        let service = UploadService {
            jid: Jid::new(&peer.full_jid).expect("peer jid"),
            max_file_size: None,
        };
        let result = session
            .upload_slot(&service, "a.bin", 10, "application/octet-stream")
            .await;
        match result {
            Err(XmppError::Protocol(text)) => {
                assert!(text.contains(expected), "{expected:?} not in {text:?}");
            }
            other => panic!("a hostile slot ({xml}) gave {other:?}"),
        }
    }
}
