//! The typed data API: accounts, contacts, bookmarks, conversations, message dedupe,
//! history paging, corrections/retractions with author checks, outbox, settings, OMEMO.

mod store_util;

use chrono::Duration;
use serde_json::json;
use store_util::{add_account, chat, new_profile, t0};
use talpa::store::{
    Contact, ConversationKind, Direction, EncryptionChoice, InsertOutcome, MessageEncryption,
    NewMessage, OmemoIdentity, Retractor, RoomBookmark, RoomDestroyedNote, SignalOptIns,
    StoreError, TrustLevel, keys,
};

#[test]
fn accounts_are_added_listed_updated_and_removed_with_their_data() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    assert!(matches!(
        store.add_account(
            &talpa::store::NewAccount::new("a@talpa.test", "x".to_owned().into()),
            t0()
        ),
        Err(StoreError::Duplicate(_))
    ));
    let mut acct = store.account(a).expect("get").expect("exists");
    assert!(
        !format!("{acct:?}").contains("secret-password"),
        "Debug redacts the password"
    );
    acct.host = Some("127.0.0.1".to_owned());
    acct.port = Some(5222);
    acct.trust_anchor_pem = Some("-----BEGIN CERTIFICATE-----".to_owned());
    acct.enabled = false;
    acct.options = json!({"jitter": true});
    store.update_account(&acct).expect("update");
    store.set_sasl_plus_seen(a).expect("plus");
    let got = store.account(a).expect("get").expect("exists");
    assert_eq!(got.port, Some(5222));
    assert!(!got.enabled && got.sasl_plus_seen);
    assert_eq!(got.options, json!({"jitter": true}));

    let c = chat(&mut store, a, "b@talpa.test");
    store
        .insert_message(
            &NewMessage::new(
                c,
                Direction::Incoming,
                "b@talpa.test",
                Some("x".into()),
                t0(),
            ),
            t0(),
        )
        .expect("insert");
    store.omemo_set(a, "identity", b"k").expect("omemo");
    assert!(store.remove_account(a).expect("remove"));
    assert!(store.list_accounts().expect("list").is_empty());
    assert_eq!(
        store.conversation(c).expect("get"),
        None,
        "conversation cascaded"
    );
}

#[test]
fn contacts_and_bookmarks_upsert_and_remove() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let mut contact = Contact {
        jid: "b@talpa.test".into(),
        name: Some("Bee".into()),
        subscription: "both".into(),
        groups: vec!["friends".into()],
    };
    store.upsert_contact(a, &contact).expect("contact");
    contact.name = None;
    store.upsert_contact(a, &contact).expect("contact");
    assert_eq!(store.list_contacts(a).expect("list"), vec![contact]);
    assert!(store.remove_contact(a, "b@talpa.test").expect("rm"));

    let room = RoomBookmark {
        jid: "cell@rooms.talpa.test".into(),
        name: None,
        nick: Some("fox".into()),
        password: None,
        autojoin: true,
    };
    store.upsert_room(a, &room).expect("room");
    assert_eq!(store.list_rooms(a).expect("rooms"), vec![room.clone()]);
    // A room password is kept (zeroized in memory) and never shown by Debug.
    let locked = RoomBookmark {
        jid: "vault@rooms.talpa.test".into(),
        name: None,
        nick: Some("fox".into()),
        password: Some(zeroize::Zeroizing::new("room-secret-pw".into())),
        autojoin: true,
    };
    store.upsert_room(a, &locked).expect("room");
    let listed = store.list_rooms(a).expect("rooms");
    assert_eq!(listed, vec![room, locked]);
    assert_eq!(
        listed[1].password.as_ref().map(|p| p.as_str()),
        Some("room-secret-pw")
    );
    assert!(
        !format!("{listed:?}").contains("room-secret-pw"),
        "Debug shows a room password"
    );
    assert!(store.remove_room(a, "cell@rooms.talpa.test").expect("rm"));
    assert!(store.remove_room(a, "vault@rooms.talpa.test").expect("rm"));
    assert!(store.list_rooms(a).expect("rooms").is_empty());
}

#[test]
fn conversation_upsert_is_idempotent_and_keeps_settings() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let c = store
        .upsert_conversation(
            a,
            "cell@rooms.talpa.test",
            ConversationKind::GroupChat,
            t0(),
        )
        .expect("conv");
    store
        .set_conversation_encryption(c, EncryptionChoice::Omemo2)
        .expect("enc");
    let signals = SignalOptIns {
        chat_states: true,
        receipts: false,
        markers: true,
    };
    store.set_conversation_signals(c, signals).expect("signals");
    let again = store
        .upsert_conversation(a, "cell@rooms.talpa.test", ConversationKind::Chat, t0())
        .expect("conv");
    assert_eq!(again, c);
    let conv = store.conversation(c).expect("get").expect("exists");
    assert_eq!(conv.kind, ConversationKind::GroupChat);
    assert_eq!(conv.encryption, EncryptionChoice::Omemo2);
    assert_eq!(conv.signals, signals);
    assert_eq!(conv.retention, None);
    assert_eq!(store.list_conversations(a).expect("list").len(), 1);
}

#[test]
fn duplicate_origin_id_or_stanza_id_is_not_stored_twice() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, a, "b@talpa.test");
    let mut m = NewMessage::new(
        c,
        Direction::Incoming,
        "b@talpa.test",
        Some("hi".into()),
        t0(),
    );
    m.origin_id = Some("origin-1".into());
    m.stanza_id = Some("sid-1".into());
    m.stanza_id_by = Some("a@talpa.test".into());
    m.encryption = MessageEncryption::Omemo2;
    let InsertOutcome::Stored(id) = store.insert_message(&m, t0()).expect("insert") else {
        panic!("not stored")
    };
    // Same origin-id (e.g. carbon + MAM copy).
    let mut dup = m.clone();
    dup.stanza_id = None;
    assert_eq!(
        store.insert_message(&dup, t0()).expect("dup"),
        InsertOutcome::Duplicate(id)
    );
    // Same stanza-id from the same `by`, no origin-id.
    let mut dup = m.clone();
    dup.origin_id = None;
    assert_eq!(
        store.insert_message(&dup, t0()).expect("dup"),
        InsertOutcome::Duplicate(id)
    );
    // Same stanza-id but assigned by someone else: a different message.
    let mut other = m.clone();
    other.origin_id = None;
    other.stanza_id_by = Some("evil@talpa.test".into());
    assert!(matches!(
        store.insert_message(&other, t0()).expect("other"),
        InsertOutcome::Stored(_)
    ));
    assert_eq!(store.history(c, None, 10).expect("history").len(), 2);
    assert_eq!(
        store.find_by_origin_id(c, "origin-1").expect("find"),
        Some(id)
    );
    assert_eq!(
        store
            .find_by_stanza_id(c, "sid-1", "a@talpa.test")
            .expect("find"),
        Some(id)
    );
    assert_eq!(
        store.message(id).expect("get").expect("exists").encryption,
        MessageEncryption::Omemo2
    );
}

#[test]
fn history_pages_backwards_in_time_order_oldest_first() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, a, "b@talpa.test");
    // Inserted out of order (MAM catch-up after live messages): history sorts by time.
    let batch: Vec<_> = [5, 1, 4, 2, 3]
        .iter()
        .map(|i| {
            let at = t0() + Duration::minutes(*i);
            let mut m = NewMessage::new(c, Direction::Incoming, "b", Some(format!("m{i}")), at);
            m.server_ts = Some(at);
            m
        })
        .collect();
    let out = store.insert_messages(&batch, t0()).expect("batch");
    assert!(out.iter().all(|o| matches!(o, InsertOutcome::Stored(_))));
    let last = store.history(c, None, 2).expect("page");
    let bodies: Vec<_> = last.iter().filter_map(|m| m.body.clone()).collect();
    assert_eq!(bodies, vec!["m4", "m5"]);
    let older = store.history(c, Some(last[0].id), 10).expect("page");
    let bodies: Vec<_> = older.iter().filter_map(|m| m.body.clone()).collect();
    assert_eq!(bodies, vec!["m1", "m2", "m3"]);
}

#[test]
fn a_history_page_carries_each_message_s_own_attachments_only() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, a, "b@talpa.test");
    let other = chat(&mut store, a, "x@talpa.test");
    // Messages of two conversations interleaved; some of each carry attachments.
    for i in 1..=8i64 {
        for (conv, who) in [(c, "b"), (other, "x")] {
            let at = t0() + Duration::minutes(i);
            let mut m = NewMessage::new(
                conv,
                Direction::Incoming,
                who,
                Some(format!("{who}{i}")),
                at,
            );
            for n in 0..(i % 3) {
                m.attachments.push(talpa::store::NewAttachment {
                    name: format!("{who}{i}-{n}"),
                    mime: "text/plain".into(),
                    data: vec![0; usize::try_from(i + n).expect("small")],
                });
            }
            store.insert_message(&m, t0()).expect("insert");
        }
    }
    let names = |page: &[talpa::store::StoredMessage]| -> Vec<(String, Vec<(String, u64)>)> {
        page.iter()
            .map(|m| {
                (
                    m.body.clone().unwrap_or_default(),
                    m.attachments
                        .iter()
                        .map(|a| (a.name.clone(), a.size))
                        .collect(),
                )
            })
            .collect()
    };
    let expected = |range: std::ops::RangeInclusive<i64>| -> Vec<(String, Vec<(String, u64)>)> {
        range
            .map(|i| {
                (
                    format!("b{i}"),
                    (0..(i % 3))
                        .map(|n| (format!("b{i}-{n}"), u64::try_from(i + n).expect("small")))
                        .collect(),
                )
            })
            .collect()
    };
    let last = store.history(c, None, 3).expect("page");
    assert_eq!(names(&last), expected(6..=8));
    let older = store.history(c, Some(last[0].id), 10).expect("page");
    assert_eq!(names(&older), expected(1..=5));
}

#[test]
fn correction_replaces_text_and_only_the_sender_may_correct() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let c = store
        .upsert_conversation(
            a,
            "cell@rooms.talpa.test",
            ConversationKind::GroupChat,
            t0(),
        )
        .expect("conv");
    let mut m = NewMessage::new(
        c,
        Direction::Incoming,
        "cell@rooms.talpa.test/bob",
        Some("teh".into()),
        t0(),
    );
    m.occupant_id = Some("occ-bob".into());
    let InsertOutcome::Stored(id) = store.insert_message(&m, t0()).expect("insert") else {
        panic!("not stored")
    };
    let later = t0() + Duration::minutes(1);
    // Someone who took Bob's nick (different occupant-id) cannot correct him.
    let mut forged = NewMessage::new(
        c,
        Direction::Incoming,
        "cell@rooms.talpa.test/bob",
        Some("evil".into()),
        later,
    );
    forged.occupant_id = Some("occ-mallory".into());
    assert!(matches!(
        store.apply_correction(id, &forged, later),
        Err(StoreError::NotPermitted(_))
    ));
    let mut fix = forged.clone();
    fix.occupant_id = Some("occ-bob".into());
    fix.body = Some("the".into());
    fix.origin_id = Some("fix-1".into());
    let InsertOutcome::Stored(_) = store.apply_correction(id, &fix, later).expect("fix") else {
        panic!("correction not stored")
    };
    // A replayed correction is a duplicate and changes nothing.
    let mut replay = fix.clone();
    replay.body = Some("replayed".into());
    assert!(matches!(
        store.apply_correction(id, &replay, later).expect("replay"),
        InsertOutcome::Duplicate(_)
    ));
    let h = store.history(c, None, 10).expect("history");
    assert_eq!(h.len(), 1, "correction rows are folded into the original");
    assert_eq!(h[0].body.as_deref(), Some("the"));
    assert!(h[0].edited);
}

#[test]
fn retraction_erases_text_and_only_sender_or_moderator_may_retract() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, a, "b@talpa.test");
    let mut m = NewMessage::new(
        c,
        Direction::Incoming,
        "b@talpa.test",
        Some("oops".into()),
        t0(),
    );
    m.attachments.push(talpa::store::NewAttachment {
        name: "x".into(),
        mime: "text/plain".into(),
        data: b"data".to_vec(),
    });
    let InsertOutcome::Stored(id) = store.insert_message(&m, t0()).expect("insert") else {
        panic!("not stored")
    };
    let att = store.history(c, None, 1).expect("h")[0].attachments[0].id;
    assert!(matches!(
        store.apply_retraction(
            id,
            &Retractor::Sender {
                sender: "mallory@talpa.test".into(),
                occupant_id: None
            }
        ),
        Err(StoreError::NotPermitted(_))
    ));
    store
        .apply_retraction(
            id,
            &Retractor::Sender {
                sender: "b@talpa.test".into(),
                occupant_id: None,
            },
        )
        .expect("retract");
    let got = store.message(id).expect("get").expect("tombstone");
    assert!(got.retracted);
    assert_eq!(got.body, None);
    assert_eq!(store.attachment_data(att).expect("att"), None);
    let fix = NewMessage::new(
        c,
        Direction::Incoming,
        "b@talpa.test",
        Some("again".into()),
        t0(),
    );
    assert!(matches!(
        store.apply_correction(id, &fix, t0()),
        Err(StoreError::NotPermitted(_))
    ));
    store
        .apply_retraction(id, &Retractor::Moderator)
        .expect("moderator");
}

#[test]
fn outbox_keeps_entries_until_removed_and_rejects_duplicate_origin_ids() {
    let (_tmp, dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, a, "b@talpa.test");
    store
        .outbox_enqueue(a, c, "o2", b"<message/>", t0() + Duration::seconds(1))
        .expect("q");
    store
        .outbox_enqueue(a, c, "o1", b"<message/>", t0())
        .expect("q");
    assert!(matches!(
        store.outbox_enqueue(a, c, "o1", b"x", t0()),
        Err(StoreError::Duplicate(_))
    ));
    store.lock().expect("lock");
    let mut store = talpa::store::Profile::unlock(&dir, &store_util::pass("pw"))
        .expect("unlock")
        .into_store();
    let list = store.outbox_list(Some(a)).expect("list");
    let ids: Vec<_> = list.iter().map(|e| e.origin_id.as_str()).collect();
    assert_eq!(ids, vec!["o1", "o2"], "survives a restart, oldest first");
    assert!(store.outbox_remove("o1").expect("rm"));
    assert!(!store.outbox_remove("o1").expect("rm"));
    assert_eq!(store.outbox_list(None).expect("list").len(), 1);
}

#[test]
fn settings_and_omemo_state_round_trip() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    assert_eq!(store.setting(keys::TOR_BRIDGES).expect("get"), None);
    store
        .set_setting(keys::TOR_BRIDGES, Some("obfs4 1.2.3.4:443 X"))
        .expect("set");
    store
        .set_setting(keys::TOR_MODE, Some("embedded"))
        .expect("set");
    assert_eq!(
        store.setting(keys::TOR_BRIDGES).expect("get").as_deref(),
        Some("obfs4 1.2.3.4:443 X")
    );
    store.set_setting(keys::TOR_BRIDGES, None).expect("unset");
    assert_eq!(store.setting(keys::TOR_BRIDGES).expect("get"), None);

    store
        .omemo_set(a, "session:b@talpa.test:7", &[1, 2, 3])
        .expect("set");
    store
        .omemo_set(a, "session:b@talpa.test:7", &[4, 5])
        .expect("overwrite");
    assert_eq!(
        store
            .omemo_get(a, "session:b@talpa.test:7")
            .expect("get")
            .map(|v| v.to_vec()),
        Some(vec![4, 5])
    );
    assert!(store.omemo_remove(a, "session:b@talpa.test:7").expect("rm"));
    let mut id = OmemoIdentity {
        jid: "b@talpa.test".into(),
        device_id: 7,
        identity_key: vec![9; 32],
        trust: TrustLevel::BlindTrust,
    };
    store.omemo_set_identity(a, &id, t0()).expect("identity");
    id.trust = TrustLevel::Verified;
    store.omemo_set_identity(a, &id, t0()).expect("identity");
    assert_eq!(
        store.omemo_identities(a, "b@talpa.test").expect("list"),
        vec![id]
    );
}

#[test]
fn a_batch_commits_its_writes_together_and_a_retraction_in_it_empties_the_wal_after_commit() {
    let (_tmp, dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, a, "b@talpa.test");
    let msg = |body: &str, origin: &str| {
        let mut m = NewMessage::new(
            c,
            Direction::Incoming,
            "b@talpa.test",
            Some(body.into()),
            t0(),
        );
        m.origin_id = Some(origin.into());
        m
    };
    // A failed batch leaves nothing behind.
    let failed: Result<(), StoreError> = store.batch(|s| {
        s.insert_message(&msg("lost", "o0"), t0())?;
        Err(StoreError::Invalid("abort".into()))
    });
    assert!(failed.is_err());
    assert!(store.history(c, None, 10).expect("history").is_empty());

    let wal = dir.join("talpa.db-wal");
    store
        .batch(|s| {
            let InsertOutcome::Stored(id) = s.insert_message(&msg("first", "o1"), t0())? else {
                panic!("not stored")
            };
            s.insert_message(&msg("second", "o2"), t0())?;
            s.apply_retraction(
                id,
                &Retractor::Sender {
                    sender: "b@talpa.test".into(),
                    occupant_id: None,
                },
            )?;
            Ok::<_, StoreError>(())
        })
        .expect("batch");
    let h = store.history(c, None, 10).expect("history");
    assert_eq!(h.len(), 2);
    assert!(h[0].retracted && h[0].body.is_none());
    assert_eq!(h[1].body.as_deref(), Some("second"));
    assert_eq!(
        std::fs::metadata(&wal).expect("WAL while open").len(),
        0,
        "the retraction's checkpoint ran after the batch committed"
    );
}

#[test]
fn an_outgoing_message_stays_pending_until_its_encryption_is_recorded() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, a, "b@talpa.test");
    let mut m = NewMessage::new(
        c,
        Direction::Outgoing,
        "a@talpa.test",
        Some("queued".into()),
        t0(),
    );
    m.origin_id = Some("origin-pending".into());
    m.encryption = MessageEncryption::Pending;
    let InsertOutcome::Stored(id) = store.insert_message(&m, t0()).expect("insert") else {
        panic!("not stored")
    };
    let encryption =
        |store: &talpa::store::Store| store.message(id).expect("get").expect("exists").encryption;
    assert_eq!(encryption(&store), MessageEncryption::Pending);
    store
        .set_message_encryption(id, MessageEncryption::OmemoLegacy)
        .expect("set");
    assert_eq!(encryption(&store), MessageEncryption::OmemoLegacy);
}

#[test]
fn a_destroyed_rooms_note_survives_a_restart_goes_with_the_history_or_a_rejoin_and_its_words_expire()
 {
    let (_tmp, dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let room = "old@rooms.talpa.test";
    let c = store
        .upsert_conversation(a, room, ConversationKind::GroupChat, t0())
        .expect("room conversation");
    let note = RoomDestroyedNote {
        reason: Some("Moving to a new home".to_owned()),
        alternate: Some("new@rooms.talpa.test".to_owned()),
        nick: Some("mole".to_owned()),
    };
    assert!(
        store
            .set_room_destroyed(a, room, Some(&note), t0())
            .expect("set")
    );
    assert!(
        !store
            .set_room_destroyed(a, "never@rooms.talpa.test", Some(&note), t0())
            .expect("set"),
        "a note made a conversation"
    );
    store.lock().expect("lock");
    let mut store = talpa::store::Profile::unlock(&dir, &store_util::pass("pw"))
        .expect("unlock")
        .into_store();
    let listed = store.list_conversations(a).expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].destroyed.as_ref(), Some(&note));

    // Joined again: forgotten.
    assert!(
        store
            .set_room_destroyed(a, room, None, t0())
            .expect("clear")
    );
    assert_eq!(
        store.conversation(c).expect("get").expect("c").destroyed,
        None
    );

    // Cleared with the conversation's history, and with the account's.
    let bare = RoomDestroyedNote::default();
    store
        .set_room_destroyed(a, room, Some(&bare), t0())
        .expect("set");
    assert_eq!(
        store.conversation(c).expect("get").expect("c").destroyed,
        Some(bare.clone())
    );
    store
        .clear_history(talpa::store::HistoryScope::Conversation(c))
        .expect("clear");
    assert_eq!(
        store.conversation(c).expect("get").expect("c").destroyed,
        None
    );
    store
        .set_room_destroyed(a, room, Some(&note), t0())
        .expect("set");
    store
        .clear_history(talpa::store::HistoryScope::Account(a))
        .expect("clear");
    assert_eq!(
        store.conversation(c).expect("get").expect("c").destroyed,
        None
    );

    // The owner's words expire with the conversation's retention (here the account's week);
    // that the room is gone, and where it went, stays.
    store
        .set_room_destroyed(a, room, Some(&note), t0())
        .expect("set");
    store.expire(t0() + Duration::days(6)).expect("expire");
    assert_eq!(
        store.conversation(c).expect("get").expect("c").destroyed,
        Some(note.clone())
    );
    store.expire(t0() + Duration::days(8)).expect("expire");
    assert_eq!(
        store.conversation(c).expect("get").expect("c").destroyed,
        Some(RoomDestroyedNote {
            reason: None,
            ..note.clone()
        })
    );

    // Under "don't store" the owner's words are not written, only where the room went.
    store
        .set_conversation_retention(c, Some(talpa::store::RetentionPolicy::DontStore), t0())
        .expect("don't store");
    store
        .set_room_destroyed(a, room, Some(&note), t0())
        .expect("set");
    assert_eq!(
        store.conversation(c).expect("get").expect("c").destroyed,
        Some(RoomDestroyedNote {
            reason: None,
            ..note
        })
    );
}

#[test]
fn contact_names_are_kept_per_account_forgotten_on_request_and_encrypted_on_disk() {
    let (_tmp, dir, mut store) = new_profile("pw");
    add_account(&mut store, "a@talpa.test");
    add_account(&mut store, "b@talpa.test");
    store
        .set_contact_name("a@talpa.test", "bob@talpa.test", Some("Bobby Uniquename"))
        .expect("name");
    store
        .set_contact_name("a@talpa.test", "carol@talpa.test", Some("Carol"))
        .expect("name");
    store
        .set_contact_name(
            "b@talpa.test",
            "bob@talpa.test",
            Some("Other account's Bob"),
        )
        .expect("name");
    let names = store.contact_names("a@talpa.test").expect("names");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec![
            ("bob@talpa.test".to_owned(), "Bobby Uniquename".to_owned()),
            ("carol@talpa.test".to_owned(), "Carol".to_owned())
        ]
    );
    store
        .set_contact_name("a@talpa.test", "carol@talpa.test", None)
        .expect("forget");
    assert_eq!(store.contact_names("a@talpa.test").expect("names").len(), 1);
    assert_eq!(
        store.contact_names("b@talpa.test").expect("names")["bob@talpa.test"],
        "Other account's Bob"
    );
    assert!(
        store
            .contact_names("a@talpa.tes")
            .expect("names")
            .is_empty(),
        "another account's prefix is not this one's"
    );
    store.lock().expect("lock");
    for (file, bytes) in store_util::snapshot(&dir) {
        assert!(
            !store_util::contains(&bytes, b"Uniquename"),
            "the name is in {file} in plaintext"
        );
    }
    let mut store = talpa::store::Profile::unlock(&dir, &store_util::pass("pw"))
        .expect("unlock")
        .into_store();
    assert_eq!(
        store.contact_names("a@talpa.test").expect("names")["bob@talpa.test"],
        "Bobby Uniquename"
    );
    assert_eq!(
        store.forget_contact_names("a@talpa.test").expect("forget"),
        1
    );
    assert!(
        store
            .contact_names("a@talpa.test")
            .expect("names")
            .is_empty()
    );
    assert_eq!(store.contact_names("b@talpa.test").expect("names").len(), 1);
}
