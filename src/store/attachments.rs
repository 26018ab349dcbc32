//! Attachment bytes kept after the message that shares them (a downloaded file): they live in
//! the `attachments` table inside the encrypted database, are deleted with their message
//! (`ON DELETE CASCADE`: expiry, history erasure, retraction) and zeroed by `secure_delete`.

use rusqlite::params;

use super::error::Result;
use super::messages::{AttachmentInfo, NewAttachment};
use super::{AttachmentId, MessageId, Store};

/// The attachments of one message, in the order they were added.
pub(super) fn of_message(
    conn: &rusqlite::Connection,
    message: MessageId,
) -> Result<Vec<AttachmentInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, mime, length(data) FROM attachments WHERE message_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([message.0], |r| {
        Ok(AttachmentInfo {
            id: AttachmentId(r.get(0)?),
            name: r.get(1)?,
            mime: r.get(2)?,
            size: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl Store {
    /// Keeps `attachment` with the stored message `message` (a file downloaded after the
    /// message came). It is erased with the message.
    pub fn add_attachment(
        &mut self,
        message: MessageId,
        attachment: &NewAttachment,
    ) -> Result<AttachmentId> {
        self.conn.execute(
            "INSERT INTO attachments (message_id, name, mime, data) VALUES (?1, ?2, ?3, ?4)",
            params![message.0, attachment.name, attachment.mime, attachment.data],
        )?;
        Ok(AttachmentId(self.conn.last_insert_rowid()))
    }

    /// The attachments (metadata) of one message.
    pub fn message_attachments(&self, message: MessageId) -> Result<Vec<AttachmentInfo>> {
        of_message(&self.conn, message)
    }
}
