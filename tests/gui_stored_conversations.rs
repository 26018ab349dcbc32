//! After an unlock the sidebar lists the conversations kept in the profile, not only those that
//! get a new message: a restarted Talpa shows where the user left off. In-process, with the
//! real core on a temporary profile (no server needed: the message waits in the outbox).
//! An address typed with capitals opens the conversation under the form the core stores.
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`).

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;

use talpa::core::commands::{NewAccount, Secret};
use talpa::core::{Command, CoreHandle, CoreOptions};
use talpa::ui::models::ConversationObject;

use gui_support::pump_until;
use libadwaita as adw;

const ACCOUNT: &str = "mole@talpa.test";
const PEER: &str = "carol@talpa.test";

#[test]
fn unlocking_lists_the_stored_conversations_in_the_sidebar() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(options, checks);
        return;
    }
    gui_support::run_as_gui_child("unlocking_lists_the_stored_conversations_in_the_sidebar");
}

/// The account never connects during the test (an hour's start-up delay).
fn options(profile: std::path::PathBuf) -> CoreOptions {
    let mut options = CoreOptions::new(profile);
    options.startup_jitter = Duration::from_secs(3600);
    options
}

fn call(core: &CoreHandle, command: Command) {
    let name = command.name();
    gtk4::glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"));
}

fn checks(app: &adw::Application, core: CoreHandle) {
    // A profile with one conversation, written before the window exists; then locked.
    call(
        &core,
        Command::CreateProfile {
            passphrase: Secret::new("listed"),
        },
    );
    call(
        &core,
        Command::AddAccount(NewAccount {
            jid: ACCOUNT.to_owned(),
            password: Secret::new("pw"),
            host: None,
            port: None,
            direct_tls: false,
            trust_anchor_pem: None,
            local_only_contacts: false,
            dot_resolver: None,
            retention: None,
        }),
    );
    call(
        &core,
        Command::Send {
            account: ACCOUNT.to_owned(),
            to: PEER.to_owned(),
            body: "where we left off".to_owned(),
        },
    );
    call(&core, Command::Lock);

    let handle = core.clone();
    let window = gui_support::locked_window(app, core);
    call(
        &handle,
        Command::Unlock {
            passphrase: Secret::new("listed"),
        },
    );
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("session view");
    let model = session.conversations_model().expect("conversation list");
    pump_until("the stored conversation in the sidebar", || {
        model
            .iter::<ConversationObject>()
            .flatten()
            .any(|c| c.is(ACCOUNT, PEER))
    });
}

#[test]
fn an_address_typed_with_capitals_opens_the_conversation_its_messages_arrive_in() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(typed_address_checks);
        return;
    }
    gui_support::run_as_gui_child(
        "an_address_typed_with_capitals_opens_the_conversation_its_messages_arrive_in",
    );
}

fn typed_address_checks(app: &adw::Application, core: CoreHandle) {
    let (_window, session) = gui_support::unlocked_window_with_account(app, core, ACCOUNT, "1w");
    gui_support::pump(Duration::from_millis(300));
    let entry = gui_support::find_widget::<gtk4::Entry>(session.upcast_ref(), &|e| {
        e.placeholder_text()
            .is_some_and(|p| p.starts_with("Chat with"))
    })
    .expect("the address entry");
    entry.set_text("  Carol@Talpa.TEST ");
    entry.emit_activate();
    gui_support::pump(Duration::from_millis(300));
    let model = session.conversations_model().expect("conversation list");
    let peers: Vec<bool> = model
        .iter::<ConversationObject>()
        .flatten()
        .map(|c| c.is(ACCOUNT, PEER))
        .collect();
    assert_eq!(
        peers,
        vec![true],
        "one conversation, under the address the core uses"
    );
    // What the user types next goes into the message box, not the address field or a row.
    let view = session.conversation_view().expect("conversation view");
    assert!(
        view.composer_has_focus(),
        "the message box has the keyboard focus after opening from the address field"
    );
}
