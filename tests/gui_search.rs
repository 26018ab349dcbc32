//! Message search in the window: Ctrl+F opens it, words typed in its search entry list the
//! stored messages that contain them (newest first, matches highlighted, the hostile text
//! shown as text), it can be narrowed to the open conversation, and activating a result opens
//! that conversation scrolled back to the message, highlighted for a moment — also one more
//! than 10,000 messages back; locking closes it. In-process, with the real core on a temporary profile (no server
//! needed: the messages wait in the outbox, stored).
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`).

mod gui_support;

use std::time::Duration;

use gtk4::prelude::*;

use talpa::core::commands::{NewAccount, Secret};
use talpa::core::{Command, CoreHandle, CoreOptions};
use talpa::ui::chat::{ConversationView, MessageRow, found_message};
use talpa::ui::models::MessageObject;
use talpa::ui::search_dialog::SearchDialog;

use gui_support::pump_until;
use libadwaita as adw;

const ACCOUNT: &str = "mole@talpa.test";
const CAROL: &str = "carol@talpa.test";
const DAVE: &str = "dave@talpa.test";

#[test]
fn typing_in_the_search_lists_stored_messages_and_a_result_opens_its_conversation() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(options, checks);
        return;
    }
    gui_support::run_as_gui_child(
        "typing_in_the_search_lists_stored_messages_and_a_result_opens_its_conversation",
    );
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

fn send(core: &CoreHandle, to: &str, body: &str) {
    call(
        core,
        Command::Send {
            account: ACCOUNT.to_owned(),
            to: to.to_owned(),
            body: body.to_owned(),
        },
    );
}

/// The bodies of the rows highlighted as found.
fn found_rows(view: &ConversationView) -> Vec<String> {
    fn walk(w: &gtk4::Widget, out: &mut Vec<String>) {
        if let Some(row) = w.downcast_ref::<MessageRow>() {
            if row.has_css_class(found_message::CLASS) {
                out.push(row.message().map(|m| m.body()).unwrap_or_default());
            }
            return;
        }
        let mut child = w.first_child();
        while let Some(c) = child {
            walk(&c, out);
            child = c.next_sibling();
        }
    }
    let mut out = Vec::new();
    walk(view.list_view().upcast_ref(), &mut out);
    out
}

fn find_dialog(app: &adw::Application) -> Option<SearchDialog> {
    app.windows()
        .into_iter()
        .find_map(|w| w.downcast::<SearchDialog>().ok())
}

fn checks(app: &adw::Application, core: CoreHandle) {
    call(
        &core,
        Command::CreateProfile {
            passphrase: Secret::new("search"),
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
    send(&core, CAROL, "the Vole digs <b>deep</b> & wide");
    // Enough newer messages that the found one is not on the page a conversation opens with.
    for i in 0..120 {
        send(&core, CAROL, &format!("filler {i}"));
    }
    send(&core, DAVE, "a vole in the garden");
    send(&core, DAVE, "nothing here");
    call(&core, Command::Lock);

    let handle = core.clone();
    let window = gui_support::locked_window(app, core);
    call(
        &handle,
        Command::Unlock {
            passphrase: Secret::new("search"),
        },
    );
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("session view");
    pump_until("the account in the sidebar", || {
        session.account_jids() == [ACCOUNT]
    });

    assert!(
        app.accels_for_action("win.search")
            .iter()
            .any(|a| a == "<Control>f"),
        "Ctrl+F opens the search"
    );
    WidgetExt::activate_action(&window, "win.search", None).expect("the search action");
    pump_until("the search dialog", || find_dialog(app).is_some());
    let dialog = find_dialog(app).expect("search dialog");
    dialog.search_entry().set_text("VOLE");
    pump_until("two results", || dialog.n_results() == 2);
    assert_eq!(
        dialog.snippets(),
        ["a vole in the garden", "the Vole digs <b>deep</b> & wide"],
        "newest first, current text, verbatim"
    );
    let texts = gui_support::visible_texts(dialog.upcast_ref());
    assert!(
        texts.contains("the Vole digs <b>deep</b> & wide"),
        "the markup in the body is shown as text: {texts}"
    );
    assert!(texts.contains(CAROL) && texts.contains(DAVE), "{texts}");
    let highlighted = gui_support::find_widget::<gtk4::Label>(dialog.upcast_ref(), &|l| {
        l.text() == "a vole in the garden"
    })
    .and_then(|l| l.attributes())
    .expect("the snippet has highlight attributes");
    let first = highlighted
        .attributes()
        .into_iter()
        .next()
        .expect("one highlight");
    assert_eq!((first.start_index(), first.end_index()), (2, 6), "'vole'");
    assert_eq!(
        gui_support::unlabelled(dialog.upcast_ref()),
        Vec::<String>::new(),
        "every control of the search has an accessible name"
    );
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    gui_support::screenshot(&display, "search_dialog");

    // 120 hits come in pages of 50, newest first, with "Show Older Results" for the rest.
    dialog.search_entry().set_text("filler");
    pump_until("the first page", || dialog.n_results() == 50);
    assert_eq!(dialog.snippets()[0], "filler 119");
    let more = gui_support::find_widget::<gtk4::Button>(dialog.upcast_ref(), &|b| {
        b.label().is_some_and(|l| l == "Show Older Results")
    })
    .expect("the more button");
    assert!(more.is_visible());
    more.emit_clicked();
    pump_until("the second page", || dialog.n_results() == 100);
    more.emit_clicked();
    pump_until("every hit", || dialog.n_results() == 120);
    assert!(!more.is_visible(), "nothing older");
    let expected: Vec<String> = (0..120).rev().map(|i| format!("filler {i}")).collect();
    assert_eq!(dialog.snippets(), expected, "each once, newest first");

    dialog.search_entry().set_text("vole garden");
    pump_until("one result for both words", || dialog.n_results() == 1);
    dialog.search_entry().set_text("badger");
    pump_until("no result", || {
        dialog.status().starts_with("No stored message")
    });

    // Activating Carol's message opens her conversation and closes the search.
    dialog.search_entry().set_text("vole");
    pump_until("two results again", || dialog.n_results() == 2);
    let list = gui_support::find_widget::<gtk4::ListBox>(dialog.upcast_ref(), &|_| true)
        .expect("result list");
    let row = list.row_at_index(1).expect("Carol's result");
    list.emit_by_name::<()>("row-activated", &[&row]);
    pump_until("Carol's conversation open", || {
        session
            .conversation_view()
            .is_some_and(|v| v.is_showing(ACCOUNT, CAROL))
    });
    pump_until("the search closed", || find_dialog(app).is_none());
    // ... scrolled back to the message found, 120 messages up.
    let view = session.conversation_view().expect("conversation view");
    pump_until("the message found shown in the conversation", || {
        let Some(store) = view.messages() else {
            return false;
        };
        let index = store
            .iter::<MessageObject>()
            .flatten()
            .position(|m| m.body().starts_with("the Vole digs"));
        let (offset, len) = view.window_range();
        // The oldest message: the list shows it at the very top.
        index == Some(0) && offset == 0 && len > 0 && view.scroller().vadjustment().value() < 1.0
    });
    gui_support::pump(Duration::from_millis(500));
    assert!(
        view.window_range().0 == 0 && view.scroller().vadjustment().value() < 1.0,
        "the list stays on the message found: window {:?}, scrolled to {}",
        view.window_range(),
        view.scroller().vadjustment().value()
    );
    // ... and highlighted for a moment.
    pump_until("the message found highlighted", || {
        found_rows(view) == ["the Vole digs <b>deep</b> & wide"]
    });
    gui_support::screenshot(&display, "search_result_revealed");
    pump_until("the highlight gone after a few seconds", || {
        found_rows(view).is_empty()
    });

    // Narrowed to the open conversation (Carol's), Dave's message is not listed.
    window.search_messages();
    pump_until("the search dialog again", || find_dialog(app).is_some());
    let dialog = find_dialog(app).expect("search dialog");
    dialog.set_only_open_conversation(true);
    dialog.search_entry().set_text("vole");
    pump_until("only Carol's message", || {
        dialog.snippets() == ["the Vole digs <b>deep</b> & wide"]
    });

    // Locking takes the results (message text) off the screen with the rest.
    window.lock();
    pump_until("the search gone at lock", || find_dialog(app).is_none());
}

/// Messages newer than the one searched for in the long conversation.
const NEWER: i64 = 10_500;

#[test]
fn a_result_more_than_ten_thousand_messages_back_opens_at_the_result() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(long_history, far_back_checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_result_more_than_ten_thousand_messages_back_opens_at_the_result",
    );
}

/// A locked profile whose conversation with Carol holds the needle, then `NEWER` messages.
fn long_history(dir: std::path::PathBuf) -> CoreOptions {
    use talpa::store::{ConversationKind, Direction, NewMessage, Passphrase, Profile};
    let mut store = Profile::create(&dir, &Passphrase::from("search")).expect("create profile");
    let account = store
        .add_account(
            &talpa::store::NewAccount::new(ACCOUNT, zeroize::Zeroizing::new("pw".to_owned())),
            chrono::Utc::now(),
        )
        .expect("account");
    let now = chrono::Utc::now();
    let conv = store
        .upsert_conversation(account, CAROL, ConversationKind::Chat, now)
        .expect("conversation");
    let start = now - chrono::Duration::seconds(NEWER + 10);
    let message = |i: i64, body: String| {
        NewMessage::new(
            conv,
            Direction::Incoming,
            CAROL,
            Some(body),
            start + chrono::Duration::seconds(i),
        )
    };
    let mut all = vec![message(0, "the needle in the haystack".to_owned())];
    all.extend((1..=NEWER).map(|i| message(i, format!("hay {i}"))));
    store.insert_messages(&all, now).expect("insert");
    let dave = store
        .upsert_conversation(account, DAVE, ConversationKind::Chat, now)
        .expect("conversation");
    let hello = NewMessage::new(dave, Direction::Incoming, DAVE, Some("hello".into()), now);
    store.insert_message(&hello, now).expect("insert");
    store.lock().expect("lock");
    options(dir)
}

fn far_back_checks(app: &adw::Application, core: CoreHandle) {
    let handle = core.clone();
    let window = gui_support::locked_window(app, core);
    call(
        &handle,
        Command::Unlock {
            passphrase: Secret::new("search"),
        },
    );
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("session view");
    pump_until("the account in the sidebar", || {
        session.account_jids() == [ACCOUNT]
    });
    window.search_messages();
    pump_until("the search dialog", || find_dialog(app).is_some());
    let dialog = find_dialog(app).expect("search dialog");
    dialog.search_entry().set_text("NEEDLE");
    pump_until("the needle found", || dialog.n_results() == 1);
    dialog.choose(0);
    pump_until("Carol's conversation open", || {
        session
            .conversation_view()
            .is_some_and(|v| v.is_showing(ACCOUNT, CAROL))
    });
    let view = session.conversation_view().expect("conversation view");
    pump_until("the needle shown at the top, highlighted", || {
        let Some(store) = view.messages() else {
            return false;
        };
        let first = store.item(0).and_downcast::<MessageObject>();
        let (offset, len) = view.window_range();
        first.is_some_and(|m| m.body() == "the needle in the haystack")
            && offset == 0
            && len > 0
            && view.scroller().vadjustment().value() < 1.0
            && found_rows(view) == ["the needle in the haystack"]
    });
    assert_eq!(
        view.messages().map(gtk4::prelude::ListModelExt::n_items),
        Some(u32::try_from(NEWER + 1).expect("count")),
        "every message from the needle to the newest is loaded, each once"
    );
    assert!(
        window.toast_titles().is_empty(),
        "no complaint: {:?}",
        window.toast_titles()
    );
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");
    gui_support::screenshot(&display, "search_result_far_back");

    // A result erased between the search and the choice: said so.
    window.search_messages();
    pump_until("the search dialog again", || find_dialog(app).is_some());
    let dialog = find_dialog(app).expect("search dialog");
    dialog.search_entry().set_text("needle");
    pump_until("the needle found again", || dialog.n_results() == 1);
    call(
        &handle,
        Command::ClearHistory {
            account: Some(ACCOUNT.to_owned()),
            with: Some(CAROL.to_owned()),
        },
    );
    // Opened from the store again (not from the rows still on screen).
    session.open_conversation(ACCOUNT, DAVE);
    pump_until("Dave's conversation open", || {
        view.is_showing(ACCOUNT, DAVE) && !view.is_opening()
    });
    dialog.choose(0);
    pump_until("the user told the message cannot be shown", || {
        window
            .toast_titles()
            .iter()
            .any(|t| t.starts_with("The message found cannot be shown"))
    });
}
