//! Choosing a PEM certificate file (an account's extra trust anchor), shared by the add-account
//! and account-settings dialogs.

use gtk4::gio;
use gtk4::prelude::*;

use crate::ui::bounded_file;

/// A file chooser for PEM certificates, transient for `parent`.
pub fn chooser(parent: &impl IsA<gtk4::Window>) -> gtk4::FileChooserNative {
    let chooser = gtk4::FileChooserNative::new(
        Some("Choose a PEM certificate"),
        Some(parent),
        gtk4::FileChooserAction::Open,
        Some("Choose"),
        Some("Cancel"),
    );
    let filter = gtk4::FileFilter::new();
    filter.set_name(Some("PEM certificates"));
    filter.add_pattern("*.pem");
    filter.add_pattern("*.crt");
    chooser.add_filter(&filter);
    chooser
}

/// Reads `file` as a PEM certificate (at most [`bounded_file::MAX_CHOSEN_FILE`] bytes of it):
/// its text and its file name, or the sentence to show.
pub async fn load(file: &gio::File) -> Result<(String, String), String> {
    let result = bounded_file::read_file(file, bounded_file::MAX_CHOSEN_FILE).await;
    let name = file
        .basename()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match result {
        Ok(bytes) => match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains("-----BEGIN CERTIFICATE-----") => Ok((text.to_owned(), name)),
            _ => Err(format!(
                "{name} is not a PEM certificate (it must contain \"BEGIN CERTIFICATE\")."
            )),
        },
        Err(e) => Err(format!("{name} was not used: {e}.")),
    }
}
