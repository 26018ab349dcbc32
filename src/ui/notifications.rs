//! Desktop notifications through `GNotification`, with privacy defaults: a notification says
//! only "New message" unless the user opted in to the sender and/or the text; muted
//! conversations and a locked profile raise none. Opted in to the sender, a contact the user
//! named is called by that name ([`contact_label`]); without that opt-in no name is kept or
//! shown either.
//!
//! A flood is coalesced ([`Coalescer`], pure and tested with a fake clock): the first message of
//! a quiet period is notified at once; what arrives within [`GATHER_WINDOW`] after a
//! notification is only counted, and one update at the end of the window says how many
//! messages in how many conversations. Counting starts again when the window becomes active or
//! the conversations are opened. Per message the GTK thread only updates a counter; D-Bus is
//! called at most once per window. [`Notifier`] drives the coalescer on the GTK main loop.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use gtk4::prelude::*;
use gtk4::{gio, glib};

use crate::core::events::StoredMessage;

/// The one notification id Talpa uses: an update replaces the previous notification, and
/// locking (or looking at the window) withdraws it.
pub const NOTIFICATION_ID: &str = "talpa-new-message";

/// The application action a click on the notification activates, with the notification's
/// opaque number as its target (never a JID: the notification daemon keeps what it is given).
pub const OPEN_ACTION: &str = "open-notified";

/// After a notification, further messages are gathered this long and then shown in one update:
/// at most one notification (one D-Bus call, one pop-up) per window, however fast they come.
pub const GATHER_WINDOW: Duration = Duration::from_secs(2);

/// How many conversations an update names (with "show who wrote"), newest first.
pub const NAMED_CONVERSATIONS: usize = 3;

/// Preference keys (kept in the encrypted store through `Command::SetPreference`).
pub mod keys {
    /// `true`/`false`: notifications at all (default on).
    pub const ENABLED: &str = "ui.notify.enabled";
    /// `true`/`false`: name the sender (default off).
    pub const SHOW_SENDER: &str = "ui.notify.show_sender";
    /// `true`/`false`: show the message text (default off).
    pub const SHOW_BODY: &str = "ui.notify.show_body";
    /// Prefix of per-conversation mute keys: `ui.notify.mute:<account>:<peer>` = `true`.
    pub const MUTE_PREFIX: &str = "ui.notify.mute:";
}

/// The key that mutes one conversation.
pub fn mute_key(account: &str, peer: &str) -> String {
    format!("{}{account}:{peer}", keys::MUTE_PREFIX)
}

/// What notifications may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationPolicy {
    /// Whether notifications are raised at all.
    pub enabled: bool,
    /// Whether the sender (and room) is named.
    pub show_sender: bool,
    /// Whether the message text is shown.
    pub show_body: bool,
}

impl Default for NotificationPolicy {
    fn default() -> Self {
        NotificationPolicy {
            enabled: true,
            show_sender: false,
            show_body: false,
        }
    }
}

impl NotificationPolicy {
    /// The policy stored in `preferences` (defaults for missing keys).
    pub fn from_preferences(preferences: &BTreeMap<String, String>) -> Self {
        let flag = |key: &str, default: bool| {
            preferences
                .get(key)
                .map_or(default, |v| v.as_str() == "true")
        };
        NotificationPolicy {
            enabled: flag(keys::ENABLED, true),
            show_sender: flag(keys::SHOW_SENDER, false),
            show_body: flag(keys::SHOW_BODY, false),
        }
    }

    /// Whether `message` is to be notified at all.
    pub fn is_due(&self, message: &StoredMessage, muted: bool) -> bool {
        self.enabled && !muted && message.direction == "in" && !message.retracted
    }

    /// The `(title, body)` to show for `message`, or none when no notification is due;
    /// `name` is what the contact is called ([`contact_label`]; `None` in a room).
    pub fn text_for(
        &self,
        message: &StoredMessage,
        muted: bool,
        is_room: bool,
        name: Option<&str>,
    ) -> Option<(String, String)> {
        if !self.is_due(message, muted) {
            return None;
        }
        let from = Sender {
            from: &message.from,
            with: &message.with,
            is_room,
            name: name.unwrap_or_default(),
        };
        Some(self.single_text(&from, &message.body))
    }

    /// The text of a notification about one message.
    fn single_text(self, from: &Sender<'_>, body: &str) -> (String, String) {
        let title = if self.show_sender {
            sender_label(from)
        } else {
            "Talpa".to_owned()
        };
        let body = if self.show_body {
            shown_body(body)
        } else {
            "New message".to_owned()
        };
        (title, body)
    }
}

/// The longest sender line of a notification, in characters.
const SENDER_MAX_CHARS: usize = 100;
/// The longest message text a notification shows, in characters (a message may be 256 KiB).
const BODY_MAX_CHARS: usize = 200;

/// Who wrote a message, as a notification may name them.
struct Sender<'a> {
    /// The sender (a room's: the occupant's nickname).
    from: &'a str,
    /// The conversation's peer.
    with: &'a str,
    is_room: bool,
    /// What the contact is called ([`contact_label`]); empty when unnamed or in a room.
    name: &'a str,
}

/// What a notification calls a contact with `name`: a name given on this computer alone (the
/// user chose it); one read from the server roster with the address beside it, since it came
/// over the network and a notification has no tooltip to show the address in.
pub fn contact_label(name: &crate::ui::contact_names::ContactName, jid: &str) -> String {
    if name.local {
        name.text.clone()
    } else {
        format!("{} ({jid})", name.text)
    }
}

/// Who wrote, as a notification names them: the contact (by its name when named), or "nick
/// in room" — on one clean, bounded line (a nick is anyone's choice: line breaks or a
/// right-to-left override in it must not rewrite the notification). A nick is never matched
/// to a contact's name.
fn sender_label(sender: &Sender<'_>) -> String {
    let label = if sender.is_room {
        format!("{} in {}", sender.from, sender.with)
    } else if sender.name.is_empty() {
        sender.from.to_owned()
    } else {
        sender.name.to_owned()
    };
    crate::core::one_line_bounded(&label, SENDER_MAX_CHARS)
}

/// A message's text as a notification shows it: one clean line of at most
/// [`BODY_MAX_CHARS`] (the whole text is in the conversation).
fn shown_body(body: &str) -> String {
    crate::core::one_line_bounded(body, BODY_MAX_CHARS)
}

/// "1 new message" / "5 new messages in 2 conversations".
fn count_text(messages: u64, conversations: usize) -> String {
    let plural = |n: u64, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    format!(
        "{} in {}",
        plural(messages, "new message"),
        plural(conversations as u64, "conversation")
    )
}

/// A notification to show: its text and the conversation a click opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationText {
    /// The title line.
    pub title: String,
    /// The body (may hold two lines).
    pub body: String,
    /// The account of the newest notified conversation.
    pub account: String,
    /// The peer (contact or room) of the newest notified conversation.
    pub peer: String,
}

/// What the caller does next after telling the [`Coalescer`] something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Show this now, replacing Talpa's notification.
    Show(NotificationText),
    /// Arm one timer that calls [`Coalescer::flush`] at this instant.
    FlushAt(Instant),
    /// Nothing (the message, if any, was counted or was not due).
    Nothing,
}

/// The messages gathered for one conversation since counting last started.
#[derive(Debug)]
struct Gathered {
    account: String,
    peer: String,
    is_room: bool,
    count: u64,
    /// The coalescer's sequence number of this conversation's newest message.
    newest: u64,
    /// The newest message's sender and text, kept only when the policy shows them.
    from: String,
    body: String,
    /// What the contact is called, kept only when the policy names senders (empty: unnamed).
    name: String,
}

impl Gathered {
    fn sender(&self) -> Sender<'_> {
        Sender {
            from: &self.from,
            with: &self.peer,
            is_room: self.is_room,
            name: &self.name,
        }
    }

    /// The conversation as an update's list names it.
    fn title(&self) -> &str {
        if self.name.is_empty() {
            &self.peer
        } else {
            &self.name
        }
    }
}

/// Decides when a notification is shown and what it says; pure (the caller passes the time).
#[derive(Debug)]
pub struct Coalescer {
    window: Duration,
    gathered: Vec<Gathered>,
    index: HashMap<(String, String), usize>,
    /// The conversation of the previous message: floods mostly hit one, found without hashing.
    last: Option<usize>,
    total: u64,
    sequence: u64,
    /// Until when messages are gathered rather than shown; none in a quiet period.
    window_end: Option<Instant>,
    /// Messages were counted since the notification last shown.
    dirty: bool,
    /// A timer to call `flush` is pending.
    timer_armed: bool,
}

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer::new(GATHER_WINDOW)
    }
}

impl Coalescer {
    /// A coalescer that gathers for `window` after each notification.
    pub fn new(window: Duration) -> Self {
        Coalescer {
            window,
            gathered: Vec::new(),
            index: HashMap::new(),
            last: None,
            total: 0,
            sequence: 0,
            window_end: None,
            dirty: false,
            timer_armed: false,
        }
    }

    /// Counts `message` (if due under `policy`) at `now`: a message in a quiet period is shown
    /// at once; within the window it is only counted (and the first such asks for a timer).
    /// `name` is what the contact is called ([`contact_label`]; `None` in a room).
    pub fn message(
        &mut self,
        now: Instant,
        policy: NotificationPolicy,
        message: &StoredMessage,
        muted: bool,
        is_room: bool,
        name: Option<&str>,
    ) -> Step {
        if !policy.is_due(message, muted) {
            return Step::Nothing;
        }
        self.count(policy, message, is_room, name);
        match self.window_end {
            Some(end) if now < end => {
                self.dirty = true;
                if self.timer_armed {
                    Step::Nothing
                } else {
                    self.timer_armed = true;
                    Step::FlushAt(end)
                }
            }
            _ => self.show(now, policy),
        }
    }

    fn count(
        &mut self,
        policy: NotificationPolicy,
        message: &StoredMessage,
        is_room: bool,
        name: Option<&str>,
    ) {
        let last = self.last.filter(|&i| {
            let g = &self.gathered[i];
            g.account == message.account && g.peer == message.with
        });
        let slot = if let Some(i) = last {
            i
        } else {
            let key = (message.account.clone(), message.with.clone());
            if let Some(&i) = self.index.get(&key) {
                i
            } else {
                self.gathered.push(Gathered {
                    account: key.0.clone(),
                    peer: key.1.clone(),
                    is_room,
                    count: 0,
                    newest: 0,
                    from: String::new(),
                    body: String::new(),
                    name: String::new(),
                });
                self.index.insert(key, self.gathered.len() - 1);
                self.gathered.len() - 1
            }
        };
        self.last = Some(slot);
        self.sequence += 1;
        self.total += 1;
        let g = &mut self.gathered[slot];
        g.count += 1;
        g.newest = self.sequence;
        g.is_room = is_room;
        // Reuses the buffers: no allocation per message once they are large enough.
        g.from.clear();
        g.body.clear();
        g.name.clear();
        if policy.show_sender
            && let Some(name) = name
        {
            g.name.push_str(name);
        }
        if policy.show_sender || policy.show_body {
            g.from.push_str(&message.from);
        }
        if policy.show_body {
            g.body.push_str(&message.body);
        }
    }

    fn show(&mut self, now: Instant, policy: NotificationPolicy) -> Step {
        self.dirty = false;
        if let Some(text) = self.text(policy) {
            self.window_end = Some(now + self.window);
            Step::Show(text)
        } else {
            self.window_end = None;
            Step::Nothing
        }
    }

    /// Called by the timer [`Step::FlushAt`] asked for: shows one update of what was gathered,
    /// asks again if the window moved on meanwhile, or ends the burst.
    pub fn flush(&mut self, now: Instant, policy: NotificationPolicy) -> Step {
        self.timer_armed = false;
        match self.window_end {
            Some(end) if now < end => {
                if self.dirty {
                    self.timer_armed = true;
                    Step::FlushAt(end)
                } else {
                    Step::Nothing
                }
            }
            _ if self.dirty => self.show(now, policy),
            _ => {
                self.window_end = None;
                Step::Nothing
            }
        }
    }

    /// Whether a burst is still being gathered (a notification is due or its window is open).
    pub fn in_burst(&self, now: Instant) -> bool {
        self.dirty || self.window_end.is_some_and(|end| now < end)
    }

    /// Whether anything is counted (a notification is outstanding).
    pub fn has_unseen(&self) -> bool {
        self.total > 0
    }

    /// Starts counting again (the window became active): nothing is unseen, the next message
    /// is notified at once.
    pub fn reset(&mut self) {
        self.gathered.clear();
        self.index.clear();
        self.last = None;
        self.total = 0;
        self.window_end = None;
        self.dirty = false;
    }

    /// The user opened `peer` of `account`: its messages are no longer counted. Returns whether
    /// nothing is left unseen while something was before (the notification is to be withdrawn).
    pub fn seen(&mut self, account: &str, peer: &str) -> bool {
        let Some(i) = self
            .gathered
            .iter()
            .position(|g| g.account == account && g.peer == peer)
        else {
            return false;
        };
        let gone = self.gathered.remove(i);
        self.total -= gone.count;
        self.last = None;
        self.index = self
            .gathered
            .iter()
            .enumerate()
            .map(|(i, g)| ((g.account.clone(), g.peer.clone()), i))
            .collect();
        if self.total == 0 {
            self.dirty = false;
            return true;
        }
        false
    }

    /// The notification for everything counted, or none when nothing is.
    fn text(&self, policy: NotificationPolicy) -> Option<NotificationText> {
        let newest = self.gathered.iter().max_by_key(|g| g.newest)?;
        let (title, body) = if self.total == 1 {
            policy.single_text(&newest.sender(), &newest.body)
        } else {
            let summary = count_text(self.total, self.gathered.len());
            let mut lines = Vec::new();
            let title = if policy.show_sender {
                let mut by_recency: Vec<&Gathered> = self.gathered.iter().collect();
                by_recency.sort_by_key(|g| std::cmp::Reverse(g.newest));
                let mut names: Vec<&str> = by_recency
                    .iter()
                    .take(NAMED_CONVERSATIONS)
                    .map(|g| g.title())
                    .collect();
                let more = by_recency.len().saturating_sub(NAMED_CONVERSATIONS);
                let more_text = format!("and {more} more");
                if more > 0 {
                    names.push(&more_text);
                }
                lines.push(names.join(", "));
                summary
            } else {
                lines.push(summary);
                "Talpa".to_owned()
            };
            if policy.show_body {
                lines.push(if policy.show_sender {
                    format!(
                        "{}: {}",
                        sender_label(&newest.sender()),
                        shown_body(&newest.body)
                    )
                } else {
                    shown_body(&newest.body)
                });
            }
            (title, lines.join("\n"))
        };
        Some(NotificationText {
            title,
            body,
            account: newest.account.clone(),
            peer: newest.peer.clone(),
        })
    }
}

/// Whether `app` can send notifications (it is registered on a session bus). Without a bus
/// there is nowhere to send them, and GIO would complain.
fn can_notify(app: &gio::Application) -> bool {
    app.is_registered() && app.dbus_connection().is_some()
}

/// Shows (or replaces) Talpa's notification; a click activates `app.open-notified(token)`.
pub fn send(app: &gio::Application, title: &str, body: &str, token: u64) {
    if !can_notify(app) {
        return;
    }
    let notification = gio::Notification::new(title);
    notification.set_body(Some(body));
    notification.set_default_action_and_target_value(
        &format!("app.{OPEN_ACTION}"),
        Some(&token.to_variant()),
    );
    app.send_notification(Some(NOTIFICATION_ID), &notification);
}

/// Removes Talpa's notification (at lock, or when the window is looked at).
pub fn withdraw(app: &gio::Application) {
    if can_notify(app) {
        app.withdraw_notification(NOTIFICATION_ID);
    }
}

/// What the [`Notifier`] showed last, for a click and for tests.
#[derive(Debug, Clone)]
struct Shown {
    text: NotificationText,
    token: u64,
}

#[derive(Default)]
struct NotifierState {
    coalescer: Coalescer,
    policy: NotificationPolicy,
    app: glib::WeakRef<gio::Application>,
    shown: Option<Shown>,
    /// Notifications shown so far (updates included).
    sent: u64,
    /// Whether a notification may be showing (so withdrawing costs a D-Bus call only then).
    outstanding: bool,
}

/// Talpa's notification on the GTK main loop: the [`Coalescer`], its one timer, and which
/// conversation a click opens. Dropping it (at lock) makes a pending timer do nothing.
#[derive(Default, Clone)]
pub struct Notifier {
    state: Rc<RefCell<NotifierState>>,
}

impl Notifier {
    /// Uses `policy` from now on.
    pub fn set_policy(&self, policy: NotificationPolicy) {
        self.state.borrow_mut().policy = policy;
    }

    /// An incoming `message` not on screen: counted, and shown now or at the window's end.
    pub fn message(
        &self,
        app: Option<&gio::Application>,
        message: &StoredMessage,
        muted: bool,
        is_room: bool,
        name: Option<&str>,
    ) {
        let step = {
            let mut state = self.state.borrow_mut();
            if let Some(app) = app {
                state.app.set(Some(app));
            }
            let policy = state.policy;
            state
                .coalescer
                .message(Instant::now(), policy, message, muted, is_room, name)
        };
        self.follow(step);
    }

    fn follow(&self, step: Step) {
        match step {
            Step::Show(text) => {
                let mut state = self.state.borrow_mut();
                state.sent += 1;
                let token = state.sent;
                if let Some(app) = state.app.upgrade() {
                    send(&app, &text.title, &text.body, token);
                }
                state.outstanding = true;
                state.shown = Some(Shown { text, token });
            }
            Step::FlushAt(at) => {
                let weak = Rc::downgrade(&self.state);
                let delay = at.saturating_duration_since(Instant::now());
                glib::timeout_add_local_once(delay, move || {
                    let Some(state) = weak.upgrade() else {
                        return;
                    };
                    let notifier = Notifier { state };
                    let step = {
                        let mut state = notifier.state.borrow_mut();
                        let policy = state.policy;
                        state.coalescer.flush(Instant::now(), policy)
                    };
                    notifier.follow(step);
                });
            }
            Step::Nothing => {}
        }
    }

    /// The window became active: counting starts again and the notification is withdrawn.
    pub fn window_activated(&self) {
        let mut state = self.state.borrow_mut();
        state.coalescer.reset();
        Self::withdraw_outstanding(&mut state);
    }

    /// `peer` of `account` was opened: its messages no longer count; with nothing left the
    /// notification is withdrawn.
    pub fn opened(&self, account: &str, peer: &str) {
        let mut state = self.state.borrow_mut();
        if state.coalescer.seen(account, peer) {
            Self::withdraw_outstanding(&mut state);
        }
    }

    fn withdraw_outstanding(state: &mut NotifierState) {
        if std::mem::take(&mut state.outstanding)
            && let Some(app) = state.app.upgrade()
        {
            withdraw(&app);
        }
    }

    /// Forgets everything (the session is cleared at lock; the window withdraws the
    /// notification itself).
    pub fn clear(&self) {
        let mut state = self.state.borrow_mut();
        state.coalescer.reset();
        state.shown = None;
        state.outstanding = false;
    }

    /// The conversation the notification numbered `token` opens, if it is the latest shown.
    pub fn target(&self, token: u64) -> Option<(String, String)> {
        let state = self.state.borrow();
        state
            .shown
            .as_ref()
            .filter(|s| s.token == token)
            .map(|s| (s.text.account.clone(), s.text.peer.clone()))
    }

    /// The last notification shown, as (title, body).
    pub fn last(&self) -> Option<(String, String)> {
        let state = self.state.borrow();
        state
            .shown
            .as_ref()
            .map(|s| (s.text.title.clone(), s.text.body.clone()))
    }

    /// The number (click target) of the last notification shown.
    pub fn last_token(&self) -> Option<u64> {
        self.state.borrow().shown.as_ref().map(|s| s.token)
    }

    /// How many notifications were shown (updates included) since the session started.
    pub fn sent(&self) -> u64 {
        self.state.borrow().sent
    }

    /// Whether a burst is still being gathered (an update may still come).
    pub fn in_burst(&self) -> bool {
        self.state.borrow().coalescer.in_burst(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    fn incoming() -> StoredMessage {
        StoredMessage {
            id: 1,
            account: "alice@talpa.test".into(),
            with: "plans@rooms.talpa.test".into(),
            direction: "in".into(),
            from: "badger".into(),
            body: "meet at noon".into(),
            timestamp_ms: 0,
            encryption: "none".into(),
            corrected: false,
            retracted: false,
            origin_id: None,
            notes: crate::core::events::MessageNotes::default(),
        }
    }

    #[test]
    fn by_default_a_notification_names_neither_sender_nor_content() {
        let text = NotificationPolicy::default().text_for(&incoming(), false, true, None);
        assert_eq!(text, Some(("Talpa".into(), "New message".into())));
    }

    #[test]
    fn sender_and_content_appear_only_when_opted_in() {
        let mut prefs = BTreeMap::new();
        prefs.insert(keys::SHOW_SENDER.to_owned(), "true".to_owned());
        let policy = NotificationPolicy::from_preferences(&prefs);
        assert_eq!(
            policy.text_for(&incoming(), false, true, None),
            Some((
                "badger in plans@rooms.talpa.test".into(),
                "New message".into()
            ))
        );
        prefs.insert(keys::SHOW_BODY.to_owned(), "true".to_owned());
        let policy = NotificationPolicy::from_preferences(&prefs);
        assert_eq!(
            policy.text_for(&incoming(), false, false, None),
            Some(("badger".into(), "meet at noon".into()))
        );
    }

    #[test]
    fn muted_disabled_and_outgoing_messages_raise_nothing() {
        let policy = NotificationPolicy::default();
        assert_eq!(policy.text_for(&incoming(), true, false, None), None);
        let mut out = incoming();
        out.direction = "out".into();
        assert_eq!(policy.text_for(&out, false, false, None), None);
        let mut prefs = BTreeMap::new();
        prefs.insert(keys::ENABLED.to_owned(), "false".to_owned());
        assert_eq!(
            NotificationPolicy::from_preferences(&prefs).text_for(&incoming(), false, false, None),
            None
        );
    }
}

#[cfg(test)]
mod coalescing_tests {
    use super::*;

    const ME: &str = "alice@talpa.test";

    fn from(with: &str, id: i64) -> StoredMessage {
        StoredMessage {
            id,
            account: ME.into(),
            with: with.into(),
            direction: "in".into(),
            from: with.into(),
            body: format!("text {id}"),
            timestamp_ms: id,
            encryption: "none".into(),
            corrected: false,
            retracted: false,
            origin_id: None,
            notes: crate::core::events::MessageNotes::default(),
        }
    }

    #[test]
    fn what_others_wrote_is_shown_on_one_clean_bounded_line() {
        let hostile = format!(
            "Pay\u{202E}gnp.exe\n\nline two\u{7}\t{}",
            "x".repeat(10_000)
        );
        let mut m = from("room@rooms.talpa.test", 1);
        m.from = "boss\u{202E}\nadmin".into();
        m.body.clone_from(&hostile);
        let mut c = Coalescer::new(Duration::from_secs(2));
        let now = Instant::now();
        let step = c.message(now, opted_in(true, true), &m, false, true, None);
        let (title, body) = shown(&step);
        for text in [title, body] {
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c)),
                "control or bidi character kept: {text:?}"
            );
        }
        assert_eq!(title, "boss admin in room@rooms.talpa.test");
        assert!(body.starts_with("Paygnp.exe line two x"), "{body:?}");
        assert_eq!(body.chars().count(), BODY_MAX_CHARS);
        // The update after a burst says the same.
        m.id = 2;
        c.message(now, opted_in(true, true), &m, false, true, None);
        let step = c.flush(now + Duration::from_secs(3), opted_in(true, true));
        let (_, body) = shown(&step);
        let last = body.lines().last().expect("the newest text");
        assert!(
            last.chars().count() <= SENDER_MAX_CHARS + BODY_MAX_CHARS + 2,
            "{last:?}"
        );
        assert!(!last.contains('\u{202E}'), "{last:?}");
    }

    fn opted_in(show_sender: bool, show_body: bool) -> NotificationPolicy {
        NotificationPolicy {
            enabled: true,
            show_sender,
            show_body,
        }
    }

    fn shown(step: &Step) -> (&str, &str) {
        match step {
            Step::Show(t) => (&t.title, &t.body),
            other => panic!("expected a notification, got {other:?}"),
        }
    }

    /// A flood of `n` messages spread over `peers`, all at `at` (a busy main loop).
    fn flood(
        c: &mut Coalescer,
        policy: NotificationPolicy,
        at: Instant,
        peers: &[&str],
        n: i64,
    ) -> Vec<Step> {
        (0..n)
            .map(|i| {
                let peer = peers[usize::try_from(i).unwrap_or(0) % peers.len()];
                c.message(at, policy, &from(peer, i), false, false, None)
            })
            .collect()
    }

    #[test]
    fn a_flood_shows_the_first_message_at_once_and_one_update_at_the_window_end() {
        let policy = NotificationPolicy::default();
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let steps = flood(
            &mut c,
            policy,
            t0,
            &["carol@talpa.test", "dave@talpa.test"],
            2_000,
        );
        assert_eq!(shown(&steps[0]), ("Talpa", "New message"));
        let end = t0 + Duration::from_secs(2);
        assert_eq!(
            steps[1],
            Step::FlushAt(end),
            "the second message arms the one timer"
        );
        assert!(
            steps[2..].iter().all(|s| *s == Step::Nothing),
            "the rest of the flood is only counted"
        );
        assert!(c.in_burst(t0 + Duration::from_secs(1)));
        let update = c.flush(end, policy);
        assert_eq!(
            shown(&update),
            ("Talpa", "2000 new messages in 2 conversations")
        );
        // Nothing more came: the next window ends quietly, and the next message is shown at once.
        assert_eq!(c.flush(end + Duration::from_secs(2), policy), Step::Nothing);
        assert!(!c.in_burst(end + Duration::from_secs(2)));
        let later = c.message(
            end + Duration::from_secs(3),
            policy,
            &from("erin@talpa.test", 9),
            false,
            false,
            None,
        );
        assert_eq!(
            shown(&later),
            ("Talpa", "2001 new messages in 3 conversations")
        );
    }

    #[test]
    fn a_timer_that_fires_early_asks_again_for_the_window_end() {
        let policy = NotificationPolicy::default();
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        flood(&mut c, policy, t0, &["carol@talpa.test"], 3);
        let end = t0 + Duration::from_secs(2);
        assert_eq!(
            c.flush(t0 + Duration::from_secs(1), policy),
            Step::FlushAt(end)
        );
        assert_eq!(
            shown(&c.flush(end, policy)).1,
            "3 new messages in 1 conversation"
        );
    }

    #[test]
    fn a_message_after_a_late_timer_shows_everything_at_once() {
        let policy = NotificationPolicy::default();
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        flood(&mut c, policy, t0, &["carol@talpa.test"], 2);
        // The main loop was busy past the window's end: the next message shows the update.
        let late = c.message(
            t0 + Duration::from_secs(5),
            policy,
            &from("carol@talpa.test", 7),
            false,
            false,
            None,
        );
        assert_eq!(shown(&late).1, "3 new messages in 1 conversation");
        // The timer armed earlier now finds the new window open and nothing new.
        assert_eq!(c.flush(t0 + Duration::from_secs(5), policy), Step::Nothing);
    }

    #[test]
    fn with_show_sender_an_update_names_the_newest_conversations_capped() {
        let policy = opted_in(true, false);
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let peers = [
            "a@talpa.test",
            "b@talpa.test",
            "c@talpa.test",
            "d@talpa.test",
            "e@talpa.test",
        ];
        let steps = flood(&mut c, policy, t0, &peers, 10);
        assert_eq!(shown(&steps[0]), ("a@talpa.test", "New message"));
        let update = c.flush(t0 + Duration::from_secs(2), policy);
        assert_eq!(
            shown(&update),
            (
                "10 new messages in 5 conversations",
                "e@talpa.test, d@talpa.test, c@talpa.test, and 2 more"
            )
        );
        let Step::Show(text) = update else {
            unreachable!()
        };
        assert_eq!(
            text.peer, "e@talpa.test",
            "a click opens the newest conversation"
        );
    }

    #[test]
    fn a_named_contact_is_called_by_its_name_only_when_senders_are_shown() {
        let t0 = Instant::now();
        let carol = from("carol@talpa.test", 1);
        // Senders hidden: the name is neither shown nor kept, whatever else is shown.
        for policy in [opted_in(false, false), opted_in(false, true)] {
            let mut c = Coalescer::new(Duration::from_secs(2));
            let step = c.message(t0, policy, &carol, false, false, Some("Carol"));
            let (title, body) = shown(&step);
            assert_eq!(title, "Talpa");
            assert!(!body.contains("Carol"), "{body:?}");
            assert!(c.gathered.iter().all(|g| g.name.is_empty()));
        }
        let mut c = Coalescer::new(Duration::from_secs(2));
        let step = c.message(
            t0,
            opted_in(true, true),
            &carol,
            false,
            false,
            Some("Carol"),
        );
        assert_eq!(shown(&step), ("Carol", "text 1"));
        let dave = from("dave@talpa.test", 2);
        c.message(t0, opted_in(true, true), &dave, false, false, None);
        let update = c.flush(t0 + Duration::from_secs(2), opted_in(true, true));
        assert_eq!(
            shown(&update),
            (
                "2 new messages in 2 conversations",
                "dave@talpa.test, Carol\ndave@talpa.test: text 2"
            )
        );
        // A room's sender is its nickname, even when a name is passed.
        let mut c = Coalescer::new(Duration::from_secs(2));
        let mut m = from("room@rooms.talpa.test", 3);
        m.from = "Carol".into();
        let step = c.message(t0, opted_in(true, false), &m, false, true, None);
        assert_eq!(shown(&step).0, "Carol in room@rooms.talpa.test");
    }

    #[test]
    fn a_roster_name_is_shown_with_the_address_and_a_local_one_alone() {
        use crate::ui::contact_names::ContactName;
        let local = ContactName {
            text: "Carol".into(),
            local: true,
        };
        let roster = ContactName {
            text: "Carol".into(),
            local: false,
        };
        assert_eq!(contact_label(&local, "carol@talpa.test"), "Carol");
        assert_eq!(
            contact_label(&roster, "mallory@talpa.test"),
            "Carol (mallory@talpa.test)"
        );
    }

    #[test]
    fn with_show_body_an_update_shows_only_the_newest_text() {
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let policy = opted_in(false, true);
        flood(
            &mut c,
            policy,
            t0,
            &["carol@talpa.test", "dave@talpa.test"],
            4,
        );
        assert_eq!(
            shown(&c.flush(t0 + Duration::from_secs(2), policy)),
            ("Talpa", "4 new messages in 2 conversations\ntext 3")
        );
        let mut c = Coalescer::new(Duration::from_secs(2));
        let policy = opted_in(true, true);
        let steps = flood(
            &mut c,
            policy,
            t0,
            &["carol@talpa.test", "dave@talpa.test"],
            4,
        );
        assert_eq!(shown(&steps[0]), ("carol@talpa.test", "text 0"));
        assert_eq!(
            shown(&c.flush(t0 + Duration::from_secs(2), policy)),
            (
                "4 new messages in 2 conversations",
                "dave@talpa.test, carol@talpa.test\ndave@talpa.test: text 3"
            )
        );
    }

    #[test]
    fn muted_outgoing_and_disabled_are_not_counted() {
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let policy = NotificationPolicy::default();
        assert_eq!(
            c.message(t0, policy, &from("carol@talpa.test", 1), true, false, None),
            Step::Nothing
        );
        let mut out = from("carol@talpa.test", 2);
        out.direction = "out".into();
        assert_eq!(
            c.message(t0, policy, &out, false, false, None),
            Step::Nothing
        );
        let off = NotificationPolicy {
            enabled: false,
            ..policy
        };
        assert_eq!(
            c.message(t0, off, &from("carol@talpa.test", 3), false, false, None),
            Step::Nothing
        );
        assert!(!c.has_unseen() && !c.in_burst(t0));
    }

    #[test]
    fn looking_at_the_window_starts_counting_again() {
        let policy = NotificationPolicy::default();
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        flood(&mut c, policy, t0, &["carol@talpa.test"], 5);
        c.reset();
        assert!(!c.has_unseen());
        assert_eq!(
            c.flush(t0 + Duration::from_secs(2), policy),
            Step::Nothing,
            "nothing left to update"
        );
        let next = c.message(
            t0 + Duration::from_millis(2_100),
            policy,
            &from("dave@talpa.test", 6),
            false,
            false,
            None,
        );
        assert_eq!(
            shown(&next),
            ("Talpa", "New message"),
            "counting started again"
        );
    }

    #[test]
    fn opening_a_conversation_uncounts_it_and_withdraws_when_none_is_left() {
        let policy = opted_in(true, true);
        let mut c = Coalescer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        flood(
            &mut c,
            policy,
            t0,
            &["carol@talpa.test", "dave@talpa.test"],
            4,
        );
        assert!(
            !c.seen(ME, "erin@talpa.test"),
            "an unnotified conversation changes nothing"
        );
        assert!(
            !c.seen(ME, "dave@talpa.test"),
            "carol's messages are still unseen"
        );
        assert_eq!(
            shown(&c.flush(t0 + Duration::from_secs(2), policy)),
            (
                "2 new messages in 1 conversation",
                "carol@talpa.test\ncarol@talpa.test: text 2"
            ),
            "the update counts only what is still unseen"
        );
        assert!(c.seen(ME, "carol@talpa.test"), "nothing is left: withdraw");
        assert!(!c.has_unseen());
    }
}
