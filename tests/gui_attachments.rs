//! A message that shares a file shows the file's name under its text with **Download** (never
//! fetched by itself); once the core reports it kept, the size and **Save…**; a failed
//! download is told in a notice and can be tried again. The composer has a labelled attach
//! button. Runs as a child of itself on a private Xvfb, with a core that has no profile (so a
//! download is refused, as a locked profile would refuse it).

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::events::{FileAttachment, MessageNotes, StoredMessage};
use talpa::core::{CoreHandle, Event};
use talpa::ui::chat::MessageRow;

use gui_support::{find_widget, pump, pump_until};

const ME: &str = "mole@talpa.test";
const PEER: &str = "sender@talpa.test";
const LINK: &str = "aesgcm://upload.talpa.test/abc/holiday.jpg#\
                    000102030405060708090a0b1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

#[test]
fn a_shared_file_offers_download_then_save_and_the_composer_can_attach() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_shared_file_offers_download_then_save_and_the_composer_can_attach",
    );
}

fn message(downloaded: bool) -> StoredMessage {
    StoredMessage {
        id: 7,
        account: ME.into(),
        with: PEER.into(),
        direction: "in".into(),
        from: PEER.into(),
        body: LINK.into(),
        timestamp_ms: 1_700_000_000_000,
        encryption: "omemo2".into(),
        corrected: false,
        retracted: false,
        origin_id: None,
        notes: MessageNotes {
            attachment: Some(FileAttachment {
                name: "holiday.jpg".into(),
                size: downloaded.then_some(150_000),
                mime: downloaded.then(|| "image/jpeg".into()),
                encrypted: true,
                downloaded,
            }),
            ..MessageNotes::default()
        },
    }
}

/// The visible attachment box of the row showing the link: its label and button texts.
fn attachment(window: &talpa::ui::window::Window) -> Option<(String, gtk4::Button)> {
    let row = find_widget::<MessageRow>(window.upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.body() == LINK)
    })?;
    let bx = find_widget::<gtk4::Box>(row.upcast_ref(), &|b| {
        b.widget_name() == talpa::ui::chat::attachment_row::ROW_NAME && b.is_visible()
    })?;
    let label = find_widget::<gtk4::Label>(bx.upcast_ref(), &|_| true)?;
    let button = find_widget::<gtk4::Button>(bx.upcast_ref(), &|_| true)?;
    Some((label.label().to_string(), button))
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks' signature
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let (window, session) = gui_support::unlocked_window_with_account(app, core, ME, "1w");
    session.open_conversation(ME, PEER);
    pump(Duration::from_millis(300));

    let attach = find_widget::<gtk4::Button>(window.upcast_ref(), &|b| {
        b.tooltip_text().as_deref() == Some("Share a file")
    })
    .expect("the composer's attach button");
    assert_eq!(
        talpa::ui::a11y::label_of(&attach).as_deref(),
        Some("Share a file")
    );

    window.on_event(&Event::Message(message(false)));
    pump_until("the shared file with Download", || {
        attachment(&window).is_some_and(|(l, b)| {
            l.contains("holiday.jpg") && b.label().as_deref() == Some("Download")
        })
    });
    // The link (it holds the file's key) is not shown as text.
    assert!(
        find_widget::<gtk4::Label>(window.upcast_ref(), &|l| l.is_visible()
            && l.label().starts_with("aesgcm://"))
        .is_none(),
        "the link with its key is shown"
    );
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "attachment_download");

    // This core has no profile: the download is refused, said in a notice, and can be retried.
    let (_, button) = attachment(&window).expect("the attachment");
    let notices = window.toast_titles().len();
    button.emit_clicked();
    pump_until("the refused download told and offered again", || {
        window.toast_titles().len() > notices
            && attachment(&window)
                .is_some_and(|(_, b)| b.is_sensitive() && b.label().as_deref() == Some("Download"))
    });

    window.on_event(&Event::MessageUpdated(message(true)));
    pump_until("the kept file with its size and Save…", || {
        attachment(&window)
            .is_some_and(|(l, b)| l.contains("146.5 KiB") && b.label().as_deref() == Some("Save…"))
    });
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "attachment_save");
}
