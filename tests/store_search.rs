//! Local search in the stored history: case and Unicode, every word, newest first in pages,
//! current text only (corrections), nothing retracted, expired or never stored, and never
//! another account's messages.

mod store_util;

use chrono::{DateTime, Duration, Utc};
use store_util::{add_account, chat, new_profile, t0};
use talpa::store::{
    ConversationId, Direction, InsertOutcome, MessageId, NewMessage, RetentionPolicy, Retractor,
    SearchPage, SearchQuery, SearchQueryError, SearchScope, Store,
};

fn insert(store: &mut Store, conv: ConversationId, body: &str, at: DateTime<Utc>) -> MessageId {
    let m = NewMessage::new(
        conv,
        Direction::Incoming,
        "bob@talpa.test",
        Some(body.to_owned()),
        at,
    );
    match store.insert_message(&m, at).expect("insert") {
        InsertOutcome::Stored(id) => id,
        other => panic!("not stored: {other:?}"),
    }
}

fn search(store: &Store, scope: SearchScope, text: &str) -> SearchPage {
    store
        .search(
            scope,
            &SearchQuery::parse(text).expect("query"),
            None,
            50,
            t0(),
        )
        .expect("search")
}

fn ids(page: &SearchPage) -> Vec<MessageId> {
    page.hits.iter().map(|h| h.id).collect()
}

#[test]
fn search_ignores_case_and_accents_stay_significant_across_scripts() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    let ete = insert(&mut store, c, "Un bel ÉTÉ à Paris", t0());
    let privet = insert(&mut store, c, "Привет, Мир!", t0() + Duration::seconds(1));
    let _plain = insert(&mut store, c, "un bel ete", t0() + Duration::seconds(2));
    let scope = SearchScope::Account(acct);
    assert_eq!(ids(&search(&store, scope, "été")), vec![ete]);
    assert_eq!(ids(&search(&store, scope, "мир привет")), vec![privet]);
    assert!(search(&store, scope, "привет луна").hits.is_empty());
    let hit = &search(&store, scope, "paris").hits[0];
    assert_eq!(&hit.snippet[hit.matches[0].0..hit.matches[0].1], "Paris");
    assert_eq!(hit.conversation, c);
    assert_eq!(hit.sender, "bob@talpa.test");
}

#[test]
fn results_are_newest_first_in_pages_with_a_cursor() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    let d = chat(&mut store, acct, "carol@talpa.test");
    let mut all = Vec::new();
    for i in 0..7 {
        let conv = if i % 2 == 0 { c } else { d };
        all.push(insert(
            &mut store,
            conv,
            &format!("vole number {i}"),
            t0() - Duration::minutes(10 - i),
        ));
        insert(&mut store, conv, "shrew", t0() - Duration::minutes(10 - i));
    }
    all.reverse();
    let q = SearchQuery::parse("VOLE").expect("query");
    let first = store
        .search(SearchScope::Account(acct), &q, None, 3, t0())
        .expect("page 1");
    assert_eq!(ids(&first), all[..3]);
    assert!(first.more);
    let second = store
        .search(SearchScope::Account(acct), &q, Some(all[2]), 3, t0())
        .expect("page 2");
    assert_eq!(ids(&second), all[3..6]);
    assert!(second.more);
    let third = store
        .search(SearchScope::Account(acct), &q, Some(all[5]), 3, t0())
        .expect("page 3");
    assert_eq!(ids(&third), all[6..]);
    assert!(!third.more);
    let only_c = search(&store, SearchScope::Conversation(c), "vole");
    assert_eq!(only_c.hits.len(), 4);
    assert!(only_c.hits.iter().all(|h| h.conversation == c));
}

#[test]
fn a_search_in_one_account_never_returns_another_accounts_messages() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let a = add_account(&mut store, "a@talpa.test");
    let b = add_account(&mut store, "b@talpa.test");
    let ca = chat(&mut store, a, "bob@talpa.test");
    let cb = chat(&mut store, b, "bob@talpa.test");
    let in_a = insert(&mut store, ca, "the burrow plan", t0());
    let in_b = insert(&mut store, cb, "the burrow plan", t0());
    assert_eq!(
        ids(&search(&store, SearchScope::Account(a), "burrow")),
        vec![in_a]
    );
    assert_eq!(
        ids(&search(&store, SearchScope::Account(b), "burrow")),
        vec![in_b]
    );
    assert_eq!(
        ids(&search(&store, SearchScope::Conversation(cb), "burrow")),
        vec![in_b]
    );
}

#[test]
fn a_retracted_message_is_not_found() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    let id = insert(&mut store, c, "meet at the old oak", t0());
    assert_eq!(
        search(&store, SearchScope::Account(acct), "oak").hits.len(),
        1
    );
    store
        .apply_retraction(
            id,
            &Retractor::Sender {
                sender: "bob@talpa.test".into(),
                occupant_id: None,
            },
        )
        .expect("retract");
    assert!(
        search(&store, SearchScope::Account(acct), "oak")
            .hits
            .is_empty()
    );
}

#[test]
fn a_corrected_message_is_found_by_its_current_text_only() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    let id = insert(&mut store, c, "meet at the old oak", t0());
    let fix = NewMessage::new(
        c,
        Direction::Incoming,
        "bob@talpa.test",
        Some("meet at the old elm".into()),
        t0() + Duration::seconds(5),
    );
    store.apply_correction(id, &fix, t0()).expect("correct");
    let scope = SearchScope::Account(acct);
    assert!(search(&store, scope, "oak").hits.is_empty());
    let elm = search(&store, scope, "elm");
    assert_eq!(ids(&elm), vec![id], "found once, as the original message");
}

#[test]
fn an_expired_message_is_not_found_even_before_the_expiry_run() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    insert(&mut store, c, "stale news", t0() - Duration::days(6));
    insert(&mut store, c, "fresh news", t0());
    let q = SearchQuery::parse("news").expect("query");
    let scope = SearchScope::Account(acct);
    assert_eq!(
        store
            .search(scope, &q, None, 50, t0())
            .expect("s")
            .hits
            .len(),
        2
    );
    // Two days later the week-old message is past its retention, the expiry run or not.
    let later = t0() + Duration::days(2);
    let page = store.search(scope, &q, None, 50, later).expect("search");
    assert_eq!(page.hits.len(), 1);
    assert!(page.hits[0].snippet.contains("fresh"));
    store.expire(later).expect("expire");
    assert_eq!(
        store
            .search(scope, &q, None, 50, later)
            .expect("s")
            .hits
            .len(),
        1
    );
}

#[test]
fn a_dont_store_conversation_has_nothing_to_find() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    insert(&mut store, c, "kept secret", t0());
    store
        .set_conversation_retention(c, Some(RetentionPolicy::DontStore), t0())
        .expect("dont store");
    let m = NewMessage::new(
        c,
        Direction::Incoming,
        "bob@talpa.test",
        Some("another secret".into()),
        t0(),
    );
    assert_eq!(
        store.insert_message(&m, t0()).expect("insert"),
        InsertOutcome::NotStored
    );
    assert!(
        search(&store, SearchScope::Account(acct), "secret")
            .hits
            .is_empty()
    );
}

#[test]
fn empty_and_oversized_queries_are_refused_with_their_reason() {
    assert_eq!(SearchQuery::parse("   "), Err(SearchQueryError::Empty));
    assert!(matches!(
        SearchQuery::parse(&"x".repeat(talpa::store::search::MAX_QUERY_CHARS + 1)),
        Err(SearchQueryError::TooLong { .. })
    ));
}

#[test]
fn a_hostile_body_comes_back_verbatim_for_the_front_end_to_escape() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    insert(
        &mut store,
        c,
        "<b>bold</b> &amp; \u{202e}evil\u{0}\nnext",
        t0(),
    );
    let hit = &search(&store, SearchScope::Account(acct), "bold").hits[0];
    assert_eq!(hit.snippet, "<b>bold</b> &amp; \u{202e}evil\u{0} next");
    assert_eq!(&hit.snippet[hit.matches[0].0..hit.matches[0].1], "bold");
}

#[test]
fn wildcards_typed_are_literal_and_mixed_scripts_are_checked_exactly() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    let sure = insert(&mut store, c, "100% SURE about a_b", t0());
    insert(&mut store, c, "1000 sure about axb", t0());
    let cafe = insert(&mut store, c, "Le CAFÉ est fermé", t0());
    insert(&mut store, c, "le cafe est ferme", t0());
    let scope = SearchScope::Account(acct);
    assert_eq!(ids(&search(&store, scope, "100%")), vec![sure]);
    assert_eq!(ids(&search(&store, scope, "A_B")), vec![sure]);
    assert_eq!(ids(&search(&store, scope, "café FERMÉ")), vec![cafe]);
}

#[test]
fn a_common_word_pages_through_many_conversations_in_time_order() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let convs: Vec<ConversationId> = (0..3)
        .map(|i| chat(&mut store, acct, &format!("peer{i}@talpa.test")))
        .collect();
    let mut all = Vec::new();
    for i in 0..30 {
        let at = t0() - Duration::seconds(100 - i);
        all.push(insert(&mut store, convs[(i % 3) as usize], "the mole", at));
    }
    all.reverse();
    let q = SearchQuery::parse("mole").expect("query");
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .search(SearchScope::Account(acct), &q, before, 7, t0())
            .expect("page");
        seen.extend(ids(&page));
        before = page.hits.last().map(|h| h.id);
        if !page.more {
            break;
        }
    }
    assert_eq!(seen, all, "every hit once, newest first");
}

#[test]
fn unicode_case_folds_both_ways_with_turkish_and_greek_letters_sensibly() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    let arger = insert(&mut store, c, "so ein ärger heute", t0());
    let upper = insert(&mut store, c, "SO EIN ÄRGER", t0() + Duration::seconds(1));
    let istanbul = insert(&mut store, c, "İSTANBUL'da", t0() + Duration::seconds(2));
    let dotless = insert(&mut store, c, "ılık su, IŞIK", t0() + Duration::seconds(3));
    let odos = insert(&mut store, c, "ΟΔΟΣ και οδός", t0() + Duration::seconds(4));
    let kelvin = insert(&mut store, c, "300 \u{212a}", t0() + Duration::seconds(5));
    insert(
        &mut store,
        c,
        "arger istanbul without the letters",
        t0() - Duration::hours(1),
    );
    let scope = SearchScope::Account(acct);
    assert_eq!(ids(&search(&store, scope, "ÄRGER")), vec![upper, arger]);
    assert_eq!(ids(&search(&store, scope, "ärger")), vec![upper, arger]);
    // 'İ' is the capital of 'i': either spelling finds it.
    assert_eq!(ids(&search(&store, scope, "İstanbul'")), vec![istanbul]);
    assert_eq!(ids(&search(&store, scope, "istanbul'DA")), vec![istanbul]);
    // Dotless 'ı' is its own letter (its capital is the ASCII 'I', which folds to 'i').
    assert_eq!(ids(&search(&store, scope, "ılık")), vec![dotless]);
    assert!(search(&store, scope, "ilik").hits.is_empty());
    // Final sigma is a sigma; accents stay significant.
    assert_eq!(ids(&search(&store, scope, "οδοσ")), vec![odos]);
    assert_eq!(ids(&search(&store, scope, "όδος")), Vec::<MessageId>::new());
    assert_eq!(ids(&search(&store, scope, "300 k")), vec![kelvin]);
    let hit = &search(&store, scope, "οδος").hits[0];
    let found: Vec<&str> = hit
        .matches
        .iter()
        .map(|&(a, b)| &hit.snippet[a..b])
        .collect();
    assert_eq!(found, vec!["ΟΔΟΣ"]);
}

#[test]
fn a_non_ascii_query_pages_through_a_long_history_like_an_ascii_one() {
    let (_tmp, _dir, mut store) = new_profile("pw");
    let acct = add_account(&mut store, "a@talpa.test");
    let c = chat(&mut store, acct, "bob@talpa.test");
    let mut hits = Vec::new();
    for i in 0..300 {
        let body = if i % 30 == 0 {
            "ПРИВЕТ друг"
        } else {
            "hello friend"
        };
        let id = insert(&mut store, c, body, t0() + Duration::seconds(i));
        if i % 30 == 0 {
            hits.push(id);
        }
    }
    hits.reverse();
    let q = SearchQuery::parse("привет").expect("query");
    let first = store
        .search(
            SearchScope::Conversation(c),
            &q,
            None,
            4,
            t0() + Duration::days(1),
        )
        .expect("search");
    assert_eq!(ids(&first), hits[..4]);
    assert!(first.more);
    let rest = store
        .search(
            SearchScope::Conversation(c),
            &q,
            Some(hits[3]),
            50,
            t0() + Duration::days(1),
        )
        .expect("search");
    assert_eq!(ids(&rest), hits[4..]);
    assert!(!rest.more);
}
