//! A file a contact without OMEMO shares as a plaintext link with XEP-0066 out-of-band data,
//! against the real bed: the window shows it as a file with **Download** (the link is not shown
//! as text); asked, it downloads through the bed's private Tor network while a progress bar
//! under the message shows how far it got, and the bar goes away when the file is kept
//! (**Save…** then).

mod gui_bed_support;
mod gui_support;
mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use gtk4::prelude::*;
use libadwaita as adw;
use serde_json::json;
use talpa::core::CoreHandle;
use talpa::ui::chat::MessageRow;
use talpa::ui::chat::attachment_row;
use talpa::ui::window::Window;

use gui_bed_support::{bed_options, pump_until_peer};
use gui_support::{find_widget, pump, pump_until};
use support::{Peer, bed, random_hex};

#[test]
fn a_plaintext_file_link_downloads_with_a_progress_bar_that_goes_away_when_done() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    // Bring the bed up before the child starts (it is shared and reused).
    let _ = bed();
    gui_support::run_as_gui_child(
        "a_plaintext_file_link_downloads_with_a_progress_bar_that_goes_away_when_done",
    );
}

/// The row showing the message whose body is `body`.
fn row_of(window: &Window, body: &str) -> Option<MessageRow> {
    find_widget::<MessageRow>(window.upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.body() == body)
    })
}

/// The attachment box's button of `row`, when the box is shown.
fn file_button(row: &MessageRow) -> Option<gtk4::Button> {
    let bx = find_widget::<gtk4::Box>(row.upcast_ref(), &|b| {
        b.widget_name() == attachment_row::ROW_NAME && b.is_visible()
    })?;
    find_widget::<gtk4::Button>(bx.upcast_ref(), &|_| true)
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks_with expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let bed = bed();
    let (me, my_password) = bed.new_account("guifile");
    let (peer_jid, peer_password) = bed.new_account("guifilepeer");
    let (window, session) =
        gui_bed_support::window_on_bed(app, &core, "gui file passphrase", &me, &my_password);
    let mut peer = Peer::spawn(bed, &peer_jid, &peer_password);
    gui_bed_support::wait_until_online(&session, &me);
    pump(Duration::from_secs(2));

    // 4 MiB, so the download through Tor takes several progress reports.
    let seed = random_hex(16);
    let data: Vec<u8> = (0..4 * 1024 * 1024)
        .map(|i: usize| seed.as_bytes()[i % 16].wrapping_mul(i as u8 | 1))
        .collect();
    peer.send_cmd(
        &json!({"cmd": "upload", "id": "up", "filename": "dossier.bin",
                          "data_b64": B64.encode(&data)}),
    );
    let up = pump_until_peer(&mut peer, "the upload", |e| {
        e["event"] == "ack" && e["id"] == "up"
    });
    // As in e2e_files: the https form of the bed's plain-http link (fetched over plain http
    // because it names the account's own server override).
    let link = format!(
        "https://{}",
        up["get_url"]
            .as_str()
            .and_then(|u| u.strip_prefix("http://"))
            .expect("http get url")
    );
    peer.send_cmd(&json!({"cmd": "raw", "xml": format!(
        "<message xmlns='jabber:client' to='{me}' type='chat' id='{}'><body>{link}</body>\
         <x xmlns='jabber:x:oob'><url>{link}</url></x></message>",
        random_hex(8)
    )}));
    session.open_conversation(&me, &peer_jid);
    pump_until("the shared file with Download", || {
        row_of(&window, &link)
            .and_then(|r| file_button(&r))
            .is_some_and(|b| b.label().as_deref() == Some("Download"))
    });
    let row = row_of(&window, &link).expect("the row");
    let bar = attachment_row::progress_bar(&row).expect("the progress bar");
    assert!(!bar.is_visible(), "a progress bar before any download");
    // Followed by signals: the download may end between two looks at the window.
    let seen_visible = Rc::new(Cell::new(false));
    let max_fraction = Rc::new(Cell::new(0.0f64));
    let seen = seen_visible.clone();
    bar.connect_visible_notify(move |b| seen.set(seen.get() || b.is_visible()));
    let max = max_fraction.clone();
    bar.connect_fraction_notify(move |b| max.set(max.get().max(b.fraction())));
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "attachment_progress_1_offered");

    file_button(&row).expect("Download").emit_clicked();
    pump_until("the downloaded file with Save…", || {
        row_of(&window, &link)
            .and_then(|r| file_button(&r))
            .is_some_and(|b| b.label().as_deref() == Some("Save…"))
    });
    assert!(seen_visible.get(), "no progress bar during the download");
    assert!(
        max_fraction.get() > 0.0,
        "the progress bar never moved (fraction {})",
        max_fraction.get()
    );
    let row = row_of(&window, &link).expect("the row");
    let bar = attachment_row::progress_bar(&row).expect("the progress bar");
    pump_until("the progress bar gone", || !bar.is_visible());
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "attachment_progress_2_kept");
}
