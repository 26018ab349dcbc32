//! In-process GUI test over a real (offline) profile: the conversation settings' *Share
//! delivery, read and typing status* switch is off by default and turning it on is kept by the
//! core, and so is the account default in the account's settings; own messages show no mark until a `delivered` event
//! (then *Delivered*) and a `displayed` event marks the message and the earlier own ones
//! *Read*; the partner's `typing` shows "typing…" in the header until `paused` or a message.

mod gui_support;

use std::time::Duration;

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::commands::{NewAccount, Secret};
use talpa::core::events::StoredMessage;
use talpa::core::{Command, CoreHandle, Event, Reply};
use talpa::ui::account_settings_dialog::AccountSettingsDialog;
use talpa::ui::chat::MessageRow;
use talpa::ui::conversation_settings_dialog::ConversationSettingsDialog;
use talpa::ui::session_view::SessionView;
use talpa::ui::window::Window;

use gui_support::{find_widget, pump, pump_until, visible_texts};

const ALICE: &str = "alice@talpa.test";
const CAROL: &str = "carol@talpa.test";

#[test]
fn the_share_switch_is_off_by_default_and_marks_and_typing_show_only_after_events() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "the_share_switch_is_off_by_default_and_marks_and_typing_show_only_after_events",
    );
}

fn call(core: &CoreHandle, command: Command) -> Reply {
    let name = command.name();
    glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

fn message(id: i64, direction: &str, body: &str, origin_id: &str) -> StoredMessage {
    StoredMessage {
        id,
        account: ALICE.into(),
        with: CAROL.into(),
        direction: direction.into(),
        from: if direction == "out" { ALICE } else { CAROL }.into(),
        body: body.into(),
        timestamp_ms: 1_700_000_000_000 + id,
        encryption: "omemo2".into(),
        corrected: false,
        retracted: false,
        origin_id: Some(origin_id.into()),
        notes: talpa::core::events::MessageNotes::default(),
    }
}

fn find<T: IsA<gtk4::Window>>(app: &adw::Application) -> Option<T> {
    app.windows()
        .into_iter()
        .find_map(|w| w.downcast::<T>().ok())
}

/// The visible text of the shown row of the message `origin_id` (empty if not shown).
fn row_text(session: &SessionView, origin_id: &str) -> String {
    find_widget::<MessageRow>(session.upcast_ref(), &|r| {
        r.message().is_some_and(|m| m.origin_id() == origin_id)
    })
    .map(|r| visible_texts(r.upcast_ref()))
    .unwrap_or_default()
}

/// The subtitle of the header showing the open conversation.
fn header_subtitle(session: &SessionView) -> String {
    find_widget::<adw::WindowTitle>(session.upcast_ref(), &|t| t.title() == CAROL)
        .map(|t| t.subtitle().to_string())
        .unwrap_or_default()
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let window = Window::new(app, core.clone());
    let core = &core;
    window.set_default_size(1000, 700);
    window.present();
    pump(Duration::from_millis(300));
    call(
        core,
        Command::CreateProfile {
            passphrase: Secret::new("activity test passphrase"),
        },
    );
    call(
        core,
        Command::AddAccount(NewAccount {
            jid: ALICE.into(),
            password: Secret::new("pw"),
            host: Some("127.0.0.1".into()),
            port: Some(9),
            direct_tls: false,
            trust_anchor_pem: None,
            local_only_contacts: false,
            dot_resolver: None,
            retention: Some("1w".into()),
        }),
    );
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("session view");
    window.reload_accounts();
    pump_until("the account list", || !session.account_jids().is_empty());

    session.open_conversation(ALICE, CAROL);
    pump(Duration::from_millis(300));
    window.on_event(&Event::Message(message(1, "out", "first", "oid-1")));
    window.on_event(&Event::Message(message(2, "in", "reply", "their-1")));
    window.on_event(&Event::Message(message(3, "out", "second", "oid-2")));
    window.on_event(&Event::Message(message(4, "out", "third", "oid-3")));
    pump_until("the rows", || row_text(&session, "oid-3").contains("third"));
    for oid in ["oid-1", "oid-2", "oid-3"] {
        let shown = row_text(&session, oid);
        assert!(
            !shown.contains("Delivered") && !shown.contains("Read"),
            "a mark without any event: {shown}"
        );
    }

    // The switch: off by default, on is kept by the core.
    session.show_conversation_settings();
    pump_until("the settings dialog", || {
        find::<ConversationSettingsDialog>(app).is_some()
    });
    let dialog = find::<ConversationSettingsDialog>(app).expect("settings dialog");
    let row = find_widget::<adw::ActionRow>(dialog.upcast_ref(), &|r| {
        r.title() == "Share delivery, read and typing status"
    })
    .expect("the share row");
    assert!(
        row.subtitle()
            .is_some_and(|s| s.contains("outside end-to-end encryption")),
        "the row must say it is not encrypted"
    );
    pump_until("the stored choice", || row.is_sensitive());
    let switch = find_widget::<gtk4::Switch>(row.upcast_ref(), &|_| true).expect("the switch");
    assert!(!switch.is_active(), "sharing must be off by default");
    pump(Duration::from_millis(300));
    gui_support::screenshot(&display, "conversation_settings_share_activity");
    switch.set_active(true);
    pump_until("the core keeps the choice", || {
        matches!(
            call(
                core,
                Command::ConversationPrivacy {
                    account: ALICE.into(),
                    with: Some(CAROL.into()),
                }
            ),
            Reply::ConversationPrivacy {
                share_activity: true,
                ..
            }
        )
    });
    dialog.close();
    pump(Duration::from_millis(200));

    // The account default, in the account's settings: off, and kept when turned on.
    let settings = AccountSettingsDialog::new(core.clone(), &window, ALICE);
    settings.present();
    let default_row = find_widget::<adw::ActionRow>(settings.upcast_ref(), &|r| {
        r.title() == "Share delivery, read and typing status"
    })
    .expect("the account default row");
    pump_until("the stored default", || default_row.is_sensitive());
    let default_switch =
        find_widget::<gtk4::Switch>(default_row.upcast_ref(), &|_| true).expect("the switch");
    assert!(
        !default_switch.is_active(),
        "the account default must be off"
    );
    default_switch.set_active(true);
    pump_until("the core keeps the default", || {
        matches!(
            call(
                core,
                Command::ConversationPrivacy {
                    account: ALICE.into(),
                    with: None,
                }
            ),
            Reply::ConversationPrivacy {
                share_activity: true,
                account_default: true,
            }
        )
    });
    settings.close();
    pump(Duration::from_millis(200));

    // Marks.
    window.on_event(&Event::Delivered {
        account: ALICE.into(),
        with: CAROL.into(),
        message: "oid-2".into(),
    });
    pump_until("the delivered mark", || {
        row_text(&session, "oid-2").contains("Delivered")
    });
    assert!(!row_text(&session, "oid-3").contains("Delivered"));
    window.on_event(&Event::Displayed {
        account: ALICE.into(),
        with: CAROL.into(),
        message: "oid-3".into(),
    });
    pump_until("the read marks", || {
        ["oid-1", "oid-2", "oid-3"]
            .iter()
            .all(|o| row_text(&session, o).contains("Read"))
    });
    assert!(
        !row_text(&session, "their-1").contains("Read"),
        "their message is not ours to mark"
    );

    // Typing.
    let usual = header_subtitle(&session);
    assert_ne!(usual, "typing…");
    let typing = |state: &str| Event::Typing {
        account: ALICE.into(),
        with: CAROL.into(),
        state: state.into(),
    };
    window.on_event(&typing("composing"));
    pump_until("typing…", || header_subtitle(&session) == "typing…");
    pump(Duration::from_millis(200));
    gui_support::screenshot(&display, "conversation_typing_and_read_marks");
    window.on_event(&typing("paused"));
    pump_until("typing ends", || header_subtitle(&session) == usual);
    window.on_event(&typing("composing"));
    pump_until("typing…", || header_subtitle(&session) == "typing…");
    window.on_event(&Event::Message(message(5, "in", "done typing", "their-2")));
    pump_until("a message ends typing", || {
        header_subtitle(&session) == usual
    });
    // Another conversation's typing does not show here.
    window.on_event(&Event::Typing {
        account: ALICE.into(),
        with: "dave@talpa.test".into(),
        state: "composing".into(),
    });
    pump(Duration::from_millis(200));
    assert_eq!(header_subtitle(&session), usual);
}
