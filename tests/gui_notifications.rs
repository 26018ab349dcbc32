//! In-process GUI test over a real (offline) profile: notifications say only "New message" by
//! default, name the sender and show the text only once opted in, stay silent for a conversation
//! muted in its settings dialog and after lock; the settings dialog changes the conversation's
//! retention in the core; removing the account (confirmed) erases it and its conversations.
//! Screenshots are kept.

mod gui_support;

use std::rc::Rc;
use std::time::Duration;

use gtk4::glib;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::commands::{NewAccount, Secret};
use talpa::core::events::StoredMessage;
use talpa::core::{Command, CoreHandle, Event, Reply};
use talpa::ui::conversation_settings_dialog::ConversationSettingsDialog;
use talpa::ui::session_view::SessionView;
use talpa::ui::window::Window;

use gui_support::{find_widget, pump, pump_until};

#[test]
fn notifications_hide_content_by_default_and_respect_mute_and_lock() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "notifications_hide_content_by_default_and_respect_mute_and_lock",
    );
}

#[test]
fn a_flood_raises_a_few_notifications_that_count_every_message() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(flood_checks);
        return;
    }
    gui_support::run_as_gui_child("a_flood_raises_a_few_notifications_that_count_every_message");
}

#[test]
fn the_desktop_receives_one_notification_per_burst_and_a_click_opens_the_newest() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(desktop_checks);
        return;
    }
    let bus = gui_support::SessionBus::start();
    gui_support::run_as_gui_child_with_env(
        "the_desktop_receives_one_notification_per_burst_and_a_click_opens_the_newest",
        &[
            ("DBUS_SESSION_BUS_ADDRESS", bus.address.as_str()),
            // GIO's org.freedesktop.Notifications client, which the test's server answers.
            ("GNOTIFICATION_BACKEND", "freedesktop"),
        ],
    );
}

const ALICE: &str = "alice@talpa.test";
/// How many messages each flood brings, spread over `FLOODERS`.
const FLOOD: i64 = 2_000;
/// The last one's conversation is on screen, but the window is inactive.
const FLOODERS: [&str; 3] = ["carol@talpa.test", "dave@talpa.test", "frank@talpa.test"];

fn call(core: &CoreHandle, command: Command) -> Reply {
    let name = command.name();
    glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

fn incoming(id: i64, with: &str, body: &str) -> Event {
    Event::Message(StoredMessage {
        id,
        account: ALICE.into(),
        with: with.into(),
        direction: "in".into(),
        from: with.into(),
        body: body.into(),
        timestamp_ms: 1_700_000_000_000 + id,
        encryption: "none".into(),
        corrected: false,
        retracted: false,
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    })
}

/// What a click on the last notification does: `app.open-notified` with its number.
fn click_last_notification(app: &adw::Application, session: &SessionView) {
    let token = session.last_notification_token().expect("a notification");
    app.activate_action(
        talpa::ui::notifications::OPEN_ACTION,
        Some(&token.to_variant()),
    );
}

fn assert_showing(session: &SessionView, peer: &str) {
    assert!(
        session
            .conversation_view()
            .is_some_and(|v| v.is_showing(ALICE, peer)),
        "the click did not open {peer}, the newest notified conversation"
    );
}

fn find<T: IsA<gtk4::Window>>(app: &adw::Application) -> Option<T> {
    app.windows()
        .into_iter()
        .find_map(|w| w.downcast::<T>().ok())
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let window = Window::new(app, core.clone());
    let core = &core;
    window.set_default_size(1100, 700);
    window.present();
    pump(Duration::from_millis(300));
    call(
        core,
        Command::CreateProfile {
            passphrase: Secret::new("notify test passphrase"),
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

    // Default policy: no sender, no content.
    window.on_event(&incoming(1, "carol@talpa.test", "SECRET carol text"));
    assert_eq!(
        session.last_notification(),
        Some(("Talpa".to_owned(), "New message".to_owned())),
        "the default notification must name neither sender nor content"
    );

    // Mute carol in her conversation's settings; set her retention to one hour there.
    session.open_conversation(ALICE, "carol@talpa.test");
    session.show_conversation_settings();
    pump_until("the settings dialog", || {
        find::<ConversationSettingsDialog>(app).is_some()
    });
    let dialog = find::<ConversationSettingsDialog>(app).expect("settings dialog");
    let combo =
        find_widget::<adw::ComboRow>(dialog.upcast_ref(), &|_| true).expect("the retention row");
    pump_until("the stored retention", || combo.is_sensitive());
    assert_eq!(
        combo.selected(),
        3,
        "the account default (1 week) is not shown"
    );
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "conversation_settings_dialog");
    combo.set_selected(1);
    let switch = find_widget::<gtk4::Switch>(dialog.upcast_ref(), &|_| true)
        .expect("the notification switch");
    assert!(
        switch.is_active(),
        "a new conversation starts with notifications on"
    );
    switch.set_active(false);
    let muted = Rc::new(std::cell::Cell::new(false));
    pump_until("the mute preference in the store", || {
        if let Reply::Preferences { preferences } = call(core, Command::Preferences) {
            muted.set(
                preferences.get("ui.notify.mute:alice@talpa.test:carol@talpa.test")
                    == Some(&"true".to_owned()),
            );
        }
        muted.get()
    });
    let Reply::ConversationRetention {
        retention_override, ..
    } = call(
        core,
        Command::ConversationRetention {
            account: ALICE.into(),
            with: "carol@talpa.test".into(),
        },
    )
    else {
        panic!("conversation_retention answered something else");
    };
    assert_eq!(retention_override.as_deref(), Some("1h"));
    dialog.close();

    // Opt in to sender and text: dave's message shows both, muted carol's raises nothing.
    for key in ["ui.notify.show_sender", "ui.notify.show_body"] {
        call(
            core,
            Command::SetPreference {
                key: key.into(),
                value: Some("true".into()),
            },
        );
    }
    window.reload_preferences();
    pump(Duration::from_millis(500));
    // The first message of a quiet period is shown at once.
    pump_until("a quiet period", || !session.notification_burst_open());
    window.on_event(&incoming(2, "dave@talpa.test", "dave says hi"));
    assert_eq!(
        session.last_notification(),
        Some(("dave@talpa.test".to_owned(), "dave says hi".to_owned()))
    );
    window.on_event(&incoming(3, "erin@talpa.test", "erin text"));
    session.open_conversation(ALICE, "dave@talpa.test");
    window.on_event(&incoming(4, "carol@talpa.test", "muted text"));
    // Erin's message came within the gathering window: it is shown in the update at its end,
    // which no longer counts dave's (opened) and never carol's (muted).
    pump_until("the end of the burst", || {
        !session.notification_burst_open()
    });
    assert_eq!(
        session.last_notification(),
        Some(("erin@talpa.test".to_owned(), "erin text".to_owned())),
        "a muted or opened conversation was counted"
    );
    // Clicking it opens erin's conversation.
    click_last_notification(app, &session);
    assert_showing(&session, "erin@talpa.test");

    // Removing the account (trash button → confirmation) erases it and its conversations.
    WidgetExt::activate_action(&window, "win.remove-account", Some(&ALICE.to_variant()))
        .expect("win.remove-account");
    pump_until("the removal confirmation", || {
        find::<adw::MessageDialog>(app).is_some()
    });
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "remove_account_confirmation");
    find::<adw::MessageDialog>(app)
        .expect("confirmation")
        .response("remove");
    pump_until("the account to be removed", || {
        session.account_jids().is_empty()
    });
    let Reply::Accounts { accounts } = call(core, Command::ListAccounts) else {
        panic!("list_accounts answered something else");
    };
    assert!(accounts.is_empty(), "the core still has {accounts:?}");
    let shown = gui_support::visible_texts(window.upcast_ref());
    assert!(
        !shown.contains("dave@talpa.test") && !shown.contains("dave says hi"),
        "the removed account's conversations are still shown:\n{shown}"
    );

    // Locked: nothing is shown, nothing is raised.
    let weak = session.downgrade();
    drop(session);
    call(core, Command::Lock);
    pump_until("the lock", || !window.is_unlocked());
    window.on_event(&incoming(5, "dave@talpa.test", "after lock"));
    assert!(weak.upgrade().is_none(), "the session outlived the lock");
    assert!(
        !gui_support::visible_texts(window.upcast_ref()).contains("after lock"),
        "a message was shown while locked"
    );
}

/// Floods the inactive window with `FLOOD` messages over `FLOODERS`, waits for the burst to
/// end, and checks how many notifications it raised: the first message's and one update, plus
/// at most one per gathering window the flood itself lasted (none on an idle machine, where it
/// takes milliseconds) — never one per message.
fn flood(window: &Window, session: &SessionView, first_id: i64) {
    let before = session.notifications_raised();
    let started = std::time::Instant::now();
    for id in first_id..first_id + FLOOD {
        let from = FLOODERS[usize::try_from(id).expect("positive") % FLOODERS.len()];
        window.on_event(&incoming(id, from, &format!("flood text {id}")));
    }
    let took = started.elapsed();
    pump_until("the end of the burst", || {
        !session.notification_burst_open()
    });
    let raised = session.notifications_raised() - before;
    let windows = took.as_millis() / talpa::ui::notifications::GATHER_WINDOW.as_millis();
    println!("{FLOOD} messages in {took:?} raised {raised} notifications");
    assert!(
        raised >= 2 && u128::from(raised) <= 2 + windows,
        "{raised} notifications for {FLOOD} messages in {took:?}: not one per gathering window"
    );
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks expects
fn flood_checks(app: &adw::Application, core: CoreHandle) {
    let (window, session) = gui_support::unlocked_window_with_account(app, core, ALICE, "1w");
    session.open_conversation(ALICE, "frank@talpa.test");
    let other = focus_elsewhere(&window);

    // Privacy defaults: one count, no names, no text.
    flood(&window, &session, 1);
    assert_eq!(
        session.last_notification(),
        Some((
            "Talpa".to_owned(),
            "2000 new messages in 3 conversations".to_owned()
        ))
    );

    // Looking at the window starts counting again; with "show who wrote", the update names
    // the conversations (newest first) but shows no text.
    window.present();
    pump_until("the window to be active again", || window.is_active());
    other.present();
    pump_until("the window to be inactive again", || !window.is_active());
    let mut preferences = std::collections::BTreeMap::new();
    preferences.insert("ui.notify.show_sender".to_owned(), "true".to_owned());
    session.apply_preferences(&preferences);
    flood(&window, &session, FLOOD + 1);
    let (title, body) = session.last_notification().expect("a notification");
    assert_eq!(title, "2000 new messages in 3 conversations");
    // The last message (id 2 × FLOOD) came from FLOODERS[(2 × FLOOD) % 3], the one before
    // from the previous flooder, and so on.
    let newest = (2 * FLOOD) as usize % FLOODERS.len();
    let order: Vec<&str> = (0..FLOODERS.len())
        .map(|back| FLOODERS[(newest + FLOODERS.len() - back) % FLOODERS.len()])
        .collect();
    assert_eq!(body, order.join(", "));
    assert!(
        !body.contains("flood text"),
        "the text is shown without opting in"
    );

    // A click opens the newest conversation; with the others opened too, nothing is unseen.
    click_last_notification(app, &session);
    assert_showing(&session, order[0]);
    let raised = session.notifications_raised();
    for peer in &order[1..] {
        session.open_conversation(ALICE, peer);
    }
    pump(Duration::from_millis(100));
    pump_until("the end of the burst", || {
        !session.notification_burst_open()
    });
    assert_eq!(
        session.notifications_raised(),
        raised,
        "opened conversations raised another notification"
    );
}

/// Waits until `window` is active, then gives the focus to another window (returned) so that
/// `window` is inactive, as when the user works in another program.
fn focus_elsewhere(window: &Window) -> gtk4::Window {
    pump_until("the window to be active", || window.is_active());
    let other = gtk4::Window::builder().title("Another program").build();
    other.present();
    pump_until("the window to be inactive", || !window.is_active());
    other
}

/// One `Notify` call the desktop received.
#[derive(Debug, Clone)]
struct Received {
    id: u32,
    summary: String,
    body: String,
    actions: Vec<String>,
}

const NOTIFICATIONS_INTERFACE: &str = r#"<node>
  <interface name="org.freedesktop.Notifications">
    <method name="Notify">
      <arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
      <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
      <arg type="a{sv}" direction="in"/><arg type="i" direction="in"/>
      <arg type="u" direction="out"/>
    </method>
    <method name="CloseNotification"><arg type="u" direction="in"/></method>
    <method name="GetCapabilities"><arg type="as" direction="out"/></method>
    <method name="GetServerInformation">
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
    </method>
    <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
    <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
  </interface>
</node>"#;

/// The desktop's notification server, played by the test on the private session bus (its own
/// connection, served by this main loop): records every call Talpa makes and can click.
struct Desktop {
    connection: gtk4::gio::DBusConnection,
    received: Rc<std::cell::RefCell<Vec<Received>>>,
    closed: Rc<std::cell::Cell<u32>>,
}

impl Desktop {
    fn start() -> Desktop {
        use gtk4::gio;
        let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").expect("the private bus");
        let connection = gio::DBusConnection::for_address_sync(
            &address,
            gio::DBusConnectionFlags::AUTHENTICATION_CLIENT
                | gio::DBusConnectionFlags::MESSAGE_BUS_CONNECTION,
            None,
            gio::Cancellable::NONE,
        )
        .expect("connect to the private bus");
        let node = gio::DBusNodeInfo::for_xml(NOTIFICATIONS_INTERFACE).expect("interface XML");
        let interface = node
            .lookup_interface("org.freedesktop.Notifications")
            .expect("the interface");
        let received: Rc<std::cell::RefCell<Vec<Received>>> = Rc::default();
        let closed: Rc<std::cell::Cell<u32>> = Rc::default();
        let (r, c) = (received.clone(), closed.clone());
        connection
            .register_object("/org/freedesktop/Notifications", &interface)
            .method_call(move |_, _, _, _, method, params, invocation| match method {
                "Notify" => {
                    let text = |i| params.child_value(i).get::<String>().unwrap_or_default();
                    let replaces = params.child_value(1).get::<u32>().unwrap_or_default();
                    let mut r = r.borrow_mut();
                    let id = if replaces == 0 {
                        u32::try_from(r.len()).expect("few") + 1
                    } else {
                        replaces
                    };
                    r.push(Received {
                        id,
                        summary: text(3),
                        body: text(4),
                        actions: params.child_value(5).get().unwrap_or_default(),
                    });
                    invocation.return_value(Some(&(id,).to_variant()));
                }
                "CloseNotification" => {
                    c.set(c.get() + 1);
                    invocation.return_value(None);
                }
                "GetCapabilities" => {
                    invocation.return_value(Some(&(vec!["actions", "body"],).to_variant()));
                }
                "GetServerInformation" => {
                    invocation.return_value(Some(&("test", "talpa", "1", "1.2").to_variant()));
                }
                other => invocation.return_dbus_error(
                    "org.freedesktop.DBus.Error.UnknownMethod",
                    &format!("no method {other}"),
                ),
            })
            .build()
            .expect("serve org.freedesktop.Notifications");
        connection
            .call_sync(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "RequestName",
                Some(&("org.freedesktop.Notifications", 4_u32).to_variant()),
                None,
                gio::DBusCallFlags::NONE,
                -1,
                gio::Cancellable::NONE,
            )
            .expect("own org.freedesktop.Notifications");
        Desktop {
            connection,
            received,
            closed,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.borrow().clone()
    }

    /// What a click on notification `id` does: `ActionInvoked(id, "default")`.
    fn click(&self, id: u32) {
        self.connection
            .emit_signal(
                None,
                "/org/freedesktop/Notifications",
                "org.freedesktop.Notifications",
                "ActionInvoked",
                Some(&(id, "default").to_variant()),
            )
            .expect("emit ActionInvoked");
    }
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks expects
fn desktop_checks(app: &adw::Application, core: CoreHandle) {
    let desktop = Desktop::start();
    let (window, session) = gui_support::unlocked_window_with_account(app, core, ALICE, "1w");
    assert!(
        app.dbus_connection().is_some(),
        "the application is not on the private session bus"
    );
    session.open_conversation(ALICE, "grace@talpa.test");
    let other = focus_elsewhere(&window);

    flood(&window, &session, 1);
    pump_until("the desktop to receive every notification", || {
        desktop.received().len() as u64 == session.notifications_raised()
    });
    pump(Duration::from_millis(300));
    let received = desktop.received();
    println!("the desktop received {received:?}");
    assert_eq!(
        received.len() as u64,
        session.notifications_raised(),
        "not one D-Bus call per notification"
    );
    let last = received.last().expect("a notification");
    assert_eq!(
        (last.summary.as_str(), last.body.as_str()),
        ("Talpa", "2000 new messages in 3 conversations")
    );
    assert!(
        last.actions.iter().any(|a| a == "default"),
        "no default (click) action: {:?}",
        last.actions
    );

    // Looking at the window withdraws the notification.
    window.present();
    pump_until("the window to be active", || window.is_active());
    pump_until("the notification to be withdrawn", || {
        desktop.closed.get() > 0
    });

    // Another flood while the window is inactive again; a click on its notification opens the
    // newest conversation (the last message's). (A clicked notification is gone from the
    // desktop: nothing is left to withdraw.)
    other.present();
    pump_until("the window to be inactive again", || !window.is_active());
    flood(&window, &session, FLOOD + 1);
    pump_until("the desktop to receive every notification", || {
        desktop.received().len() as u64 == session.notifications_raised()
    });
    let last = desktop.received().last().cloned().expect("a notification");
    assert_eq!(last.body, "2000 new messages in 3 conversations");
    let newest = FLOODERS[usize::try_from(2 * FLOOD).expect("positive") % FLOODERS.len()];
    desktop.click(last.id);
    pump_until("the click to open the newest conversation", || {
        session
            .conversation_view()
            .is_some_and(|v| v.is_showing(ALICE, newest))
    });
}
