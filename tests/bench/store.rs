//! Store benchmark: SQLCipher (Talpa's store) against plain SQLite with the same schema.
//!
//! Figures printed (N = 100 000 messages by default, `TALPA_BENCH_MESSAGES` overrides):
//! - insert N messages into one conversation (batches of 1 000, one transaction each, the
//!   store's own statements: retention lookup, two dedupe probes, insert);
//! - open the database and load the last 50 messages of that N-message conversation;
//! - expire all N messages (secure_delete on, a 32 MiB page cache for the run, then the WAL
//!   checkpointed with TRUNCATE, as the store's expiry does);
//! - unlock: Argon2id + SQLCipher keying + full HMAC check, against opening a plain file;
//! - search all N messages of the account (`talpa::store::search`, a scan of the decrypted
//!   bodies, no index) for a rare word pair (a few dozen hits) and for a word every message
//!   has (all N match: the page of 50 is picked from N hits), and for a non-ASCII word no body
//!   has (SQLite's ASCII `LIKE` cannot filter it: every body is case-folded in Talpa's code,
//!   the worst case).
//!
//! The "raw" rows run identical SQL on a keyed SQLCipher connection and on an unkeyed one
//! (the store's own connection settings, `talpa::store::profile::apply_pragmas`, and schema,
//! `talpa::store::migrations`), so their ratio is the cost of encryption alone; the "store API"
//! rows time Talpa's `Store` itself. Open and expiry run `TALPA_BENCH_REPEAT` times (default 3)
//! on fresh copies of the same database file and report the median. Each row gives wall time
//! and the thread's CPU time: on a machine shared with other work the CPU ratio is the steadier
//! one (the work is single-threaded; wall time adds waiting for the disk and for a core).
//!
//! Run: `cargo bench --profile dev --bench store` (dependencies, SQLCipher and Argon2 included,
//! are built at opt-level 2 in dev too).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use talpa::store::{
    AccountId, ConversationKind, Direction, NewAccount, NewMessage, Passphrase, Profile,
    RetentionPolicy, SearchQuery, SearchScope, migrations, profile, search,
};

const BATCH: usize = 1_000;

/// Wall and CPU time of one measured piece of work.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(ts.tv_sec).expect("secs"),
        u32::try_from(ts.tv_nsec).expect("nanos"),
    )
}

/// Runs `f` once, measuring it.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Cost) {
    let (w, c) = (Instant::now(), thread_cpu());
    let out = f();
    let cost = Cost {
        wall: w.elapsed(),
        cpu: thread_cpu().saturating_sub(c),
    };
    (out, cost)
}

/// Per-field median of several measurements.
fn median(mut costs: Vec<Cost>) -> Cost {
    let mid = costs.len() / 2;
    costs.sort_by_key(|c| c.wall);
    let wall = costs[mid].wall;
    costs.sort_by_key(|c| c.cpu);
    Cost {
        wall,
        cpu: costs[mid].cpu,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(what: &str, cipher: Cost, plain: Cost) {
    println!(
        "{what:<34} wall: sqlcipher {:>8.1} ms  plain {:>8.1} ms  ratio {:>6.2}x   \
         cpu: sqlcipher {:>8.1} ms  plain {:>8.1} ms  ratio {:>6.2}x",
        ms(cipher.wall),
        ms(plain.wall),
        ms(cipher.wall) / ms(plain.wall).max(1e-6),
        ms(cipher.cpu),
        ms(plain.cpu),
        ms(cipher.cpu) / ms(plain.cpu).max(1e-6),
    );
}

fn open_raw(path: &Path, key: Option<&[u8; 32]>) -> Connection {
    let conn = Connection::open(path).expect("open");
    if let Some(key) = key {
        conn.execute_batch("PRAGMA cipher_memory_security = ON;")
            .expect("memsec");
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode(key)))
            .expect("key");
    }
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("readable");
    profile::apply_pragmas(&conn).expect("pragmas");
    conn
}

/// The store's insert path, statement for statement.
fn raw_insert(conn: &mut Connection, n: usize, t0: i64) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(BATCH) {
        let tx = conn.transaction().expect("tx");
        for &i in chunk {
            let ts = t0 + i as i64;
            let origin = format!("origin-{i}");
            let _: String = tx
                .prepare_cached(
                    "SELECT COALESCE(c.retention, a.retention) FROM conversations c
                     JOIN accounts a ON a.id = c.account_id WHERE c.id = ?1",
                )
                .expect("p")
                .query_row([1], |r| r.get(0))
                .expect("retention");
            let _: Option<i64> = tx
                .prepare_cached(
                    "SELECT id FROM messages WHERE conversation_id = ?1 AND origin_id = ?2",
                )
                .expect("p")
                .query_row(params![1, origin], |r| r.get(0))
                .optional()
                .expect("dedupe");
            let _: Option<i64> = tx
                .prepare_cached(
                    "SELECT id FROM messages WHERE conversation_id = ?1 AND stanza_id = ?2
                     AND stanza_id_by IS ?3",
                )
                .expect("p")
                .query_row(params![1, origin, "a@talpa.test"], |r| r.get(0))
                .optional()
                .expect("dedupe");
            tx.prepare_cached(
                "INSERT INTO messages (conversation_id, origin_id, stanza_id, stanza_id_by,
                     server_ts, local_ts, ts, direction, sender, occupant_id, encryption, body,
                     corrects) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .expect("p")
            .execute(params![
                1,
                origin,
                origin,
                "a@talpa.test",
                ts,
                ts,
                ts,
                "in",
                "b@talpa.test",
                None::<String>,
                "omemo2",
                format!("benchmark message number {i} with a typical short chat body"),
                None::<i64>
            ])
            .expect("insert");
        }
        tx.commit().expect("commit");
    }
}

fn raw_last_50(conn: &Connection) -> usize {
    let mut stmt = conn
        .prepare(
            "SELECT id, body FROM messages WHERE conversation_id = 1 AND corrects IS NULL
             AND (ts, id) < (?1, ?2) ORDER BY ts DESC, id DESC LIMIT 50",
        )
        .expect("p");
    let rows = stmt
        .query_map(params![i64::MAX, i64::MAX], |r| {
            r.get::<_, Option<String>>(1)
        })
        .expect("q");
    rows.count()
}

fn raw_expire(conn: &mut Connection, cutoff: i64) -> usize {
    conn.pragma_update(None, "cache_size", -profile::EXPIRY_CACHE_KIB)
        .expect("cache");
    let tx = conn.transaction().expect("tx");
    let n = tx
        .execute(
            "DELETE FROM messages WHERE ts < ?1 AND conversation_id IN (
                 SELECT c.id FROM conversations c JOIN accounts a ON a.id = c.account_id
                 WHERE COALESCE(c.retention, a.retention) = ?2)",
            params![cutoff, "1w"],
        )
        .expect("delete");
    tx.commit().expect("commit");
    conn.pragma_update(None, "cache_size", -profile::DEFAULT_CACHE_KIB)
        .expect("cache");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    n
}

fn raw_setup(conn: &mut Connection) {
    migrations::migrate(conn).expect("schema");
    conn.execute_batch(
        "INSERT INTO accounts (id, jid, password, created) VALUES (1, 'a@talpa.test', 'x', 0);
         INSERT INTO conversations (id, account_id, peer_jid, kind, created)
             VALUES (1, 1, 'b@talpa.test', 'chat', 0);",
    )
    .expect("seed");
}

/// The rare query (a few dozen of the bench bodies) and the one every body matches.
const RARE: &str = "NUMBER 4242";
const EVERY: &str = "typical";
const NON_ASCII: &str = "ПРИВЕТ";

/// Searches the bench account's messages for `text`; the number of hits on the first page.
fn raw_search(conn: &Connection, text: &str, now: chrono::DateTime<Utc>) -> usize {
    let query = SearchQuery::parse(text).expect("query");
    search::search_connection(
        conn,
        SearchScope::Account(AccountId(1)),
        &query,
        None,
        50,
        now,
    )
    .expect("search")
    .hits
    .len()
}

struct Figures {
    insert: Cost,
    open_last_50: Cost,
    expire: Cost,
    search_rare: Cost,
    search_every: Cost,
    search_non_ascii: Cost,
}

fn raw_run(path: &Path, key: Option<&[u8; 32]>, n: usize, t0: i64, repeat: usize) -> Figures {
    let mut conn = open_raw(path, key);
    raw_setup(&mut conn);
    let ((), insert) = measure(|| raw_insert(&mut conn, n, t0));
    drop(conn);

    let mut opens = Vec::new();
    let mut expiries = Vec::new();
    let mut rare = Vec::new();
    let mut every = Vec::new();
    let mut non_ascii = Vec::new();
    let now = Utc.timestamp_millis_opt(t0).single().expect("t0") + chrono::Duration::days(1);
    for i in 0..repeat {
        // A fresh copy each round: every expiry deletes the same N rows from the same pages.
        let copy = path.with_extension(format!("copy{i}"));
        std::fs::copy(path, &copy).expect("copy");
        let (conn, open) = measure(|| {
            let conn = open_raw(&copy, key);
            assert_eq!(raw_last_50(&conn), 50);
            conn
        });
        opens.push(open);
        let (hits, c) = measure(|| raw_search(&conn, RARE, now));
        assert!(hits > 0 && hits < 50, "{hits} rare hits");
        rare.push(c);
        let (hits, c) = measure(|| raw_search(&conn, EVERY, now));
        assert_eq!(hits, 50);
        every.push(c);
        let (hits, c) = measure(|| raw_search(&conn, NON_ASCII, now));
        assert_eq!(hits, 0);
        non_ascii.push(c);
        drop(conn);
        let mut conn = open_raw(&copy, key);
        let (removed, expire) = measure(|| raw_expire(&mut conn, i64::MAX));
        assert_eq!(removed, n);
        expiries.push(expire);
        drop(conn);
        std::fs::remove_file(&copy).expect("remove copy");
    }
    Figures {
        insert,
        open_last_50: median(opens),
        expire: median(expiries),
        search_rare: median(rare),
        search_every: median(every),
        search_non_ascii: median(non_ascii),
    }
}

fn main() {
    let n: usize = std::env::var("TALPA_BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let pass = Passphrase::from("benchmark passphrase");
    let t0 = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("date");
    println!("talpa store benchmark, {n} messages");

    // --- Talpa's Store (SQLCipher) ---------------------------------------------------
    let dir = tmp.path().join("profile");
    let (mut store, create) = measure(|| Profile::create(&dir, &pass).expect("create"));
    let acct = store
        .add_account(&NewAccount::new("a@talpa.test", "x".to_owned().into()), t0)
        .expect("account");
    let conv = store
        .upsert_conversation(acct, "b@talpa.test", ConversationKind::Chat, t0)
        .expect("conv");
    let msgs: Vec<NewMessage> = (0..n)
        .map(|i| {
            let at = t0 + chrono::Duration::milliseconds(i as i64);
            let mut m = NewMessage::new(
                conv,
                Direction::Incoming,
                "b@talpa.test",
                Some(format!(
                    "benchmark message number {i} with a typical short chat body"
                )),
                at,
            );
            m.origin_id = Some(format!("origin-{i}"));
            m.stanza_id = Some(format!("origin-{i}"));
            m.stanza_id_by = Some("a@talpa.test".into());
            m
        })
        .collect();
    let ((), api_insert) = measure(|| {
        for chunk in msgs.chunks(BATCH) {
            store.insert_messages(chunk, t0).expect("insert");
        }
    });
    store.lock().expect("lock");

    let (mut store, api_unlock) =
        measure(|| Profile::unlock(&dir, &pass).expect("unlock").into_store());
    let ((), api_last_50) = measure(|| {
        assert_eq!(store.history(conv, None, 50).expect("history").len(), 50);
    });
    let search_now = t0 + chrono::Duration::days(1);
    let ((), api_search_rare) = measure(|| {
        let q = SearchQuery::parse(RARE).expect("query");
        let page = store
            .search(SearchScope::Account(acct), &q, None, 50, search_now)
            .expect("search");
        assert!(!page.hits.is_empty());
    });
    let ((), api_search_every) = measure(|| {
        let q = SearchQuery::parse(EVERY).expect("query");
        let page = store
            .search(SearchScope::Account(acct), &q, None, 50, search_now)
            .expect("search");
        assert!(page.more);
    });
    let (removed, api_expire) = measure(|| {
        store
            .set_account_retention(
                acct,
                RetentionPolicy::OneHour,
                t0 + chrono::Duration::days(1),
            )
            .expect("expire")
    });
    assert_eq!(removed, n);
    store.lock().expect("lock");
    println!("store API (SQLCipher):");
    let api = |what: String, c: Cost| {
        println!(
            "  {what:<52} wall {:>8.1} ms   cpu {:>8.1} ms",
            ms(c.wall),
            ms(c.cpu)
        );
    };
    api("create profile (Argon2id + schema)".into(), create);
    api(format!("insert {n} messages"), api_insert);
    api(
        format!("unlock {n}-message profile (Argon2id + HMAC check)"),
        api_unlock,
    );
    api(format!("last 50 of {n}"), api_last_50);
    api(format!("search {n} messages, few hits"), api_search_rare);
    api(format!("search {n} messages, all match"), api_search_every);
    api(format!("expire {n} messages"), api_expire);

    // --- Same SQL, keyed vs unkeyed --------------------------------------------------
    let key = profile::derive_raw_key(&dir, &pass).expect("key");
    let t0_ms = t0.timestamp_millis();
    let repeat: usize = std::env::var("TALPA_BENCH_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let cipher = raw_run(
        &tmp.path().join("raw-cipher.db"),
        Some(&key),
        n,
        t0_ms,
        repeat,
    );
    let plain = raw_run(&tmp.path().join("raw-plain.db"), None, n, t0_ms, repeat);
    println!("same SQL, SQLCipher vs plain SQLite (open and expire: median of {repeat}):");
    row(&format!("insert {n} messages"), cipher.insert, plain.insert);
    row(
        &format!("open + last 50 of {n}"),
        cipher.open_last_50,
        plain.open_last_50,
    );
    row(&format!("expire {n} messages"), cipher.expire, plain.expire);
    row(
        &format!("search {n} msgs, few hits"),
        cipher.search_rare,
        plain.search_rare,
    );
    row(
        &format!("search {n} msgs, all match"),
        cipher.search_every,
        plain.search_every,
    );
    row(
        &format!("search {n} msgs, non-ASCII"),
        cipher.search_non_ascii,
        plain.search_non_ascii,
    );

    let (store, unlock) = measure(|| Profile::unlock(&dir, &pass).expect("unlock").into_store());
    store.lock().expect("lock");
    let ((), plain_open) = measure(|| drop(open_raw(&tmp.path().join("raw-plain.db"), None)));
    row("unlock (Argon2id) vs plain open", unlock, plain_open);
}
