//! In-process GUI test: opening a long conversation shows its newest message on the very first
//! frame that shows the conversation (not a frame laid out at the top followed by a jump), and
//! it stays there once the window is idle — whether another conversation was on screen before,
//! and when switching back and forth between two long conversations. A switch paints no frame
//! with an empty list (the previous rows stay until the new history replaces them), and a
//! message for the conversation being left that arrives during the switch stays in that
//! conversation and never enters the new one. The histories are stored
//! through the real core (sent while the account is offline, so they wait in the outbox) and
//! loaded by the view from the encrypted store, as in the app.
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`).

mod gui_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use gtk4::prelude::*;
use libadwaita as adw;
use talpa::core::commands::{NewAccount, Secret};
use talpa::core::events::StoredMessage;
use talpa::core::{Command, CoreHandle, Event, Reply};
use talpa::ui::chat::{ConversationView, MessageRow};
use talpa::ui::models::MessageObject;
use talpa::ui::window::Window;

use gui_support::{pump, pump_until};

const ALICE: &str = "alice@talpa.test";
/// Two long conversations and a short one.
const BOB: &str = "bob@talpa.test";
const CAROL: &str = "carol@talpa.test";
const DAVE: &str = "dave@talpa.test";
/// Messages stored per long conversation.
const LONG: u32 = 300;

#[test]
fn a_long_conversation_opens_on_its_newest_message_from_the_first_frame() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks(checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_long_conversation_opens_on_its_newest_message_from_the_first_frame",
    );
}

/// Runs `command` on the core from the GTK thread; panics on an error.
fn call(core: &CoreHandle, command: Command) -> Reply {
    let name = command.name();
    gtk4::glib::MainContext::default()
        .block_on(core.call(command))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

fn body(peer: &str, n: u32) -> String {
    let name = peer.split('@').next().unwrap_or(peer);
    format!("to {name} number {n}")
}

/// Where the open conversation's list stands in one frame.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    /// The newest message's row is laid out and wholly inside the viewport.
    newest_visible: bool,
    /// The scroll position is at the adjustment's upper bound.
    at_bottom: bool,
    /// What the newest row showed, and the adjustment (for the failure message).
    detail: String,
}

/// Every `MessageRow` under `widget`.
fn rows(widget: &gtk4::Widget, out: &mut Vec<MessageRow>) {
    if let Some(row) = widget.downcast_ref::<MessageRow>() {
        out.push(row.clone());
        return;
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        rows(&c, out);
        child = c.next_sibling();
    }
}

/// The list's state now, with `newest` the body of the conversation's newest message.
fn frame(view: &ConversationView, newest: &str) -> Frame {
    let scroller = view.scroller();
    let adj = scroller.vadjustment();
    let height = f64::from(scroller.height());
    let mut all = Vec::new();
    rows(view.list_view().upcast_ref(), &mut all);
    let newest_row = all.iter().find(|row| {
        row.is_child_visible()
            && row.is_mapped()
            && row.message().is_some_and(|m| m.body() == newest)
    });
    let bounds = newest_row.and_then(|row| row.compute_bounds(scroller));
    let newest_visible = bounds.is_some_and(|b| {
        f64::from(b.y()) >= -0.5
            && f64::from(b.y() + b.height()) <= height + 0.5
            && b.height() > 0.0
    });
    Frame {
        newest_visible,
        at_bottom: adj.upper() > 0.0 && adj.value() + adj.page_size() >= adj.upper() - 1.0,
        detail: format!(
            "newest row bounds {:?}, viewport height {height}, adjustment value {} page {} \
             upper {}, {} rows alive",
            bounds.map(|b| (b.y(), b.height())),
            adj.value(),
            adj.page_size(),
            adj.upper(),
            all.len()
        ),
    }
}

/// Opens `peer`'s conversation as a click in the sidebar does and returns the first painted
/// frame that shows it (its messages in the model), then the state after the window is idle,
/// and how many frames were painted with an empty list between the click and that first frame.
fn open_and_watch(
    window: &Window,
    view: &ConversationView,
    peer: &str,
    newest: &str,
) -> (Frame, Frame, u32) {
    let clock = window.frame_clock().expect("a realized window");
    let first: Rc<RefCell<Option<Frame>>> = Rc::default();
    let empty_frames: Rc<std::cell::Cell<u32>> = Rc::default();
    let (slot, empties) = (first.clone(), empty_frames.clone());
    let (v, peer_owned, newest_owned) = (view.clone(), peer.to_owned(), newest.to_owned());
    let handler = clock.connect_after_paint(move |_| {
        if slot.borrow().is_some() || !v.is_showing(ALICE, &peer_owned) {
            return;
        }
        if v.messages().is_some_and(|m| m.n_items() == 0) {
            empties.set(empties.get() + 1);
        }
        let shown = v.messages().is_some_and(|m| {
            m.iter::<MessageObject>()
                .flatten()
                .any(|o| o.body() == newest_owned)
        });
        if shown {
            slot.replace(Some(frame(&v, &newest_owned)));
        }
    });
    window
        .session()
        .expect("the session view")
        .open_conversation(ALICE, peer);
    pump_until(&format!("a frame showing {peer}'s conversation"), || {
        first.borrow().is_some()
    });
    clock.disconnect(handler);
    pump(Duration::from_millis(600));
    let first = first.borrow().clone().expect("checked above");
    (first, frame(view, newest), empty_frames.get())
}

fn assert_on_newest(
    what: &str,
    view: &ConversationView,
    peer: &str,
    newest: &str,
    window: &Window,
) {
    let (first, idle, empty_frames) = open_and_watch(window, view, peer, newest);
    println!("{what}: first frame {first:?}; idle {idle:?}; {empty_frames} empty frames");
    // Switching from a conversation on screen keeps its rows until the new ones replace them.
    let from_empty = what.starts_with("dave");
    assert!(
        from_empty || empty_frames == 0,
        "{what}: {empty_frames} frames with an empty list were painted between the click and \
         the conversation's first frame"
    );
    assert!(
        first.newest_visible && first.at_bottom,
        "{what}: the first frame showing the conversation is not on its newest message: {}",
        first.detail
    );
    assert!(
        idle.newest_visible && idle.at_bottom,
        "{what}: once idle, the conversation is not on its newest message: {}",
        idle.detail
    );
    assert!(
        gui_support::visible_texts(view.upcast_ref()).contains(&format!("{newest}\n")),
        "{what}: the newest message's text is not on screen"
    );
}

#[allow(clippy::needless_pass_by_value)] // the signature run_app_checks expects
fn checks(app: &adw::Application, core: CoreHandle) {
    let window = gui_support::locked_window(app, core.clone());
    call(
        &core,
        Command::CreateProfile {
            passphrase: Secret::new("open test passphrase"),
        },
    );
    call(
        &core,
        Command::AddAccount(NewAccount {
            jid: ALICE.into(),
            password: Secret::new("never used"),
            host: Some("127.0.0.1".into()),
            port: Some(9),
            direct_tls: false,
            trust_anchor_pem: None,
            local_only_contacts: false,
            dot_resolver: None,
            retention: Some("forever".into()),
        }),
    );
    pump_until("the session view", || window.is_unlocked());
    let session = window.session().expect("the session view");
    window.reload_accounts();
    pump_until("the account list", || !session.account_jids().is_empty());
    // Stored through the core (the account cannot connect: they wait in the outbox).
    call(
        &core,
        Command::Send {
            account: ALICE.into(),
            to: DAVE.into(),
            body: body(DAVE, 1),
        },
    );
    for n in 1..=LONG {
        for peer in [BOB, CAROL] {
            call(
                &core,
                Command::Send {
                    account: ALICE.into(),
                    to: peer.into(),
                    body: body(peer, n),
                },
            );
        }
    }
    pump(Duration::from_millis(300));
    let view = session
        .conversation_view()
        .expect("a conversation view")
        .clone();
    let display = std::env::var("DISPLAY").expect("DISPLAY set by the parent");

    // A short conversation is on screen, then a long one opens (as in the benchmark).
    assert_on_newest(
        "dave's short conversation",
        &view,
        DAVE,
        &body(DAVE, 1),
        &window,
    );
    assert_on_newest(
        "bob's long conversation, opened from dave's",
        &view,
        BOB,
        &body(BOB, LONG),
        &window,
    );
    gui_support::screenshot(&display, "open_long_conversation");
    // Back and forth between two long conversations.
    for round in 0..2 {
        assert_on_newest(
            &format!("carol's long conversation, from bob's (round {round})"),
            &view,
            CAROL,
            &body(CAROL, LONG),
            &window,
        );
        assert_on_newest(
            &format!("bob's long conversation, from carol's (round {round})"),
            &view,
            BOB,
            &body(BOB, LONG),
            &window,
        );
    }

    // A reader who scrolled up is not pulled down by a new message, and the view follows
    // again once they are back at the bottom.
    let adj = view.scroller().vadjustment();
    let page = adj.page_size();
    adj.set_value((adj.upper() - 2.5 * page).max(1.0));
    pump(Duration::from_millis(300));
    let reading = adj.value();
    assert!(
        reading + page < adj.upper() - 1.0,
        "the test could not scroll up"
    );
    call(
        &core,
        Command::Send {
            account: ALICE.into(),
            to: BOB.into(),
            body: body(BOB, LONG + 1),
        },
    );
    pump(Duration::from_millis(600));
    let after = frame(&view, &body(BOB, LONG + 1));
    assert!(
        !after.at_bottom && !after.newest_visible,
        "a reader who scrolled up was pulled down to a new message: {}",
        after.detail
    );
    // Leaving and coming back opens on the newest again, the new message included.
    assert_on_newest(
        "carol's long conversation, after reading bob's history",
        &view,
        CAROL,
        &body(CAROL, LONG),
        &window,
    );
    assert_on_newest(
        "bob's long conversation, with the message that came while reading",
        &view,
        BOB,
        &body(BOB, LONG + 1),
        &window,
    );

    // A message for the conversation being left, arriving during the switch (between the click
    // and the new history), stays in the old conversation and never enters the new one: one
    // delivered as an event right after the click (before any reply can arrive), one sent
    // through the core.
    let late_event = "late for bob, as an event";
    session.open_conversation(ALICE, CAROL);
    session.handle_event(&Event::Message(StoredMessage {
        id: i64::from(u32::MAX),
        account: ALICE.into(),
        with: BOB.into(),
        direction: "out".into(),
        from: ALICE.into(),
        body: late_event.into(),
        timestamp_ms: 1,
        encryption: "none".into(),
        corrected: false,
        retracted: false,
        origin_id: None,
        notes: talpa::core::events::MessageNotes::default(),
    }));
    let late_sent = body(BOB, LONG + 2);
    let (sender, send) = (
        core.clone(),
        Command::Send {
            account: ALICE.into(),
            to: BOB.into(),
            body: late_sent.clone(),
        },
    );
    gtk4::glib::MainContext::default().spawn_local(async move {
        sender
            .call(send)
            .await
            .expect("the late message to bob is stored");
    });
    let carol_newest = body(CAROL, LONG);
    pump_until("carol's history", || {
        view.messages().is_some_and(|m| {
            m.iter::<MessageObject>()
                .flatten()
                .any(|o| o.body() == carol_newest)
        })
    });
    pump(Duration::from_millis(600));
    let strays: Vec<String> = view
        .messages()
        .expect("the model")
        .iter::<MessageObject>()
        .flatten()
        .map(|o| o.body())
        .filter(|b| !b.starts_with("to carol"))
        .collect();
    assert!(
        strays.is_empty(),
        "messages of the conversation being left entered the new one: {strays:?}"
    );
    assert_on_newest(
        "bob's long conversation, with the message sent while switching away",
        &view,
        BOB,
        &late_sent,
        &window,
    );

    // The keyboard focus on a message's text never outlives the message's row: GTK 4.8 drops
    // the row widget of a removed item but can leave the window's focus on the row's label, and
    // the next focus move then walks freed widgets (a critical, fatal here). Neither when
    // another conversation's history replaces the rows, nor when new messages slide the window
    // past the focused row.
    focus_row_text(&window, &view, "bob's first row in the window");
    assert_on_newest(
        "dave's short conversation, opened with the focus on a message of bob's",
        &view,
        DAVE,
        &body(DAVE, 1),
        &window,
    );
    assert_focus_attached(&window, "after dave's history replaced bob's rows");
    assert_on_newest(
        "carol's long conversation, after dave's",
        &view,
        CAROL,
        &body(CAROL, LONG),
        &window,
    );
    focus_row_text(&window, &view, "carol's first row in the window");
    for n in 1..=3 {
        call(
            &core,
            Command::Send {
                account: ALICE.into(),
                to: CAROL.into(),
                body: body(CAROL, LONG + n),
            },
        );
    }
    pump_until("carol's new messages", || {
        frame(&view, &body(CAROL, LONG + 3)).newest_visible
    });
    pump(Duration::from_millis(300));
    assert_focus_attached(
        &window,
        "after new messages slid the window past the focused row",
    );
}

/// Puts the keyboard focus on the selectable text of the row showing the first message of the
/// list's window (the row that leaves first when the window slides on).
fn focus_row_text(window: &Window, view: &ConversationView, what: &str) {
    let first = view
        .messages()
        .and_then(|m| m.item(view.window_range().0))
        .and_downcast::<MessageObject>()
        .expect("a message in the window");
    let mut all = Vec::new();
    rows(view.list_view().upcast_ref(), &mut all);
    let row = all
        .iter()
        .find(|r| r.message().is_some_and(|m| m.id() == first.id()))
        .unwrap_or_else(|| panic!("{what}: no row widget for the window's first message"));
    let label = selectable_label(row.upcast_ref())
        .unwrap_or_else(|| panic!("{what}: the row has no selectable text"));
    assert!(
        label.grab_focus(),
        "{what}: the text did not take the focus"
    );
    assert_eq!(
        gtk4::prelude::GtkWindowExt::focus(window).as_ref(),
        Some(label.upcast_ref::<gtk4::Widget>()),
        "{what}: the focus is not on the row's text"
    );
}

/// The first selectable label under `widget`.
fn selectable_label(widget: &gtk4::Widget) -> Option<gtk4::Label> {
    if let Some(label) = widget.downcast_ref::<gtk4::Label>()
        && label.is_selectable()
    {
        return Some(label.clone());
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        if let Some(found) = selectable_label(&c) {
            return Some(found);
        }
        child = c.next_sibling();
    }
    None
}

/// The window's focus, if any, is on a widget inside the window, and moving it around (as Tab
/// does) walks only live widgets.
fn assert_focus_attached(window: &Window, what: &str) {
    for step in 0..4 {
        if let Some(focus) = gtk4::prelude::GtkWindowExt::focus(window) {
            assert!(
                focus.root().is_some(),
                "{what}: the window's focus is on a {} that is no longer in the window (step \
                 {step})",
                focus.type_().name()
            );
        }
        window.child_focus(gtk4::DirectionType::TabForward);
    }
}
