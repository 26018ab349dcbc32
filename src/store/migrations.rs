//! The schema, as an ordered list of migrations tracked by `PRAGMA user_version`.
//!
//! Append a new entry to [`MIGRATIONS`] to change the schema; never edit a released one.
//! Each migration runs in its own transaction together with the version bump.

use rusqlite::Connection;

use super::error::{Result, StoreError};

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r"
CREATE TABLE accounts (
    id               INTEGER PRIMARY KEY,
    jid              TEXT NOT NULL UNIQUE,
    password         TEXT NOT NULL,            -- the only place credentials are kept
    host             TEXT,                     -- connect-host override
    port             INTEGER,                  -- connect-port override
    trust_anchor_pem TEXT,                     -- extra CA / pinned certificate
    enabled          INTEGER NOT NULL DEFAULT 1,
    retention        TEXT NOT NULL DEFAULT '1w',
    options          TEXT NOT NULL DEFAULT '{}',
    sasl_plus_seen   INTEGER NOT NULL DEFAULT 0,
    created          INTEGER NOT NULL
);

CREATE TABLE contacts (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    jid          TEXT NOT NULL,
    name         TEXT,
    subscription TEXT NOT NULL DEFAULT 'none',
    groups       TEXT NOT NULL DEFAULT '[]',
    UNIQUE (account_id, jid)
);

CREATE TABLE rooms (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    jid        TEXT NOT NULL,
    name       TEXT,
    nick       TEXT,
    password   TEXT,
    autojoin   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, jid)
);

CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    peer_jid        TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('chat', 'groupchat')),
    retention       TEXT,                      -- NULL: the account's default
    encryption      TEXT NOT NULL DEFAULT 'omemo',
    send_chat_states INTEGER NOT NULL DEFAULT 0,
    send_receipts   INTEGER NOT NULL DEFAULT 0,
    send_markers    INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL,
    UNIQUE (account_id, peer_jid)
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,       -- local id
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    origin_id       TEXT,
    stanza_id       TEXT,
    stanza_id_by    TEXT,
    server_ts       INTEGER,                   -- ms since epoch, as claimed by the server
    local_ts        INTEGER NOT NULL,          -- ms since epoch, when we received/sent it
    ts              INTEGER NOT NULL,          -- min(server_ts, local_ts): ordering and expiry
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    sender          TEXT NOT NULL,
    occupant_id     TEXT,
    encryption      TEXT NOT NULL,
    body            TEXT,
    edited          INTEGER NOT NULL DEFAULT 0,
    corrects        INTEGER REFERENCES messages(id) ON DELETE CASCADE,  -- set on correction rows
    retracted       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_time ON messages (conversation_id, ts);
CREATE INDEX messages_corrects ON messages (corrects) WHERE corrects IS NOT NULL;
CREATE UNIQUE INDEX messages_origin ON messages (conversation_id, origin_id)
    WHERE origin_id IS NOT NULL;
CREATE UNIQUE INDEX messages_stanza ON messages (conversation_id, stanza_id, stanza_id_by)
    WHERE stanza_id IS NOT NULL;

CREATE TABLE attachments (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    mime       TEXT NOT NULL,
    data       BLOB NOT NULL
);
CREATE INDEX attachments_by_message ON attachments (message_id);

CREATE TABLE omemo_state (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE omemo_identities (
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    jid          TEXT NOT NULL,
    device_id    INTEGER NOT NULL,
    identity_key BLOB NOT NULL,
    trust        TEXT NOT NULL,
    first_seen   INTEGER NOT NULL,
    PRIMARY KEY (account_id, jid, device_id)
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    origin_id       TEXT NOT NULL UNIQUE,
    payload         BLOB NOT NULL,
    created         INTEGER NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// What the core learned about an outgoing message's readers: why it is held (`held_cause`,
/// cleared once it is sent) and, in a room, who had no keys when it was encrypted
/// (`unreadable_by`, a JSON array of bare JIDs).
const V2: &str = r"
ALTER TABLE messages ADD COLUMN held_cause TEXT;
ALTER TABLE messages ADD COLUMN unreadable_by TEXT;
";

/// What a destroyed room (XEP-0045 §10.9) told when it ended our stay, kept with its
/// conversation so the window can say it again after a restart: `room_destroyed` (1 once the
/// room was destroyed, back to 0 when it is joined again), the owner's reason (one line, at most
/// 300 characters), the alternate room they suggested (a bare JID) and our nickname there (the
/// room's bookmark, which held it, is removed), to join the alternate with; `destroyed_ts`
/// (ms) lets the reason expire with the conversation's retention.
const V3: &str = r"
ALTER TABLE conversations ADD COLUMN room_destroyed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN destroyed_reason TEXT;
ALTER TABLE conversations ADD COLUMN destroyed_alternate TEXT;
ALTER TABLE conversations ADD COLUMN destroyed_nick TEXT;
ALTER TABLE conversations ADD COLUMN destroyed_ts INTEGER;
";

/// What the partner told about an outgoing message (XEP-0184 receipt, XEP-0333 `displayed`
/// marker), kept with it so the marks survive a restart: `delivery` 0 (nothing), 1
/// (delivered) or 2 (read). Erased with the message; never written for a message that is not
/// stored ("don't store" conversations keep marks in memory only).
const V4: &str = r"
ALTER TABLE messages ADD COLUMN delivery INTEGER NOT NULL DEFAULT 0;
";

/// Whether a plaintext message's body is one file URL its sender also gave as XEP-0066
/// out-of-band data (`file_link` 1): such a message shares that file and offers a download.
/// Messages stored before knew nothing of it and stay text.
const V5: &str = r"
ALTER TABLE messages ADD COLUMN file_link INTEGER NOT NULL DEFAULT 0;
";

/// Brings the database to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as version `version` left it (its migrations only), holding `rows`.
    fn database_at(version: usize, rows: &str) -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).expect("older migrations");
        }
        conn.pragma_update(
            None,
            "user_version",
            i64::try_from(version).expect("a version"),
        )
        .expect("version");
        conn.execute_batch(rows).expect("older rows");
        conn
    }

    /// The schema version `conn` is at.
    fn version_of(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version")
    }

    #[test]
    fn a_version_1_database_keeps_its_messages_and_gains_empty_reader_notes() {
        let mut conn = database_at(
            1,
            "INSERT INTO accounts (jid, password, created) VALUES ('a@s', 'pw', 0);
             INSERT INTO conversations (account_id, peer_jid, kind, created)
                 VALUES (1, 'b@s', 'chat', 0);
             INSERT INTO messages (conversation_id, local_ts, ts, direction, sender, encryption,
                 body) VALUES (1, 0, 0, 'out', 'a@s', 'pending', 'kept');",
        );
        migrate(&mut conn).expect("migrate");
        assert_eq!(version_of(&conn), SCHEMA_VERSION);
        let row: (String, Option<String>, Option<String>) = conn
            .query_row(
                "SELECT body, held_cause, unreadable_by FROM messages",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("row");
        assert_eq!(row, ("kept".to_owned(), None, None));
    }

    #[test]
    fn a_version_2_database_keeps_its_conversations_and_gains_no_destroyed_note() {
        let mut conn = database_at(
            2,
            "INSERT INTO accounts (jid, password, created) VALUES ('a@s', 'pw', 0);
             INSERT INTO conversations (account_id, peer_jid, kind, created)
                 VALUES (1, 'room@rooms.s', 'groupchat', 0);
             INSERT INTO messages (conversation_id, local_ts, ts, direction, sender, encryption,
                 body, held_cause) VALUES (1, 0, 0, 'out', 'a@s', 'pending', 'kept', 'no_keys');",
        );
        migrate(&mut conn).expect("migrate");
        assert_eq!(version_of(&conn), SCHEMA_VERSION);
        let conversation: (String, bool, Option<String>, Option<String>, Option<String>) = conn
            .query_row(
                "SELECT peer_jid, room_destroyed, destroyed_reason, destroyed_alternate,
                     destroyed_nick FROM conversations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .expect("conversation");
        assert_eq!(
            conversation,
            ("room@rooms.s".to_owned(), false, None, None, None)
        );
        let message: (String, Option<String>) = conn
            .query_row("SELECT body, held_cause FROM messages", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("message");
        assert_eq!(message, ("kept".to_owned(), Some("no_keys".to_owned())));
        // Forward only: running the migrations again changes nothing.
        migrate(&mut conn).expect("again");
    }

    #[test]
    fn a_version_3_database_keeps_its_messages_with_no_delivery_mark() {
        let mut conn = database_at(
            3,
            "INSERT INTO accounts (jid, password, created) VALUES ('a@s', 'pw', 0);
             INSERT INTO conversations (account_id, peer_jid, kind, created, room_destroyed)
                 VALUES (1, 'b@s', 'chat', 0, 0);
             INSERT INTO messages (conversation_id, origin_id, local_ts, ts, direction, sender,
                 encryption, body) VALUES (1, 'o1', 0, 0, 'out', 'a@s', 'omemo2', 'kept');",
        );
        migrate(&mut conn).expect("migrate");
        assert_eq!(version_of(&conn), SCHEMA_VERSION);
        let row: (String, String, i64) = conn
            .query_row("SELECT origin_id, body, delivery FROM messages", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("row");
        assert_eq!(row, ("o1".to_owned(), "kept".to_owned(), 0));
        // Forward only: running the migrations again changes nothing.
        migrate(&mut conn).expect("again");
        let count: i64 = conn
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, 1);
    }

    #[test]
    fn a_version_4_database_keeps_its_messages_as_text_not_file_links() {
        let mut conn = database_at(
            4,
            "INSERT INTO accounts (jid, password, created) VALUES ('a@s', 'pw', 0);
             INSERT INTO conversations (account_id, peer_jid, kind, created)
                 VALUES (1, 'b@s', 'chat', 0);
             INSERT INTO messages (conversation_id, local_ts, ts, direction, sender,
                 encryption, body, delivery)
                 VALUES (1, 0, 0, 'in', 'b@s', 'none', 'https://h.example/f.png', 0);",
        );
        migrate(&mut conn).expect("migrate");
        assert_eq!(version_of(&conn), SCHEMA_VERSION);
        let row: (String, bool) = conn
            .query_row("SELECT body, file_link FROM messages", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("row");
        assert_eq!(row, ("https://h.example/f.png".to_owned(), false));
        // Forward only: running the migrations again changes nothing.
        migrate(&mut conn).expect("again");
        let count: i64 = conn
            .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, 1);
    }
}
