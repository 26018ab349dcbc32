//! GNOME's notification path to Talpa: with the application unique on the session bus (as the
//! binary makes it on the default profile, `talpa::ui::application(true)`), GLib's
//! `org.gtk.Notifications` backend hands the notification to the shell — played here by the
//! test on a private bus — and the shell's click, `org.freedesktop.Application.ActivateAction(
//! "open-notified", [target], {})` on `org.talpa.Talpa`, reaches Talpa and opens the newest
//! notified conversation. (A non-unique application owns no bus name: the click would find
//! nobody.)

mod gui_support;

use std::cell::RefCell;
use std::rc::Rc;

use gtk4::prelude::*;
use gtk4::{gio, glib};
use libadwaita as adw;
use talpa::core::events::StoredMessage;
use talpa::core::{CoreHandle, Event};
use talpa::ui::window::Window;

use gui_support::pump_until;

const ALICE: &str = "alice@talpa.test";
const CAROL: &str = "carol@talpa.test";

#[test]
fn gnome_shell_receives_the_notification_and_its_click_opens_the_conversation() {
    if gui_support::is_gui_child() {
        run_unique_app_checks(checks);
        return;
    }
    let bus = gui_support::SessionBus::start();
    gui_support::run_as_gui_child_with_env(
        "gnome_shell_receives_the_notification_and_its_click_opens_the_conversation",
        &[
            ("DBUS_SESSION_BUS_ADDRESS", bus.address.as_str()),
            // GLib's org.gtk.Notifications client (GNOME Shell's interface), which the
            // test's server answers.
            ("GNOTIFICATION_BACKEND", "gtk"),
        ],
    );
}

fn run_unique_app_checks(checks: fn(&adw::Application, CoreHandle)) {
    gui_support::run_checks_in_app(
        || talpa::ui::application(true),
        talpa::core::CoreOptions::new,
        checks,
    );
}

const GTK_NOTIFICATIONS: &str = r#"<node>
  <interface name="org.gtk.Notifications">
    <method name="AddNotification">
      <arg type="s" direction="in"/><arg type="s" direction="in"/>
      <arg type="a{sv}" direction="in"/>
    </method>
    <method name="RemoveNotification">
      <arg type="s" direction="in"/><arg type="s" direction="in"/>
    </method>
  </interface>
</node>"#;

/// One `AddNotification` call: the application id, the notification id and its fields.
#[derive(Clone)]
struct Added {
    app_id: String,
    fields: glib::VariantDict,
}

/// GNOME Shell's notification daemon, played on the private bus by its own connection.
struct Shell {
    connection: gio::DBusConnection,
    added: Rc<RefCell<Vec<Added>>>,
}

impl Shell {
    fn start() -> Shell {
        let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").expect("the private bus");
        let connection = gio::DBusConnection::for_address_sync(
            &address,
            gio::DBusConnectionFlags::AUTHENTICATION_CLIENT
                | gio::DBusConnectionFlags::MESSAGE_BUS_CONNECTION,
            None,
            gio::Cancellable::NONE,
        )
        .expect("connect to the private bus");
        let node = gio::DBusNodeInfo::for_xml(GTK_NOTIFICATIONS).expect("interface XML");
        let interface = node
            .lookup_interface("org.gtk.Notifications")
            .expect("the interface");
        let added: Rc<RefCell<Vec<Added>>> = Rc::default();
        let a = added.clone();
        connection
            .register_object("/org/gtk/Notifications", &interface)
            .method_call(move |_, _, _, _, method, params, invocation| {
                if method == "AddNotification" {
                    a.borrow_mut().push(Added {
                        app_id: params.child_value(0).get().unwrap_or_default(),
                        fields: glib::VariantDict::new(Some(&params.child_value(2))),
                    });
                }
                invocation.return_value(None);
            })
            .build()
            .expect("serve org.gtk.Notifications");
        connection
            .call_sync(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "RequestName",
                Some(&("org.gtk.Notifications", 4_u32).to_variant()),
                None,
                gio::DBusCallFlags::NONE,
                -1,
                gio::Cancellable::NONE,
            )
            .expect("own org.gtk.Notifications");
        Shell { connection, added }
    }

    /// What GNOME Shell does on a click: the notification's default action, called on the
    /// application's bus name (without its `app.` prefix). Answered asynchronously: the
    /// application serves it on this same main loop.
    fn click(
        &self,
        app_id: &str,
        action: &str,
        target: &glib::Variant,
    ) -> Rc<RefCell<Option<bool>>> {
        let done: Rc<RefCell<Option<bool>>> = Rc::default();
        let d = done.clone();
        let name = action.strip_prefix("app.").expect("an application action");
        let params = glib::Variant::tuple_from_iter([
            name.to_variant(),
            glib::Variant::array_from_iter::<glib::Variant>([glib::Variant::from_variant(target)]),
            glib::VariantDict::new(None).end(),
        ]);
        let path = format!("/{}", app_id.replace('.', "/"));
        self.connection.call(
            Some(app_id),
            &path,
            "org.freedesktop.Application",
            "ActivateAction",
            Some(&params),
            None,
            gio::DBusCallFlags::NONE,
            -1,
            gio::Cancellable::NONE,
            move |result| {
                if let Err(e) = &result {
                    println!("ActivateAction failed: {e}");
                }
                *d.borrow_mut() = Some(result.is_ok());
            },
        );
        done
    }
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

#[allow(clippy::needless_pass_by_value)] // the signature run_unique_app_checks expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let shell = Shell::start();
    assert!(
        app.is_registered() && !app.is_remote(),
        "the primary instance"
    );
    let (window, session): (Window, _) =
        gui_support::unlocked_window_with_account(app, core, ALICE, "1w");
    session.open_conversation(ALICE, "grace@talpa.test");
    pump_until("the window to be active", || window.is_active());
    let other = gtk4::Window::builder().title("Another program").build();
    other.present();
    pump_until("the window to be inactive", || !window.is_active());

    window.on_event(&incoming(1, CAROL, "hello"));
    pump_until("the shell to receive the notification", || {
        !shell.added.borrow().is_empty()
    });
    let added = shell
        .added
        .borrow()
        .last()
        .cloned()
        .expect("a notification");
    assert_eq!(
        added.app_id,
        talpa::ui::APP_ID,
        "the shell knows whose it is"
    );
    let action: String = added
        .fields
        .lookup("default-action")
        .ok()
        .flatten()
        .expect("a default (click) action");
    assert_eq!(
        action,
        format!("app.{}", talpa::ui::notifications::OPEN_ACTION)
    );
    let target = added
        .fields
        .lookup_value("default-action-target", None)
        .expect("the click's target");
    assert!(
        target.get::<u64>().is_some(),
        "the target is the notification's number, never an address: {target}"
    );

    let answered = shell.click(&added.app_id, &action, &target);
    pump_until("Talpa to answer the click", || answered.borrow().is_some());
    assert_eq!(
        *answered.borrow(),
        Some(true),
        "ActivateAction reached Talpa"
    );
    pump_until("the click to open the notified conversation", || {
        session
            .conversation_view()
            .is_some_and(|v| v.is_showing(ALICE, CAROL))
    });
    other.destroy();
}
