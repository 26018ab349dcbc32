//! The composer's attach button: choose a file and share it in the open conversation
//! (`send_file`: uploaded through Tor, encrypted unless the conversation is plaintext; the
//! message appears when the upload is done). The core reads the file, bounded by the server's
//! limit and 100 MiB, and says clearly when it is too big, empty or unreadable.

use std::cell::RefCell;
use std::rc::Rc;

use gtk4::glib;
use gtk4::prelude::*;
use gtk4::subclass::prelude::ObjectSubclassIsExt;

use crate::core::{Command, Reply};
use crate::ui::chat::ConversationView;

/// Adds the attach button before `view`'s composer (sensitive when the composer is).
pub fn install(view: &ConversationView) {
    let composer = view.imp().composer.get();
    let Some(parent) = composer.parent().and_downcast::<gtk4::Box>() else {
        return;
    };
    let button = gtk4::Button::from_icon_name("mail-attachment-symbolic");
    button.set_tooltip_text(Some("Share a file"));
    crate::ui::a11y::set_label(&button, "Share a file");
    composer
        .bind_property("sensitive", &button, "sensitive")
        .sync_create()
        .build();
    button.connect_clicked(glib::clone!(
        #[weak]
        view,
        move |_| choose(&view)
    ));
    parent.insert_child_after(&button, None::<&gtk4::Widget>);
}

fn choose(view: &ConversationView) {
    let imp = view.imp();
    let (Some((account, to)), Some(core)) =
        (imp.conversation.borrow().clone(), imp.core.get().cloned())
    else {
        return;
    };
    let Some(parent) = view.root().and_downcast::<gtk4::Window>() else {
        return;
    };
    let chooser = gtk4::FileChooserNative::new(
        Some("Share a file"),
        Some(&parent),
        gtk4::FileChooserAction::Open,
        Some("Share"),
        Some("Cancel"),
    );
    let holder: Rc<RefCell<Option<gtk4::FileChooserNative>>> = Rc::default();
    let keep = holder.clone();
    let view = view.clone();
    chooser.connect_response(move |chooser, response| {
        keep.replace(None);
        let path = chooser.file().and_then(|f| f.path());
        let (gtk4::ResponseType::Accept, Some(path)) = (response, path) else {
            return;
        };
        send(&view, core.clone(), account.clone(), to.clone(), path);
    });
    chooser.show();
    holder.replace(Some(chooser));
}

/// Asks the core to share the file at `path`; tells the user when it starts and if it fails
/// at once (a later failure comes as `transfer_failed`).
pub fn send(
    view: &ConversationView,
    core: crate::core::CoreHandle,
    account: String,
    to: String,
    path: std::path::PathBuf,
) {
    let view = view.clone();
    glib::MainContext::default().spawn_local(async move {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let events = core.subscribe();
        let result = core
            .call(Command::SendFile {
                account,
                to,
                path: path.display().to_string(),
            })
            .await;
        match result {
            Ok(Reply::Transfer { transfer }) => {
                crate::ui::toast(&view, &format!("Uploading {name} through Tor…"));
                if let Some(text) =
                    crate::ui::chat::attachment_row::transfer_failure(events, &transfer).await
                {
                    crate::ui::toast(&view, &text);
                }
            }
            Ok(_) => {}
            Err(e) => crate::ui::toast(&view, &crate::ui::user_text::error_text(&e)),
        }
    });
}
