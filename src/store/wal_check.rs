//! A look at the write-ahead log a crash left behind, before SQLite replays it.
//!
//! SQLite reads a WAL up to its first frame whose checksum chain breaks and silently ignores
//! everything after it (and the whole log when its header is bad). After a crash that is right:
//! a write torn by the crash is the last thing in the log. But a damaged byte (bad disk,
//! tampering) in the middle makes SQLite open an older state of the profile without a word —
//! and Talpa folds the WAL into the database at the next lock, so the later transactions would
//! be gone for good. This check tells the two apart: a bad frame (or header) followed by an
//! intact *committed* frame of a later transaction in the same log is damage, reported as
//! [`StoreError::Tampered`](super::StoreError::Tampered) before anything is opened or written.
//! A transaction rolled back before its commit can leave frames behind after a shorter later
//! one, but never a commit frame, so it is not mistaken for damage.
//!
//! Format: <https://sqlite.org/fileformat2.html#walformat>. The page contents (encrypted by
//! SQLCipher) are only checksummed, never decrypted.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

use super::error::{Result, StoreError};

const HEADER_LEN: usize = 32;
const FRAME_HEADER_LEN: usize = 24;
const MAGIC_LE: u32 = 0x377f_0682;
const MAGIC_BE: u32 = 0x377f_0683;

/// The two running checksum words of the WAL format.
type Checksum = (u32, u32);

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `start`.
fn checksum(big_endian: bool, start: Checksum, data: &[u8]) -> Checksum {
    let (mut s1, mut s2) = start;
    for pair in data.chunks_exact(8) {
        let (x1, x2) = if big_endian {
            (be32(pair, 0), be32(pair, 4))
        } else {
            (
                u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]),
                u32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]),
            )
        };
        s1 = s1.wrapping_add(x1).wrapping_add(s2);
        s2 = s2.wrapping_add(x2).wrapping_add(s1);
    }
    (s1, s2)
}

/// One frame as read from the file.
struct Frame {
    header: [u8; FRAME_HEADER_LEN],
    page: Vec<u8>,
}

impl Frame {
    fn stored(&self) -> Checksum {
        (be32(&self.header, 16), be32(&self.header, 20))
    }

    fn is_commit(&self) -> bool {
        be32(&self.header, 4) != 0
    }

    /// Whether this frame belongs to the log whose header has `salts`, and its stored checksum
    /// follows from `previous`.
    fn follows(&self, big_endian: bool, salts: &[u8], previous: Checksum) -> bool {
        be32(&self.header, 0) != 0
            && self.header[8..16] == *salts
            && self.computed(big_endian, previous) == self.stored()
    }

    fn computed(&self, big_endian: bool, previous: Checksum) -> Checksum {
        let c = checksum(big_endian, previous, &self.header[..8]);
        checksum(big_endian, c, &self.page)
    }
}

/// Reads the next whole frame; `None` at the end of the file (a partial last frame counts as
/// the end: that is what a torn write leaves).
fn next_frame(reader: &mut impl Read, page_size: usize) -> Result<Option<Frame>> {
    let mut frame = Frame {
        header: [0; FRAME_HEADER_LEN],
        page: vec![0; page_size],
    };
    for buf in [&mut frame.header[..], &mut frame.page[..]] {
        match reader.read_exact(buf) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(frame))
}

/// Checks the write-ahead log at `path` (absent or empty: nothing to check). Fails with
/// [`StoreError::Tampered`] when SQLite would drop committed transactions that are intact in
/// the file because a frame or the header before them is damaged.
pub(crate) fn check(path: &Path) -> Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut reader = BufReader::new(file);
    let mut header = [0u8; HEADER_LEN];
    match reader.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let magic = be32(&header, 0);
    let page_size = be32(&header, 8) as usize;
    if !matches!(magic, MAGIC_LE | MAGIC_BE)
        || !(512..=65536).contains(&page_size)
        || !page_size.is_power_of_two()
    {
        // Not a log SQLite would read at all; with frames after it, it is a damaged one.
        return match next_frame(&mut reader, 4096)? {
            Some(_) => Err(StoreError::Tampered),
            None => Ok(()),
        };
    }
    let big_endian = magic == MAGIC_BE;
    let salts = header[16..24].to_vec();
    let header_sum = checksum(big_endian, (0, 0), &header[..24]);
    let stored_header_sum = (be32(&header, 24), be32(&header, 28));

    // Walk the intact chain as SQLite does; then look past the first break for committed
    // frames that an intact chain of their own links back to the break. Talpa's store syncs
    // the log at every commit (`synchronous = FULL`, SQLite's default), and the header before
    // the first frame: a power cut can leave a transaction's frames half-written in any order,
    // but never touch one written before the last commit that reached the disk. So the commit
    // that proves damage is one of a *later* transaction than the broken frame's.
    let mut previous = stored_header_sum;
    // After a break: the checksums the next frame may follow from (the broken frame's stored
    // one, or — if its checksum field itself was hit — the one its contents give), and how many
    // linked commit frames still prove damage.
    let mut after_break: Vec<Checksum> = Vec::new();
    let mut commits_needed = 0u32;
    if header_sum != stored_header_sum {
        after_break = vec![stored_header_sum, header_sum];
        commits_needed = 1;
    }
    while let Some(frame) = next_frame(&mut reader, page_size)? {
        if commits_needed == 0 {
            if frame.follows(big_endian, &salts, previous) {
                previous = frame.stored();
                continue;
            }
            after_break = vec![frame.stored(), frame.computed(big_endian, previous)];
            // A broken commit frame ends its transaction; otherwise its own commit may follow.
            commits_needed = if frame.is_commit() { 1 } else { 2 };
            continue;
        }
        if !after_break
            .iter()
            .any(|&from| frame.follows(big_endian, &salts, from))
        {
            // Not linked to the break: leftovers of an older log or of a rolled-back write.
            return Ok(());
        }
        if frame.is_commit() {
            commits_needed -= 1;
            if commits_needed == 0 {
                return Err(StoreError::Tampered);
            }
        }
        after_break = vec![frame.stored()];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_matches_sqlites_definition() {
        // Two words (1, 2) from (0, 0): s1 = 1, s2 = 2 + 1 = 3.
        let data = [0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(checksum(true, (0, 0), &data), (1, 3));
        let le = [1, 0, 0, 0, 2, 0, 0, 0];
        assert_eq!(checksum(false, (0, 0), &le), (1, 3));
    }

    #[test]
    fn a_missing_or_empty_log_has_nothing_to_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wal");
        assert!(check(&path).is_ok());
        std::fs::write(&path, b"").expect("write");
        assert!(check(&path).is_ok());
    }

    /// The WAL of an open (plain SQLite) database, copied as a crash would leave it.
    fn crashed_log(setup: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch(setup).expect("setup");
        let copy = dir.path().join("copy-wal");
        std::fs::copy(dir.path().join("db-wal"), &copy).expect("copy wal");
        drop(conn);
        (dir, copy)
    }

    #[test]
    fn frames_left_by_a_rolled_back_write_are_not_damage() {
        // A transaction too big for the page cache spills frames into the log; rolled back,
        // the next (shorter) commit overwrites only the first of them. SQLite ignores the rest
        // and so must the check: they end without a commit frame.
        let (_dir, wal) = crashed_log(
            "PRAGMA journal_mode = WAL; PRAGMA cache_size = 2;
             CREATE TABLE t (x BLOB);
             BEGIN;
             WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 50)
             INSERT INTO t SELECT randomblob(3000) FROM c;
             ROLLBACK;
             INSERT INTO t VALUES (1);",
        );
        let len = std::fs::metadata(&wal).expect("wal").len();
        assert!(
            len > 20 * 4096,
            "the rolled-back write left frames behind ({len} bytes)"
        );
        assert!(check(&wal).is_ok());
    }
}
