//! An account that cannot connect says why in the window: the notice carries the core's reason
//! (a wrong password, say) and the account row keeps it as its tooltip, not a bare "Error".
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`).

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::{CoreHandle, Event};

use gui_support::pump;

const ACCOUNT: &str = "mole@talpa.test";
const WHY: &str = "authentication failed: not-authorized";

#[test]
fn a_failed_login_shows_its_reason_in_the_notice_and_on_the_account_row() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_failed_login_shows_its_reason_in_the_notice_and_on_the_account_row",
    );
}

fn checks(app: &adw::Application, core: CoreHandle) {
    let (window, session) = gui_support::unlocked_window_with_account(app, core, ACCOUNT, "1w");
    pump(Duration::from_millis(300));
    window.on_event(&Event::AccountState {
        account: ACCOUNT.to_owned(),
        state: "error".to_owned(),
        detail: Some(WHY.to_owned()),
        unreachable: None,
    });
    pump(Duration::from_millis(300));
    assert!(
        window
            .toast_titles()
            .iter()
            .any(|t| t.contains(ACCOUNT) && t.contains(WHY)),
        "the notice does not say why: {:?}",
        window.toast_titles()
    );
    let row =
        gui_support::find_widget::<adw::ActionRow>(session.upcast_ref(), &|r| r.title() == ACCOUNT)
            .expect("the account's row");
    assert_eq!(row.subtitle().as_deref(), Some("Error"));
    assert_eq!(row.tooltip_text().as_deref(), Some(WHY));

    // A server that keeps sending what the stanza guard refuses: the account stops, and says so.
    let refused = talpa::xmpp::XmppError::ServerInputRefused { times: 3 }.to_string();
    window.on_event(&Event::AccountState {
        account: ACCOUNT.to_owned(),
        state: "input_refused".to_owned(),
        detail: Some(refused.clone()),
        unreachable: None,
    });
    pump(Duration::from_millis(300));
    assert!(
        window
            .toast_titles()
            .iter()
            .any(|t| t.contains(ACCOUNT) && t.contains("will not try again")),
        "the notice does not say the account stopped: {:?}",
        window.toast_titles()
    );
    assert_eq!(
        row.subtitle().as_deref(),
        Some("Stopped: server sends unreadable data")
    );
    assert_eq!(row.tooltip_text().as_deref(), Some(refused.as_str()));
}
