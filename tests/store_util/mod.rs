//! Helpers shared by the store integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use talpa::store::{
    AccountId, ConversationId, ConversationKind, NewAccount, Passphrase, Profile, Store,
};
use zeroize::Zeroizing;

/// A fixed point in time the tests count from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

pub fn pass(s: &str) -> Passphrase {
    Passphrase::from(s)
}

/// Every file in `dir` with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("read profile dir") {
        let e = e.expect("dir entry");
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).expect("read file"),
        );
    }
    out
}

/// A fresh profile in a new temp dir (returned so it lives as long as the test).
pub fn new_profile(passphrase: &str) -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("profile");
    let store = Profile::create(&dir, &pass(passphrase)).expect("create profile");
    (tmp, dir, store)
}

pub fn add_account(store: &mut Store, jid: &str) -> AccountId {
    store
        .add_account(
            &NewAccount::new(jid, Zeroizing::new("secret-password".to_owned())),
            t0(),
        )
        .expect("add account")
}

pub fn chat(store: &mut Store, account: AccountId, peer: &str) -> ConversationId {
    store
        .upsert_conversation(account, peer, ConversationKind::Chat, t0())
        .expect("conversation")
}

/// True if `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
