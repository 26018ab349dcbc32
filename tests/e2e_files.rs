//! File sharing end to end (XEP-0363 upload, XEP-0454 OMEMO media sharing): the real `talpa`
//! binary uploads to Prosody's `http_file_share` through the private Tor network and shares the
//! file with the independent Python peer (slixmpp + python-omemo, decrypting with Python's
//! `cryptography`), and downloads what the peer shares — only when asked — keeping it in the
//! encrypted store until the conversation's retention erases it.

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use support::headless::{Headless, error_kind, talpa_online};
use support::{bed, omemo_peer, random_hex};

const LONG: Duration = Duration::from_secs(120);

fn ok(t: &mut Headless, cmd: Value) -> Value {
    let (r, _) = t.call(cmd);
    assert_eq!(r["ok"], true, "{r}");
    r
}

/// Bytes that are not all alike (so a wrong offset or key shows).
fn file_bytes(len: usize) -> Vec<u8> {
    let seed = random_hex(16);
    (0..len)
        .map(|i| seed.as_bytes()[i % 16].wrapping_mul(i as u8 | 1))
        .collect()
}

/// What follows the last dot of `s`.
fn extension(s: &str) -> &str {
    s.rsplit_once('.').map_or("", |(_, e)| e)
}

/// Waits for `transfer_done` of `transfer` (panics with the reason on `transfer_failed`).
fn wait_done(t: &mut Headless, transfer: &str) -> Value {
    let e = t.wait_event_for(
        |e| {
            (e["event"] == "transfer_done" || e["event"] == "transfer_failed")
                && e["transfer"] == transfer
        },
        LONG,
    );
    assert_eq!(e["event"], "transfer_done", "{e}");
    e
}

/// Asks for message `id`'s file, waits until it is fetched, and returns the transfer's id.
fn download(t: &mut Headless, id: &Value) -> String {
    let r = ok(t, json!({"cmd": "download_attachment", "message": id}));
    let transfer = r["transfer"].as_str().expect("transfer").to_owned();
    wait_done(t, &transfer);
    transfer
}

/// Waits for the update saying message `id`'s file is now downloaded, and returns it.
fn wait_downloaded(t: &mut Headless, id: &Value) -> Value {
    t.wait_event_for(
        |e| {
            e["event"] == "message_updated"
                && e["id"] == *id
                && e["attachment"]["downloaded"] == true
        },
        LONG,
    )
}

/// Saves message `id`'s file as `out` and checks it holds `data`.
fn assert_saved(t: &mut Headless, id: &Value, out: &std::path::Path, data: &[u8]) {
    ok(
        t,
        json!({"cmd": "save_attachment", "message": id, "path": out}),
    );
    assert!(std::fs::read(out).expect("saved") == data, "other bytes");
}

/// Checks that no transfer was started without being asked for.
fn assert_no_transfer_started(t: &Headless) {
    assert!(
        !t.events.iter().any(|e| e["event"]
            .as_str()
            .is_some_and(|k| k.starts_with("transfer_"))),
        "a transfer started without being asked"
    );
}

#[test]
fn a_file_sent_over_omemo_reaches_the_python_peer_with_the_same_bytes_and_no_name_or_key_leaks() {
    let bed = bed();
    let (a, apw) = bed.new_account("fsend");
    let (b, bpw) = bed.new_account("fsendpeer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = omemo_peer(bed, &b, &bpw);
    let data = file_bytes(300_000);
    let secret_name = format!("minutes-{}.PDF", random_hex(6));
    let path = dir.path().join(&secret_name);
    std::fs::write(&path, &data).expect("write file");

    let r = ok(
        &mut talpa,
        json!({"cmd": "send_file", "account": a, "to": b, "path": path}),
    );
    let transfer = r["transfer"].as_str().expect("transfer id").to_owned();
    let done = wait_done(&mut talpa, &transfer);
    assert!(
        talpa
            .events
            .iter()
            .any(|e| e["event"] == "transfer_progress" && e["transfer"] == transfer.as_str()),
        "no progress was reported"
    );
    let id = done["message"].as_i64().expect("message id");
    let mine = talpa.wait_event_for(|e| e["event"] == "message" && e["id"] == id, LONG);
    assert_eq!(mine["attachment"]["name"], secret_name.as_str(), "{mine}");
    assert_eq!(mine["attachment"]["downloaded"], true, "{mine}");
    assert_eq!(mine["attachment"]["size"], data.len());
    let link = mine["body"].as_str().expect("body").to_owned();
    assert!(link.starts_with("aesgcm://"), "{link}");
    let (location, key) = link.split_once('#').expect("key fragment");
    assert_eq!(key.len(), 88);
    assert!(
        extension(location) == "pdf" && !location.contains("minutes"),
        "the server must learn a random name with only the extension: {location}"
    );

    // The peer gets the link over OMEMO, fetches and decrypts it: the same bytes.
    let got = peer.wait_message(&link, LONG);
    assert!(got["encrypted"].is_string(), "{got}");
    peer.send_cmd(&json!({"cmd": "fetch_file", "url": link, "id": "fetch"}));
    let fetched = peer.wait_event(|e| e["event"] == "ack" && e["id"] == "fetch", LONG);
    let bytes = B64
        .decode(fetched["data_b64"].as_str().expect("data"))
        .expect("base64");
    assert!(bytes == data, "the peer decrypted other bytes");

    // The key never crossed the server in clear.
    let log = bed.stanza_log_text();
    assert!(
        log.contains(&b),
        "the stanza log shows nothing of this test"
    );
    assert!(!log.contains(key), "Prosody saw the file's key in clear");
    assert!(!log.contains(&secret_name), "Prosody saw the file name");

    // The sender keeps the file with the message and can save it again.
    let out = dir.path().join("saved.bin");
    assert_saved(&mut talpa, &json!(id), &out, &data);
}

#[test]
fn a_file_from_the_python_peer_is_fetched_only_on_request_kept_encrypted_and_erased_by_retention() {
    let bed = bed();
    let (a, apw) = bed.new_account("frecv");
    let (b, bpw) = bed.new_account("frecvpeer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = omemo_peer(bed, &b, &bpw);
    let data = file_bytes(150_000);
    peer.send_cmd(
        &json!({"cmd": "share_file", "to": a, "encrypt": "twomemo", "id": "share",
                          "filename": "holiday.jpg", "data_b64": B64.encode(&data)}),
    );
    let shared = peer.wait_event(|e| e["event"] == "ack" && e["id"] == "share", LONG);
    let link = shared["url"].as_str().expect("url").to_owned();

    let m = talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == link.as_str(),
        LONG,
    );
    assert_eq!(m["encryption"], "omemo2", "{m}");
    assert_eq!(m["attachment"]["encrypted"], true, "{m}");
    assert_eq!(m["attachment"]["downloaded"], false, "{m}");
    assert!(
        m["attachment"]["name"]
            .as_str()
            .is_some_and(|n| extension(n) == "jpg"),
        "{m}"
    );
    let id = m["id"].as_i64().expect("id");
    // Not fetched by itself: nothing to save yet.
    let (r, _) = talpa.call(json!({"cmd": "save_attachment", "message": id,
                                   "path": dir.path().join("early.jpg")}));
    assert_eq!(error_kind(&r), "invalid_input", "{r}");
    assert_no_transfer_started(&talpa);

    download(&mut talpa, &json!(id));
    let updated = wait_downloaded(&mut talpa, &json!(id));
    assert_eq!(updated["attachment"]["size"], data.len());
    assert_eq!(updated["attachment"]["mime"], "image/jpeg");
    let out = dir.path().join("holiday.jpg");
    assert_saved(&mut talpa, &json!(id), &out, &data);
    // Asking again downloads nothing more.
    let r = ok(
        &mut talpa,
        json!({"cmd": "download_attachment", "message": id}),
    );
    assert!(r.get("transfer").is_none(), "{r}");

    // "Don't store" erases the conversation's messages now, and the file with them.
    ok(
        &mut talpa,
        json!({"cmd": "set_retention", "account": a, "with": b, "policy": "dont_store"}),
    );
    let (r, _) = talpa.call(json!({"cmd": "save_attachment", "message": id,
                                   "path": dir.path().join("after.jpg")}));
    assert_eq!(error_kind(&r), "not_found", "{r}");
}

#[test]
fn a_tampered_download_or_a_too_big_file_gives_a_clear_error_and_loses_nothing() {
    let bed = bed();
    let (alice, apw) = bed.new_account("fbad");
    let (bob, bpw) = bed.new_account("fbadpeer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &alice, &apw);
    let mut peer = omemo_peer(bed, &bob, &bpw);

    // A link whose file does not decrypt under its key (bytes uploaded in clear).
    peer.send_cmd(&json!({"cmd": "upload", "id": "up", "text": "not what the key sealed"}));
    let up = peer.wait_event(|e| e["event"] == "ack" && e["id"] == "up", LONG);
    let get = up["get_url"].as_str().expect("get url");
    let link = format!(
        "aesgcm://{}#{}",
        get.split_once("://").expect("url").1,
        "ab".repeat(44)
    );
    peer.send_cmd(&json!({"cmd": "send", "to": alice, "body": link, "encrypt": "twomemo"}));
    let m = talpa.wait_event_for(
        |e| e["event"] == "message" && e["body"] == link.as_str(),
        LONG,
    );
    let id = m["id"].as_i64().expect("id");
    let r = ok(
        &mut talpa,
        json!({"cmd": "download_attachment", "message": id}),
    );
    let transfer = r["transfer"].as_str().expect("transfer").to_owned();
    let failed = talpa.wait_event_for(
        |e| e["event"] == "transfer_failed" && e["transfer"] == transfer.as_str(),
        LONG,
    );
    assert_eq!(failed["kind"], "transfer", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|t| t.contains("decrypt")),
        "{failed}"
    );
    let (h, _) = talpa.call(json!({"cmd": "history", "account": alice, "with": bob}));
    let kept = h["messages"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["id"] == id).cloned())
        .expect("the message is still there");
    assert_eq!(kept["attachment"]["downloaded"], false, "{kept}");

    // A file over the server's limit (16 MiB in the bed) is refused before anything is read
    // or uploaded; a missing file and a directory are clear input errors.
    let big = dir.path().join("big.bin");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(17 * 1024 * 1024))
        .expect("sparse file");
    let (r, _) = talpa.call(json!({"cmd": "send_file", "account": alice, "to": bob, "path": big}));
    assert_eq!(error_kind(&r), "transfer", "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|t| t.contains("too big")),
        "{r}"
    );
    for path in [dir.path().join("missing.bin"), dir.path().to_path_buf()] {
        let (r, _) =
            talpa.call(json!({"cmd": "send_file", "account": alice, "to": bob, "path": path}));
        assert_eq!(error_kind(&r), "invalid_input", "{r}");
    }
    // A message that shares no file cannot be downloaded.
    let (r, _) = talpa.call(json!({"cmd": "download_attachment", "message": id + 1000}));
    assert_eq!(error_kind(&r), "not_found", "{r}");
}

#[test]
fn in_a_plaintext_conversation_the_url_goes_in_the_body_and_as_out_of_band_data() {
    let bed = bed();
    let (a, apw) = bed.new_account("fplain");
    let (b, bpw) = bed.new_account("fplainpeer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = support::Peer::spawn(bed, &b, &bpw);
    peer.send_cmd(&json!({"cmd": "raw_events", "on": true}));
    ok(
        &mut talpa,
        json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}),
    );
    let data = file_bytes(20_000);
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, &data).expect("write");
    let r = ok(
        &mut talpa,
        json!({"cmd": "send_file", "account": a, "to": b, "path": path}),
    );
    wait_done(&mut talpa, r["transfer"].as_str().expect("transfer"));
    let stanza = peer.wait_event(
        |e| {
            e["event"] == "stanza"
                && e["xml"]
                    .as_str()
                    .is_some_and(|x| x.contains("jabber:x:oob"))
        },
        LONG,
    );
    let xml = stanza["xml"].as_str().unwrap_or_default();
    let url = xml
        .split("<url>")
        .nth(1)
        .and_then(|s| s.split("</url>").next())
        .expect("oob url")
        .replace("&amp;", "&");
    assert!(
        url.starts_with("http://") && extension(&url) == "txt",
        "{url}"
    );
    assert!(xml.contains(&format!("<body>{url}</body>")), "{xml}");
    peer.send_cmd(&json!({"cmd": "fetch_file", "url": url, "oob": url, "id": "f"}));
    let fetched = peer.wait_event(|e| e["event"] == "ack" && e["id"] == "f", LONG);
    let bytes = B64
        .decode(fetched["data_b64"].as_str().expect("data"))
        .expect("base64");
    assert!(bytes == data, "other bytes");
}

/// A plaintext chat message sharing `url` the way Conversations, Dino, Gajim and Monal do
/// without OMEMO: the URL as the body and as XEP-0066 out-of-band data (`oobs` of them).
fn link_stanza(to: &str, kind: &str, body: &str, oobs: &[&str]) -> String {
    let oob = oobs.iter().fold(String::new(), |mut all, u| {
        all.push_str("<x xmlns='jabber:x:oob'><url>");
        all.push_str(u);
        all.push_str("</url></x>");
        all
    });
    format!(
        "<message xmlns='jabber:client' to='{to}' type='{kind}' id='{}'>\
         <body>{body}</body>{oob}</message>",
        random_hex(8)
    )
}

/// Waits for the `message` event whose body is `body`.
/// Has `peer` upload `data` as `filename` to the bed's upload service and share it with `to`
/// as a plaintext link (body and out-of-band data alike), as Dino or Conversations do without
/// OMEMO; returns the link.
///
/// The bed's upload service answers with plain http on 127.0.0.1; a real one gives https.
/// Talpa fetches an https link of the account's own server override over plain http (the
/// same rule as for aesgcm links), so the link is the https one.
fn share_plaintext_link(
    peer: &mut support::Peer,
    to: &str,
    filename: &str,
    data: &[u8],
    content_type: Option<&str>,
) -> String {
    let mut upload = json!({"cmd": "upload", "id": "up", "filename": filename,
                            "data_b64": B64.encode(data)});
    if let Some(content_type) = content_type {
        upload["content_type"] = json!(content_type);
    }
    peer.send_cmd(&upload);
    let up = peer.wait_event(|e| e["event"] == "ack" && e["id"] == "up", LONG);
    let rest = up["get_url"]
        .as_str()
        .and_then(|u| u.strip_prefix("http://"))
        .expect("http get url");
    let link = format!("https://{rest}");
    peer.send_cmd(&json!({"cmd": "raw", "xml": link_stanza(to, "chat", &link, &[&link])}));
    link
}

fn message_with_body(t: &mut Headless, body: &str) -> Value {
    t.wait_event_for(|e| e["event"] == "message" && e["body"] == body, LONG)
}

#[test]
fn a_plaintext_link_with_out_of_band_data_is_an_attachment_fetched_through_tor_only_on_request() {
    let bed = bed();
    let (a, apw) = bed.new_account("foob");
    let (b, bpw) = bed.new_account("foobpeer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    // A contact without OMEMO.
    let mut peer = support::Peer::spawn(bed, &b, &bpw);
    let data = file_bytes(120_000);
    let link = share_plaintext_link(&mut peer, &a, "field-notes.txt", &data, Some("text/plain"));
    let rest = link.strip_prefix("https://").expect("https link");

    let got = message_with_body(&mut talpa, &link);
    assert_eq!(got["encryption"], "none", "{got}");
    assert_eq!(got["attachment"]["name"], "field-notes.txt", "{got}");
    assert_eq!(got["attachment"]["encrypted"], false, "{got}");
    assert_eq!(got["attachment"]["downloaded"], false, "{got}");
    let id = got["id"].as_i64().expect("id");

    // Hostile or unclear variants stay text, and none of them can be downloaded.
    let long = format!("https://{rest}/{}", "a".repeat(3000));
    let differs = format!("{link}?differs");
    let twice = format!("{link}?twice");
    let prefixed = format!("see {link}");
    let plain_http = format!("http://{rest}");
    let hostile: Vec<(String, Vec<String>)> = vec![
        (
            "javascript:alert(1)".into(),
            vec!["javascript:alert(1)".into()],
        ),
        (
            "file:///etc/passwd".into(),
            vec!["file:///etc/passwd".into()],
        ),
        (
            "data:text/plain;base64,aGk=".into(),
            vec!["data:text/plain;base64,aGk=".into()],
        ),
        (long.clone(), vec![long.clone()]),
        (differs.clone(), vec![link.clone()]),
        (twice.clone(), vec![twice.clone(), twice.clone()]),
        (prefixed.clone(), vec![link.clone()]),
        (plain_http.clone(), vec![plain_http.clone()]),
        (format!("{link}?no-oob"), vec![]),
    ];
    for (body, oobs) in &hostile {
        let oobs: Vec<&str> = oobs.iter().map(String::as_str).collect();
        peer.send_cmd(&json!({"cmd": "raw", "xml": link_stanza(&a, "chat", body, &oobs)}));
        let got = message_with_body(&mut talpa, body);
        assert!(
            got.get("attachment").is_none(),
            "{body} became a file: {got}"
        );
        let (r, _) = talpa.call(json!({"cmd": "download_attachment", "message": got["id"]}));
        assert_eq!(error_kind(&r), "invalid_input", "{r}");
    }
    assert_no_transfer_started(&talpa);

    // On request: fetched through Tor, kept in the store, saved as the same bytes.
    download(&mut talpa, &json!(id));
    let updated = wait_downloaded(&mut talpa, &json!(id));
    assert_eq!(updated["attachment"]["size"], data.len(), "{updated}");
    assert_eq!(updated["attachment"]["mime"], "text/plain", "{updated}");
    let out = dir.path().join("notes.txt");
    assert_saved(&mut talpa, &json!(id), &out, &data);
    // The history says the same after the fact.
    let (hist, _) = talpa.call(json!({"cmd": "history", "account": a, "with": b}));
    let kept = hist["messages"]
        .as_array()
        .and_then(|ms| ms.iter().find(|k| k["id"] == id).cloned())
        .expect("the message");
    assert_eq!(kept["attachment"]["downloaded"], true, "{kept}");

    // Caught up from the archive: the same.
    ok(
        &mut talpa,
        json!({"cmd": "set_account_enabled", "account": a, "enabled": false}),
    );
    let archived = format!("{link}?archived");
    peer.send_cmd(&json!({"cmd": "raw", "xml": link_stanza(&a, "chat", &archived, &[&archived])}));
    std::thread::sleep(Duration::from_secs(2));
    ok(
        &mut talpa,
        json!({"cmd": "set_account_enabled", "account": a, "enabled": true}),
    );
    let got = message_with_body(&mut talpa, &archived);
    assert_eq!(got["attachment"]["downloaded"], false, "{got}");
    assert_eq!(got["attachment"]["encrypted"], false, "{got}");

    // A carbon of what the account sent from another device: the same.
    let mut other_device = support::Peer::spawn(bed, &a, &apw);
    let carbon = format!("{link}?carbon");
    other_device
        .send_cmd(&json!({"cmd": "raw", "xml": link_stanza(&b, "chat", &carbon, &[&carbon])}));
    let got = message_with_body(&mut talpa, &carbon);
    assert_eq!(got["direction"], "out", "{got}");
    assert_eq!(got["attachment"]["name"], "field-notes.txt", "{got}");

    // In a room, from a member without OMEMO: the same.
    let room = bed.new_room("foobroom");
    support::headless::room_with(&mut talpa, &a, &room, &mut [(&mut peer, &b, "badger")]);
    let in_room = format!("{link}?room");
    peer.send_cmd(
        &json!({"cmd": "raw", "xml": link_stanza(&room, "groupchat", &in_room, &[&in_room])}),
    );
    let got = message_with_body(&mut talpa, &in_room);
    assert_eq!(got["attachment"]["name"], "field-notes.txt", "{got}");
    assert_eq!(got["attachment"]["downloaded"], false, "{got}");
    download(&mut talpa, &got["id"]);
    assert_saved(&mut talpa, &got["id"], &dir.path().join("room.txt"), &data);
    let hostile_in_room = format!("{link}?room-differs");
    peer.send_cmd(&json!({"cmd": "raw",
        "xml": link_stanza(&room, "groupchat", &hostile_in_room, &[&in_room])}));
    let got = message_with_body(&mut talpa, &hostile_in_room);
    assert!(got.get("attachment").is_none(), "{got}");
}

/// The `transfer_progress` events of `transfer` seen so far, as `(done, total)`.
fn progress_of(t: &Headless, transfer: &str) -> Vec<(u64, u64)> {
    t.events
        .iter()
        .filter(|e| e["event"] == "transfer_progress" && e["transfer"] == transfer)
        .map(|e| {
            (
                e["done"].as_u64().expect("done"),
                e["total"].as_u64().expect("total"),
            )
        })
        .collect()
}

/// Progress that only grows, ends at `size` of `size`, and is told a bounded number of times
/// (every 5 % at most, plus the first and the last report).
fn assert_progress(progress: &[(u64, u64)], size: usize) {
    let size = size as u64;
    assert!(progress.len() >= 2, "too few reports: {progress:?}");
    assert!(progress.len() <= 22, "too many reports: {progress:?}");
    assert!(
        progress.windows(2).all(|w| w[0].0 < w[1].0),
        "not increasing: {progress:?}"
    );
    assert_eq!(progress.last(), Some(&(size, size)), "{progress:?}");
}

#[test]
fn a_download_and_an_upload_of_a_few_mb_through_tor_report_increasing_progress_to_the_end() {
    let bed = bed();
    let (a, apw) = bed.new_account("fprog");
    let (b, bpw) = bed.new_account("fprogpeer");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talpa = talpa_online(bed, &dir.path().join("p"), &a, &apw);
    let mut peer = support::Peer::spawn(bed, &b, &bpw);
    let data = file_bytes(3 * 1024 * 1024);

    // Download: a plaintext link from the peer.
    let link = share_plaintext_link(&mut peer, &a, "big.bin", &data, None);
    let got = message_with_body(&mut talpa, &link);
    let transfer = download(&mut talpa, &got["id"]);
    assert_progress(&progress_of(&talpa, &transfer), data.len());
    let out = dir.path().join("big.bin");
    assert_saved(&mut talpa, &got["id"], &out, &data);

    // Upload: the same file back, in plaintext (the peer has no OMEMO).
    ok(
        &mut talpa,
        json!({"cmd": "set_encryption", "account": a, "conversation": b, "enabled": false}),
    );
    let r = ok(
        &mut talpa,
        json!({"cmd": "send_file", "account": a, "to": b, "path": out}),
    );
    let transfer = r["transfer"].as_str().expect("transfer").to_owned();
    wait_done(&mut talpa, &transfer);
    assert_progress(&progress_of(&talpa, &transfer), data.len());
}
