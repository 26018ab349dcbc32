//! Long addresses in the sidebar stay one line, shortened in the middle, with the whole address
//! in the title's tooltip — they used to wrap over three lines with hyphens inside the address
//! ("guixme-5 / 9745e254 / cb8@talp- / a.test"). Runs as a child of itself on a private Xvfb.

mod gui_support;

use std::time::Duration;

use gtk4::pango;
use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use talpa::core::CoreHandle;

use gui_support::{find_widget, pump};

const ACCOUNT: &str = "a-rather-long-pseudonymous-account-name-5a9c@talpa.example.org";
const PEER: &str = "someone-with-an-even-longer-address-for-testing-0d1e@chat.talpa.example.net";

#[test]
fn long_jids_in_the_sidebar_are_one_line_ellipsized_in_the_middle_with_a_tooltip() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "long_jids_in_the_sidebar_are_one_line_ellipsized_in_the_middle_with_a_tooltip",
    );
}

#[allow(clippy::needless_pass_by_value)] // run_app_checks' signature
fn checks(app: &adw::Application, core: CoreHandle) {
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    let (window, session) = gui_support::unlocked_window_with_account(app, core, ACCOUNT, "1w");
    session.open_conversation(ACCOUNT, PEER);
    pump(Duration::from_millis(500));
    gui_support::screenshot(&display, "sidebar_long_jids");
    for jid in [ACCOUNT, PEER] {
        let row = find_widget::<adw::ActionRow>(session.upcast_ref(), &|r| r.title() == jid)
            .unwrap_or_else(|| panic!("no sidebar row for {jid}"));
        let title = find_widget::<gtk4::Label>(row.upcast_ref(), &|l| {
            l.has_css_class("title") && l.label() == jid
        })
        .unwrap_or_else(|| panic!("no title label in {jid}'s row"));
        assert_eq!(
            title.ellipsize(),
            pango::EllipsizeMode::Middle,
            "{jid} is not shortened in the middle"
        );
        assert!(!title.wraps(), "{jid} still wraps");
        assert_eq!(
            title.tooltip_text().as_deref(),
            Some(jid),
            "the whole address is not in the tooltip"
        );
        assert!(
            title.layout().is_ellipsized(),
            "{jid} fits: the test does not exercise ellipsizing"
        );
        assert_eq!(
            title.layout().line_count(),
            1,
            "{jid} takes more than one line"
        );
    }
    // The conversation's subtitle (its account, a room's reason) wraps at spaces, without
    // hyphens.
    let row = find_widget::<adw::ActionRow>(session.upcast_ref(), &|r| r.title() == PEER)
        .expect("the conversation's row");
    let subtitle = find_widget::<gtk4::Label>(row.upcast_ref(), &|l| l.has_css_class("subtitle"))
        .expect("the subtitle");
    let no_hyphens = subtitle.attributes().is_some_and(|list| {
        list.attributes().iter().any(|a| {
            a.type_() == pango::AttrType::InsertHyphens
                && a.downcast_ref::<pango::AttrInt>()
                    .map(pango::AttrInt::value)
                    == Some(0)
        })
    });
    assert!(
        no_hyphens,
        "the account under the conversation may be hyphenated"
    );
    drop(window);
}
