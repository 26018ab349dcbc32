//! A server the bed's Tor exit cannot reach (a closed port on 127.0.0.1) is told in the window
//! in plain language — "The server did not answer through Tor (connection refused by the exit
//! …)" — in the notice (the account row's tooltip then says when the next attempt is), never
//! as a Tor protocol error.
//! Against the real bed; runs as a child of itself on a private Xvfb.

mod gui_bed_support;
mod gui_support;
mod support;

use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::commands::{NewAccount, Secret};
use talpa::core::{Command, CoreHandle};
use talpa::ui::window::Window;

use gui_bed_support::{bed_options, call};
use gui_support::pump_until;
use support::bed;

const PLAIN: &str = "The server did not answer through Tor (connection refused by the exit";

#[test]
fn a_closed_server_port_is_told_plainly_in_the_notice_and_on_the_account_row() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(bed_options, checks);
        return;
    }
    let _ = bed();
    gui_support::run_as_gui_child(
        "a_closed_server_port_is_told_plainly_in_the_notice_and_on_the_account_row",
    );
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks_with's signature
fn checks(app: &adw::Application, core: CoreHandle) {
    let bed = bed();
    let (jid, password) = bed.new_account("guiclosed");
    let window = Window::new(app, core.clone());
    window.present();
    call(
        &core,
        Command::CreateProfile {
            passphrase: Secret::new("gui unreachable"),
        },
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    call(
        &core,
        Command::AddAccount(NewAccount {
            jid: jid.clone(),
            password: Secret::new(&password),
            host: Some("127.0.0.1".to_owned()),
            port: Some(port),
            direct_tls: false,
            trust_anchor_pem: Some(std::fs::read_to_string(&bed.ca_cert).expect("the bed's CA")),
            local_only_contacts: false,
            dot_resolver: None,
            retention: None,
        }),
    );
    pump_until("the session view", || window.is_unlocked());
    window.reload_accounts();
    let session = window.session().expect("session view");
    pump_until("the plain notice", || {
        window
            .toast_titles()
            .iter()
            .any(|t| t.starts_with(&format!("{jid}: {PLAIN}")))
    });
    let titles = window.toast_titles();
    assert!(
        !titles.iter().any(|t| t.to_lowercase().contains("protocol")),
        "told as a protocol error: {titles:?}"
    );
    assert!(
        gui_support::find_widget::<adw::ActionRow>(session.upcast_ref(), &|r| {
            r.title() == jid.as_str()
        })
        .is_some(),
        "no row for the account"
    );
}
