//! The question for a room's password, when joining it again was refused for the lack (or a
//! wrong one) of it: a libadwaita 1.2 `MessageDialog` that belongs to the application
//! (locking destroys it with everything else).

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;

/// What the password question says above the entry: `wrong` when the password typed last
/// time was refused.
pub fn password_body(room: &str, wrong: bool) -> String {
    if wrong {
        format!("Wrong password for {room}. Type it again to join.")
    } else {
        format!("{room} needs a password to join.")
    }
}

/// Asks for `room`'s password over `parent`; `join` gets the typed password when the user
/// chooses *Join* (never called on cancel or an empty entry).
pub fn ask_password(
    parent: &gtk4::Window,
    room: &str,
    wrong: bool,
    join: impl Fn(String) + 'static,
) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(
        Some(parent),
        Some("Room password"),
        Some(&password_body(room, wrong)),
    );
    let entry = gtk4::PasswordEntry::builder()
        .show_peek_icon(true)
        .activates_default(true)
        .build();
    crate::ui::a11y::set_label(&entry, "Room password");
    dialog.set_extra_child(Some(&entry));
    dialog.add_response("cancel", "Cancel");
    dialog.add_response("join", "Join");
    dialog.set_response_appearance("join", adw::ResponseAppearance::Suggested);
    dialog.set_response_enabled("join", false);
    dialog.set_default_response(Some("join"));
    dialog.set_close_response("cancel");
    dialog.set_application(parent.application().as_ref());
    entry.connect_changed(glib::clone!(
        #[weak]
        dialog,
        move |entry| dialog.set_response_enabled("join", !entry.text().is_empty())
    ));
    dialog.connect_response(None, move |dialog, response| {
        if response == "join" && !entry.text().is_empty() {
            let password = entry.text().to_string();
            entry.set_text("");
            join(password);
        }
        dialog.close();
    });
    dialog.present();
    dialog
}
