//! The window never silently misses events: when the core's event stream outruns the window
//! (a flood larger than the broadcast channel's capacity while the GTK loop is busy) the
//! window resynchronises from the core, so the open conversation ends complete and in order
//! and a conversation whose only events were dropped still appears in the sidebar.
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`), with the
//! real core: the messages are queued with `Command::Send` for a disabled account.

mod gui_support;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::commands::{NewAccount, Secret};
use talpa::core::{Command, CoreHandle, Reply};
use talpa::ui::models::MessageObject;
use talpa::ui::window::Window;

use gui_support::{pump_until, visible_texts};

const ACCOUNT: &str = "alice@talpa.test";
const PEER: &str = "carol@talpa.test";
const DAVE: &str = "dave@talpa.test";
/// Messages to `PEER` shown before the flood.
const BEFORE: u32 = 50;
/// Messages then sent only to `DAVE`, first in the flood (their events are the ones the lag
/// drops).
const EARLY: u32 = 200;
/// Messages in all: more than the core's event channel holds (4096).
const FLOOD: u32 = 4_700;

#[test]
fn after_a_lagged_event_stream_the_window_resyncs_complete_and_in_order() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "after_a_lagged_event_stream_the_window_resyncs_complete_and_in_order",
    );
}

fn call(core: &CoreHandle, command: Command) -> Reply {
    let name = command.name();
    gtk4::glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks' signature
fn checks(app: &adw::Application, core: CoreHandle) {
    let window = Window::new(app, core.clone());
    window.present();
    call(
        &core,
        Command::CreateProfile {
            passphrase: Secret::new("gui lag passphrase"),
        },
    );
    call(
        &core,
        Command::AddAccount(NewAccount {
            jid: ACCOUNT.into(),
            password: Secret::new("unused"),
            host: Some("127.0.0.1".into()),
            port: Some(9),
            direct_tls: false,
            trust_anchor_pem: None,
            local_only_contacts: false,
            dot_resolver: None,
            retention: Some("forever".into()),
        }),
    );
    call(
        &core,
        Command::SetAccountEnabled {
            account: ACCOUNT.into(),
            enabled: false,
        },
    );
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("session view");
    window.reload_accounts();
    pump_until("the account listed", || {
        session.account_state(ACCOUNT).is_some()
    });
    session.open_conversation(ACCOUNT, PEER);
    for i in 1..=BEFORE {
        call(
            &core,
            Command::Send {
                account: ACCOUNT.into(),
                to: PEER.into(),
                body: format!("flood {i}"),
            },
        );
    }
    let view = session
        .conversation_view()
        .expect("a conversation view")
        .clone();
    let bodies = || -> Vec<String> {
        view.messages()
            .map(|m| {
                m.iter::<MessageObject>()
                    .flatten()
                    .map(|m| m.body())
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = format!("flood {BEFORE}");
    pump_until("the messages before the flood", || {
        bodies().last() == Some(&before)
    });

    // The flood, from another thread while this (GTK) thread does not run its loop.
    let runtime = tokio::runtime::Handle::current();
    let flooder = core.clone();
    std::thread::spawn(move || {
        runtime.block_on(async {
            for i in BEFORE + 1..=FLOOD {
                let to = if i <= BEFORE + EARLY { DAVE } else { PEER };
                flooder
                    .call(Command::Send {
                        account: ACCOUNT.into(),
                        to: to.into(),
                        body: format!("flood {i}"),
                    })
                    .await
                    .expect("send queued");
            }
        });
    })
    .join()
    .expect("the flood thread");

    let last = format!("flood {FLOOD}");
    pump_until("the newest message in the open conversation", || {
        bodies().last() == Some(&last)
    });
    gui_support::pump(std::time::Duration::from_millis(500));
    let got = bodies();
    let numbers: Vec<u32> = got
        .iter()
        .map(|b| {
            b.strip_prefix("flood ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a message of another conversation: {b:?}"))
        })
        .collect();
    // The conversation's messages in order; what the view shows must be an unbroken tail.
    let all: Vec<u32> = (1..=BEFORE).chain(BEFORE + EARLY + 1..=FLOOD).collect();
    assert!(!numbers.is_empty() && numbers.len() <= all.len());
    assert_eq!(
        numbers,
        all[all.len() - numbers.len()..],
        "the open conversation is not complete and in order after the lag"
    );
    pump_until("the dropped conversation in the sidebar", || {
        visible_texts(window.upcast_ref()).contains(DAVE)
    });
}
