//! A shared file under a message: its name and size, and **Download** (fetched through Tor into
//! the encrypted store, only when the user asks — never by itself) or **Save…** (written where
//! the user chooses). The core does the transfer (`core::files`); a finished download comes
//! back as `message_updated`, which rebinds the row. While a download runs, a progress bar
//! shows how far it got (a fraction when the server told the size, pulsing otherwise), driven
//! by the core's throttled `transfer_progress` events (at most ten a second).

use std::cell::RefCell;
use std::rc::Rc;

use gtk4::glib;
use gtk4::prelude::*;
use gtk4::subclass::prelude::ObjectSubclassIsExt;

use crate::core::events::FileAttachment;
use crate::core::{Command, Event, Reply};
use crate::ui::chat::{ConversationView, MessageRow};
use crate::ui::models::MessageObject;

/// The widget name of the box this module adds to each message row.
pub const ROW_NAME: &str = "attachment_row";

/// Adds the (hidden) attachment box at the end of `row`.
pub fn install(row: &MessageRow) {
    let bx = gtk4::Box::new(gtk4::Orientation::Horizontal, 8);
    bx.set_widget_name(ROW_NAME);
    bx.set_visible(false);
    bx.add_css_class("attachment");
    let icon = gtk4::Image::from_icon_name("mail-attachment-symbolic");
    bx.append(&icon);
    let label = gtk4::Label::new(None);
    label.set_xalign(0.0);
    label.set_hexpand(true);
    label.set_ellipsize(gtk4::pango::EllipsizeMode::Middle);
    let button = gtk4::Button::with_label("Download");
    button.connect_clicked(glib::clone!(
        #[weak]
        row,
        move |button| clicked(&row, button)
    ));
    let progress = gtk4::ProgressBar::new();
    progress.set_valign(gtk4::Align::Center);
    progress.set_visible(false);
    bx.append(&label);
    bx.append(&progress);
    bx.append(&button);
    row.append(&bx);
}

/// The progress bar of `row`'s attachment box (shown while a download runs).
pub fn progress_bar(row: &MessageRow) -> Option<gtk4::ProgressBar> {
    parts(row)?
        .1
        .next_sibling()
        .and_downcast::<gtk4::ProgressBar>()
}

fn parts(row: &MessageRow) -> Option<(gtk4::Box, gtk4::Label, gtk4::Button)> {
    let bx = row
        .last_child()
        .filter(|w| w.widget_name() == ROW_NAME)
        .and_downcast::<gtk4::Box>()?;
    let label = bx
        .first_child()?
        .next_sibling()
        .and_downcast::<gtk4::Label>()?;
    let button = bx.last_child().and_downcast::<gtk4::Button>()?;
    Some((bx, label, button))
}

/// A byte count as people read it.
pub fn size_text(size: u64) -> String {
    #[allow(
        clippy::cast_precision_loss,
        reason = "a size shown with one decimal; files are at most 100 MiB"
    )]
    let s = size as f64;
    if size < 1024 {
        format!("{size} bytes")
    } else if size < 1024 * 1024 {
        format!("{:.1} KiB", s / 1024.0)
    } else {
        format!("{:.1} MiB", s / (1024.0 * 1024.0))
    }
}

/// Shows `message`'s file in `row` (or hides the box when it shares none).
pub fn show(row: &MessageRow, message: &MessageObject) {
    let Some((bx, label, button)) = parts(row) else {
        return;
    };
    // A recycled row shows no other message's download.
    if let Some(bar) = progress_bar(row) {
        bar.set_visible(false);
    }
    let file = message.attachment().filter(|_| !message.retracted());
    // The link holds the file's key: the row shows the file instead of it.
    row.imp().body_label.set_visible(file.is_none());
    let Some(file) = file else {
        bx.set_visible(false);
        return;
    };
    label.set_label(&describe(&file));
    label.set_tooltip_text(Some(&file.name));
    button.set_sensitive(true);
    button.set_label(if file.downloaded {
        "Save…"
    } else {
        "Download"
    });
    button.set_tooltip_text(Some(if file.downloaded {
        "Save the file where you choose"
    } else {
        "Fetch the file through Tor and keep it in the encrypted store"
    }));
    bx.set_visible(true);
}

fn describe(file: &FileAttachment) -> String {
    match file.size {
        Some(size) => format!("{} ({})", file.name, size_text(size)),
        None => file.name.clone(),
    }
}

/// Waits for the end of `transfer`: `None` when it is done, the sentence to show when it failed
/// (or when the core stopped telling).
pub async fn transfer_failure(
    events: tokio::sync::broadcast::Receiver<Event>,
    transfer: &str,
) -> Option<String> {
    transfer_outcome(events, transfer, |_, _| {}).await
}

/// [`transfer_failure`], calling `on_progress(done, total)` for each `transfer_progress` of it
/// (throttled by the core: at most ten a second).
pub async fn transfer_outcome(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    transfer: &str,
    on_progress: impl Fn(u64, u64),
) -> Option<String> {
    loop {
        match events.recv().await {
            Ok(Event::TransferProgress {
                transfer: t,
                done,
                total,
                ..
            }) if t == transfer => on_progress(done, total),
            Ok(Event::TransferDone { transfer: t, .. }) if t == transfer => return None,
            Ok(Event::TransferFailed {
                transfer: t, error, ..
            }) if t == transfer => {
                return Some(format!("The file transfer failed: {error}."));
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                return Some("The file transfer was interrupted.".into());
            }
        }
    }
}

/// `row`'s progress bar, while `row` still shows message `id` (rows are recycled).
fn progress_bar_of(row: &MessageRow, id: i64) -> Option<gtk4::ProgressBar> {
    row.message()
        .is_some_and(|m| m.id() == id)
        .then(|| progress_bar(row))
        .flatten()
}

/// Shows `done` of `total` bytes of message `id`'s download in `row`, if it still shows it.
fn show_progress(row: &MessageRow, id: i64, done: u64, total: u64) {
    let Some(bar) = progress_bar_of(row, id) else {
        return;
    };
    bar.set_visible(true);
    if total > 0 {
        #[allow(
            clippy::cast_precision_loss,
            reason = "a fraction for a progress bar; files are at most 100 MiB"
        )]
        bar.set_fraction((done as f64 / total as f64).clamp(0.0, 1.0));
    } else {
        bar.pulse();
    }
    bar.set_tooltip_text(Some(&format!("{} downloaded", size_text(done))));
}

fn clicked(row: &MessageRow, button: &gtk4::Button) {
    let Some(message) = row.message() else {
        return;
    };
    let Some(file) = message.attachment() else {
        return;
    };
    let Some(core) = row
        .ancestor(ConversationView::static_type())
        .and_downcast::<ConversationView>()
        .and_then(|v| v.imp().core.get().cloned())
    else {
        return;
    };
    let id = message.id();
    if !file.downloaded {
        button.set_sensitive(false);
        button.set_label("Downloading…");
        let (button, row) = (button.clone(), row.clone());
        glib::MainContext::default().spawn_local(async move {
            // Subscribed before asking, so a quick failure is not missed.
            let events = core.subscribe();
            let failure = match core.call(Command::DownloadAttachment { message: id }).await {
                Ok(Reply::Transfer { transfer }) => {
                    let shown = row.clone();
                    let failure = transfer_outcome(events, &transfer, move |done, total| {
                        show_progress(&shown, id, done, total);
                    })
                    .await;
                    if let Some(bar) = progress_bar_of(&row, id) {
                        bar.set_visible(false);
                    }
                    failure
                }
                Ok(_) => None,
                Err(e) => Some(crate::ui::user_text::error_text(&e)),
            };
            if let Some(text) = failure {
                crate::ui::toast(&row, &text);
                // The row may show another message by now (rows are recycled).
                if row.message().is_some_and(|m| m.id() == id) {
                    button.set_sensitive(true);
                    button.set_label("Download");
                }
            }
        });
        return;
    }
    let Some(parent) = row.root().and_downcast::<gtk4::Window>() else {
        return;
    };
    let chooser = gtk4::FileChooserNative::new(
        Some("Save the file"),
        Some(&parent),
        gtk4::FileChooserAction::Save,
        Some("Save"),
        Some("Cancel"),
    );
    chooser.set_current_name(&file.name);
    // The native dialog must stay referenced while it is shown.
    let holder: Rc<RefCell<Option<gtk4::FileChooserNative>>> = Rc::default();
    let keep = holder.clone();
    let row = row.clone();
    chooser.connect_response(move |chooser, response| {
        keep.replace(None);
        let path = chooser.file().and_then(|f| f.path());
        let (gtk4::ResponseType::Accept, Some(path)) = (response, path) else {
            return;
        };
        let (core, row) = (core.clone(), row.clone());
        glib::MainContext::default().spawn_local(async move {
            let result = core
                .call(Command::SaveAttachment {
                    message: id,
                    path: path.display().to_string(),
                })
                .await;
            match result {
                Ok(_) => crate::ui::toast(&row, "Saved."),
                Err(e) => crate::ui::toast(&row, &crate::ui::user_text::error_text(&e)),
            }
        });
    });
    chooser.show();
    holder.replace(Some(chooser));
}
