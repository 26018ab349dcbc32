//! Retention: per-account default, per-conversation override, immediate expiry when a
//! policy shortens, "don't store" writes nothing, clear_history.

mod store_util;

use chrono::Duration;
use store_util::{add_account, chat, new_profile, t0};
use talpa::store::{
    ConversationId, Direction, HistoryScope, InsertOutcome, NewAttachment, NewMessage,
    RetentionPolicy, Store,
};

fn msg(conv: ConversationId, body: &str, at: chrono::DateTime<chrono::Utc>) -> NewMessage {
    NewMessage::new(
        conv,
        Direction::Incoming,
        "bob@talpa.test",
        Some(body.to_owned()),
        at,
    )
}

fn count(store: &Store, conv: ConversationId) -> usize {
    store.history(conv, None, 1000).expect("history").len()
}

fn stored(o: InsertOutcome) {
    assert!(
        matches!(o, InsertOutcome::Stored(_)),
        "expected a row, got {o:?}"
    );
}

#[test]
fn policies_parse_from_short_and_long_forms_and_round_trip_through_serde() {
    for (s, p) in [
        ("1w", RetentionPolicy::OneWeek),
        ("dont_store", RetentionPolicy::DontStore),
        ("forever", RetentionPolicy::Forever),
        ("1h", RetentionPolicy::OneHour),
        ("one-day", RetentionPolicy::OneDay),
        ("1M", RetentionPolicy::OneMonth),
        ("1y", RetentionPolicy::OneYear),
    ] {
        assert_eq!(s.parse::<RetentionPolicy>().expect("parse"), p);
    }
    assert!("2 weeks".parse::<RetentionPolicy>().is_err());
    assert_eq!(RetentionPolicy::default(), RetentionPolicy::OneWeek);
    for p in RetentionPolicy::ALL {
        let json = serde_json::to_string(&p).expect("ser");
        assert_eq!(json, format!("\"{}\"", p.as_str()));
        assert_eq!(
            serde_json::from_str::<RetentionPolicy>(&json).expect("de"),
            p
        );
    }
}

#[test]
fn account_default_applies_and_conversation_override_wins() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    store
        .set_account_retention(acct, RetentionPolicy::OneDay, t0())
        .expect("account policy");
    let by_default = chat(&mut store, acct, "default@talpa.test");
    let kept = chat(&mut store, acct, "forever@talpa.test");
    let short = chat(&mut store, acct, "short@talpa.test");
    store
        .set_conversation_retention(kept, Some(RetentionPolicy::Forever), t0())
        .expect("override");
    store
        .set_conversation_retention(short, Some(RetentionPolicy::OneHour), t0())
        .expect("override");
    assert_eq!(
        store.effective_retention(by_default).expect("eff"),
        RetentionPolicy::OneDay
    );
    for c in [by_default, kept, short] {
        stored(
            store
                .insert_message(&msg(c, "hello", t0()), t0())
                .expect("insert"),
        );
    }

    assert_eq!(
        store.expire(t0() + Duration::minutes(30)).expect("expire"),
        0
    );
    assert_eq!(store.expire(t0() + Duration::hours(2)).expect("expire"), 1);
    assert_eq!(count(&store, short), 0);
    assert_eq!(count(&store, by_default), 1);

    assert_eq!(store.expire(t0() + Duration::hours(25)).expect("expire"), 1);
    assert_eq!(count(&store, by_default), 0);
    assert_eq!(count(&store, kept), 1);
    assert_eq!(
        store.expire(t0() + Duration::days(3650)).expect("expire"),
        0
    );
    assert_eq!(count(&store, kept), 1);
}

#[test]
fn shortening_a_policy_expires_at_once() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "b@talpa.test");
    let other = chat(&mut store, acct, "c@talpa.test");
    stored(
        store
            .insert_message(&msg(c, "old", t0()), t0())
            .expect("insert"),
    );
    stored(
        store
            .insert_message(&msg(other, "old", t0()), t0())
            .expect("insert"),
    );
    let later = t0() + Duration::hours(2);
    stored(
        store
            .insert_message(&msg(c, "new", later), later)
            .expect("insert"),
    );

    let removed = store
        .set_conversation_retention(c, Some(RetentionPolicy::OneHour), later)
        .expect("shorten");
    assert_eq!(removed, 1);
    let left = store.history(c, None, 10).expect("history");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body.as_deref(), Some("new"));
    assert_eq!(count(&store, other), 1, "other conversation untouched");

    let removed = store
        .set_account_retention(acct, RetentionPolicy::OneHour, later)
        .expect("shorten account");
    assert_eq!(
        removed, 1,
        "the other conversation follows the account default"
    );
    assert_eq!(count(&store, other), 0);
}

#[test]
fn dont_store_writes_no_message_row_and_clears_existing_ones() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "b@talpa.test");
    stored(
        store
            .insert_message(&msg(c, "before", t0()), t0())
            .expect("insert"),
    );
    let removed = store
        .set_conversation_retention(c, Some(RetentionPolicy::DontStore), t0())
        .expect("dont store");
    assert_eq!(removed, 1);
    let mut m = msg(c, "ephemeral", t0());
    m.origin_id = Some("o1".to_owned());
    m.attachments.push(NewAttachment {
        name: "a.bin".to_owned(),
        mime: "application/octet-stream".to_owned(),
        data: vec![7; 100],
    });
    assert_eq!(
        store.insert_message(&m, t0()).expect("insert"),
        InsertOutcome::NotStored
    );
    assert_eq!(
        store.insert_messages(&[m.clone()], t0()).expect("insert"),
        vec![InsertOutcome::NotStored]
    );
    assert_eq!(count(&store, c), 0);
    assert_eq!(store.find_by_origin_id(c, "o1").expect("find"), None);
    assert_eq!(
        store.clear_history(HistoryScope::All).expect("clear"),
        0,
        "no rows exist"
    );
}

#[test]
fn message_older_than_its_retention_is_not_stored() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "b@talpa.test");
    let mut m = msg(c, "from the archive", t0());
    m.server_ts = Some(t0() - Duration::days(30));
    assert_eq!(
        store.insert_message(&m, t0()).expect("insert"),
        InsertOutcome::NotStored
    );
}

#[test]
fn server_timestamp_in_the_future_does_not_extend_retention() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "b@talpa.test");
    let mut m = msg(c, "hi", t0());
    m.server_ts = Some(t0() + Duration::days(365));
    stored(store.insert_message(&m, t0()).expect("insert"));
    assert_eq!(store.expire(t0() + Duration::days(8)).expect("expire"), 1);
}

#[test]
fn expiry_removes_attachments_and_corrections_with_the_message() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "b@talpa.test");
    let mut m = msg(c, "with file", t0());
    m.origin_id = Some("orig".to_owned());
    m.attachments.push(NewAttachment {
        name: "f.txt".to_owned(),
        mime: "text/plain".to_owned(),
        data: b"file".to_vec(),
    });
    let InsertOutcome::Stored(id) = store.insert_message(&m, t0()).expect("insert") else {
        panic!("not stored")
    };
    let att = store.history(c, None, 1).expect("history")[0].attachments[0].id;
    let mut fix = msg(c, "with file (fixed)", t0() + Duration::minutes(1));
    fix.origin_id = Some("fix".to_owned());
    let InsertOutcome::Stored(fix_id) = store.apply_correction(id, &fix, t0()).expect("correct")
    else {
        panic!("correction not stored")
    };
    assert_eq!(store.expire(t0() + Duration::days(8)).expect("expire"), 1);
    assert_eq!(store.message(id).expect("get"), None);
    assert_eq!(
        store.message(fix_id).expect("get"),
        None,
        "correction row cascaded"
    );
    assert_eq!(
        store.attachment_data(att).expect("get"),
        None,
        "attachment cascaded"
    );
}

#[test]
fn clear_history_by_conversation_account_and_all() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let b = add_account(&mut store, "b@talpa.test");
    let a1 = chat(&mut store, a, "x@talpa.test");
    let a2 = chat(&mut store, a, "y@talpa.test");
    let b1 = chat(&mut store, b, "x@talpa.test");
    for c in [a1, a1, a2, b1] {
        stored(
            store
                .insert_message(&msg(c, "m", t0()), t0())
                .expect("insert"),
        );
    }
    assert_eq!(
        store
            .clear_history(HistoryScope::Conversation(a1))
            .expect("c"),
        2
    );
    assert_eq!(count(&store, a2), 1);
    assert_eq!(store.clear_history(HistoryScope::Account(a)).expect("c"), 1);
    assert_eq!(count(&store, b1), 1);
    assert_eq!(store.clear_history(HistoryScope::All).expect("c"), 1);
}

fn queued(store: &Store) -> Vec<String> {
    store
        .outbox_list(None)
        .expect("outbox")
        .into_iter()
        .map(|e| e.origin_id)
        .collect()
}

fn reopen(store: Store, dir: &std::path::Path) -> Store {
    store.lock().expect("lock");
    talpa::store::Profile::unlock(dir, &store_util::pass("pw"))
        .expect("unlock")
        .into_store()
}

#[test]
fn a_dont_store_conversations_outbox_lives_in_memory_only() {
    let (_tmp, dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let kept = chat(&mut store, acct, "b@talpa.test");
    let volatile = chat(&mut store, acct, "c@talpa.test");
    store
        .set_conversation_retention(volatile, Some(RetentionPolicy::DontStore), t0())
        .expect("dont store");
    store
        .outbox_enqueue(acct, kept, "o-kept", b"{\"body\":\"one\"}", t0())
        .expect("queue");
    let id = store
        .outbox_enqueue(acct, volatile, "o-volatile", b"{\"body\":\"two\"}", t0())
        .expect("queue");
    assert!(id.0 < 0, "volatile entries have their own id range");
    assert!(
        store
            .outbox_enqueue(acct, kept, "o-volatile", b"x", t0())
            .is_err(),
        "an origin-id is unique across both queues"
    );
    assert_eq!(queued(&store), ["o-kept", "o-volatile"]);
    store.expire(t0()).expect("expire");
    assert_eq!(queued(&store), ["o-kept", "o-volatile"], "queued now: kept");
    assert!(store.outbox_remove("o-volatile").expect("remove"));
    store
        .outbox_enqueue(
            acct,
            volatile,
            "o-volatile-2",
            b"{\"body\":\"three\"}",
            t0(),
        )
        .expect("queue");

    let store = reopen(store, &dir);
    assert_eq!(
        queued(&store),
        ["o-kept"],
        "the don't-store entry never reached the database file"
    );
}

#[test]
fn queued_stanzas_expire_with_their_conversations_retention() {
    let (_tmp, dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let hourly = chat(&mut store, acct, "b@talpa.test");
    let switched = chat(&mut store, acct, "c@talpa.test");
    store
        .set_conversation_retention(hourly, Some(RetentionPolicy::OneHour), t0())
        .expect("1h");
    let old = t0() - Duration::hours(2);
    store
        .outbox_enqueue(acct, hourly, "o-old", b"{}", old)
        .expect("queue");
    store
        .outbox_enqueue(acct, hourly, "o-new", b"{}", t0())
        .expect("queue");
    store
        .outbox_enqueue(acct, switched, "o-switched", b"{}", t0())
        .expect("queue");
    store.expire(t0()).expect("expire");
    assert_eq!(queued(&store), ["o-new", "o-switched"]);

    // Shortening a conversation to "don't store" moves its queued stanza off the disk.
    store
        .set_conversation_retention(switched, Some(RetentionPolicy::DontStore), t0())
        .expect("dont store");
    store.expire(t0()).expect("expire");
    let mut now_queued = queued(&store);
    now_queued.sort();
    assert_eq!(
        now_queued,
        ["o-new", "o-switched"],
        "still queued, in memory"
    );
    let store = reopen(store, &dir);
    assert_eq!(queued(&store), ["o-new"]);
}
