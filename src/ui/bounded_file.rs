//! Reading a file the user chose (a PEM certificate, a private Tor network description) without
//! trusting its size: at most [`MAX_CHOSEN_FILE`] bytes are ever read, so a huge or endless file
//! (`/dev/zero`) is refused with a clear sentence instead of exhausting memory.

use std::io::Read;

use gtk4::gio;
use gtk4::glib;
use gtk4::prelude::*;

/// The most a chosen file may hold: 1 MiB, as for `--tor-network` (a certificate or a network
/// description is a few kilobytes).
pub const MAX_CHOSEN_FILE: usize = 1 << 20;

/// Why a chosen file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ChosenFileError {
    /// The file could not be opened or read.
    #[error("it could not be read ({0})")]
    Unreadable(String),
    /// The file holds more than the bound (or never ends).
    #[error("it is larger than {} KiB, too large for this", .max / 1024)]
    TooLarge {
        /// The bound, in bytes.
        max: usize,
    },
}

/// Reads at most `max` bytes of the file at `path`; a file with more is refused (only `max + 1`
/// bytes are read to tell).
///
/// # Errors
/// [`ChosenFileError::Unreadable`] when it cannot be opened or read,
/// [`ChosenFileError::TooLarge`] when it holds more than `max` bytes.
pub fn read_path(path: &std::path::Path, max: usize) -> Result<Vec<u8>, ChosenFileError> {
    let file = std::fs::File::open(path).map_err(|e| ChosenFileError::Unreadable(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ChosenFileError::Unreadable(e.to_string()))?;
    if bytes.len() > max {
        return Err(ChosenFileError::TooLarge { max });
    }
    Ok(bytes)
}

/// Reads at most `max` bytes of `file` asynchronously (through gio, so the window keeps
/// drawing); a file with more is refused as soon as more than `max` bytes have come.
///
/// # Errors
/// As [`read_path`].
pub async fn read_file(file: &gio::File, max: usize) -> Result<Vec<u8>, ChosenFileError> {
    let unreadable = |e: glib::Error| ChosenFileError::Unreadable(e.message().to_owned());
    let stream = file
        .read_future(glib::Priority::DEFAULT)
        .await
        .map_err(unreadable)?;
    let mut bytes = Vec::new();
    loop {
        let want = (max + 1 - bytes.len()).min(64 * 1024);
        let chunk = stream
            .read_bytes_future(want, glib::Priority::DEFAULT)
            .await
            .map_err(unreadable)?;
        if chunk.is_empty() {
            break;
        }
        bytes.extend_from_slice(&chunk);
        if bytes.len() > max {
            let _ = stream.close_future(glib::Priority::DEFAULT).await;
            return Err(ChosenFileError::TooLarge { max });
        }
    }
    let _ = stream.close_future(glib::Priority::DEFAULT).await;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        glib::MainContext::new().block_on(f)
    }

    #[test]
    fn a_file_within_the_bound_is_read_whole_both_ways() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("small");
        let content = vec![b'a'; 1000];
        std::fs::write(&path, &content).expect("write");
        assert_eq!(read_path(&path, 1000).expect("read"), content);
        let file = gio::File::for_path(&path);
        assert_eq!(block_on(read_file(&file, 1000)).expect("read"), content);
    }

    #[test]
    fn a_file_one_byte_over_the_bound_is_refused_both_ways() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'a'; 1001]).expect("write");
        assert!(matches!(
            read_path(&path, 1000),
            Err(ChosenFileError::TooLarge { max: 1000 })
        ));
        let file = gio::File::for_path(&path);
        assert!(matches!(
            block_on(read_file(&file, 1000)),
            Err(ChosenFileError::TooLarge { max: 1000 })
        ));
    }

    #[test]
    fn an_endless_file_is_refused_without_reading_it_into_memory() {
        let zero = std::path::Path::new("/dev/zero");
        let err = read_path(zero, MAX_CHOSEN_FILE).expect_err("/dev/zero refused");
        assert!(err.to_string().contains("1024 KiB"), "{err}");
        let file = gio::File::for_path(zero);
        assert!(matches!(
            block_on(read_file(&file, MAX_CHOSEN_FILE)),
            Err(ChosenFileError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_missing_file_is_unreadable_both_ways() {
        let path = std::path::Path::new("/nonexistent/cert.pem");
        assert!(matches!(
            read_path(path, 10),
            Err(ChosenFileError::Unreadable(_))
        ));
        let file = gio::File::for_path(path);
        assert!(matches!(
            block_on(read_file(&file, 10)),
            Err(ChosenFileError::Unreadable(_))
        ));
    }
}
