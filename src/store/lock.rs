//! One process per profile: an exclusive advisory lock on `talpa.lock` in the profile directory.
//!
//! Two processes on one profile would share one SQLCipher store, one Arti state directory and
//! the same accounts: both would send the outbox, race their writes and show the server two
//! resources. The core takes this lock as it starts on a profile — before any unlock, before
//! Tor — and holds it for as long as it runs; a second process gets
//! [`StoreError::ProfileInUse`] and touches nothing else.
//!
//! The lock is `flock(2)` (through `std::fs::File::try_lock`): the kernel drops it when the
//! holding process ends, however it ends, so a crash or `SIGKILL` never leaves a stale lock.
//! The file itself is empty — no pid, no name: it only says that a Talpa profile is (or was) in
//! this directory, which the directory's other files say anyway. When the lock is released and
//! the profile no longer exists (after a wipe), the file is removed and, if nothing else is
//! left, the directory too, so a wipe still leaves nothing behind.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::{Result, StoreError};
use super::profile::Profile;

/// The lock file's name inside a profile directory.
pub const LOCK_FILE: &str = "talpa.lock";

/// Held for as long as this process uses the profile; dropping it releases the lock.
#[derive(Debug)]
pub struct ProfileLock {
    dir: PathBuf,
    file: File,
}

impl ProfileLock {
    /// Takes the profile's lock without waiting, creating the directory (mode 0700) and the
    /// empty lock file if needed.
    ///
    /// # Errors
    /// [`StoreError::ProfileInUse`] when another process (or another core of this process)
    /// holds it; [`StoreError::Io`] when the directory or file cannot be made.
    pub fn acquire(dir: &Path) -> Result<ProfileLock> {
        let path = dir.join(LOCK_FILE);
        // The holder may remove the file (and the empty directory) as it lets go of a wiped
        // profile: a lock taken on the removed file would protect nothing, so take it again on
        // the file now at the path.
        for _ in 0..8 {
            if !dir.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => return Err(StoreError::ProfileInUse),
                // A file system without locks (some network or FUSE mounts): the profile stays
                // usable, unprotected against a second process, rather than unusable.
                Err(fs::TryLockError::Error(e)) if locks_unsupported(&e) => {
                    tracing::warn!("this file system cannot lock the profile: {e}");
                }
                Err(fs::TryLockError::Error(e)) => return Err(e.into()),
            }
            let held = file.metadata()?;
            match fs::metadata(&path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(ProfileLock {
                        dir: dir.to_path_buf(),
                        file,
                    });
                }
                _ => {}
            }
        }
        Err(StoreError::ProfileInUse)
    }

    /// The locked profile directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Whether `error` says that the file system does not do `flock` at all (`EOPNOTSUPP`, or
/// `ENOLCK` from an NFS mount without a lock manager).
fn locks_unsupported(error: &std::io::Error) -> bool {
    /// `ENOLCK` on Linux (asm-generic/errno.h; x86 and ARM).
    const ENOLCK: i32 = 37;
    error.kind() == std::io::ErrorKind::Unsupported || error.raw_os_error() == Some(ENOLCK)
}

impl Drop for ProfileLock {
    fn drop(&mut self) {
        // Still holding the lock, so no other process is using the directory: after a wipe,
        // leave nothing behind (the other files are already gone).
        if !Profile::exists(&self.dir) {
            let _ = fs::remove_file(self.dir.join(LOCK_FILE));
            let _ = fs::remove_dir(&self.dir);
        }
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_one_profile_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let profile = dir.path().join("p");
        let first = ProfileLock::acquire(&profile).expect("lock");
        assert!(matches!(
            ProfileLock::acquire(&profile),
            Err(StoreError::ProfileInUse)
        ));
        assert_eq!(fs::read(profile.join(LOCK_FILE)).expect("lock file"), b"");
        drop(first);
        // No profile was made: nothing is left behind, not even the directory.
        assert!(!profile.exists());
        let again = ProfileLock::acquire(&profile).expect("lock");
        assert_eq!(again.dir(), profile);
    }

    #[test]
    fn lock_file_stays_while_a_profile_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lock = ProfileLock::acquire(dir.path()).expect("lock");
        fs::write(dir.path().join(super::super::profile::HEADER_FILE), b"x").expect("header");
        drop(lock);
        assert!(dir.path().join(LOCK_FILE).exists());
    }
}
