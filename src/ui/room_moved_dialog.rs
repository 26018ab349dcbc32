//! The offer to follow a destroyed room's owner to the room they suggest instead (XEP-0045
//! `<destroy jid=…>`): a libadwaita 1.2 `MessageDialog` that belongs to the application
//! (locking destroys it with everything else).

use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;

/// Tells that a room was destroyed and offers to join the room its owner suggests
/// (`alternate`); `join` is called when the user accepts.
pub fn suggest_alternate(
    parent: &gtk4::Window,
    text: &str,
    alternate: &str,
    join: impl Fn() + 'static,
) -> adw::MessageDialog {
    let body = format!("{text}. Its owner suggests {alternate} instead.");
    let dialog = adw::MessageDialog::new(Some(parent), Some("Room destroyed"), Some(&body));
    dialog.add_response("close", "Not Now");
    dialog.add_response("join", &format!("Join {alternate}"));
    dialog.set_response_appearance("join", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("close"));
    dialog.set_close_response("close");
    dialog.set_application(parent.application().as_ref());
    dialog.connect_response(None, move |dialog, response| {
        if response == "join" {
            join();
        }
        dialog.close();
    });
    dialog.present();
    dialog
}
