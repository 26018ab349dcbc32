//! Desktop notifications through `GNotification`, with privacy defaults: a notification says
//! only "New message" unless the user opted in to the sender and/or the text; muted
//! conversations and a locked profile raise none. The policy is pure and tested; sending goes
//! through the application.

use std::collections::BTreeMap;

use gtk4::gio;
use gtk4::prelude::*;

use crate::core::events::StoredMessage;

/// The one notification id Talpa uses: a new message replaces the previous notification, and
/// locking withdraws it.
pub const NOTIFICATION_ID: &str = "talpa-new-message";

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

    /// The `(title, body)` to show for `message`, or none when no notification is due.
    pub fn text_for(
        &self,
        message: &StoredMessage,
        muted: bool,
        is_room: bool,
    ) -> Option<(String, String)> {
        if !self.enabled || muted || message.direction != "in" || message.retracted {
            return None;
        }
        let title = if self.show_sender {
            if is_room {
                format!("{} in {}", message.from, message.with)
            } else {
                message.from.clone()
            }
        } else {
            "Talpa".to_owned()
        };
        let body = if self.show_body {
            message.body.clone()
        } else {
            "New message".to_owned()
        };
        Some((title, body))
    }
}

/// Whether `app` can send notifications (it is registered on a session bus). Without a bus
/// there is nowhere to send them, and GIO would complain.
fn can_notify(app: &gio::Application) -> bool {
    app.is_registered() && app.dbus_connection().is_some()
}

/// Shows (or replaces) Talpa's notification.
pub fn send(app: &gio::Application, title: &str, body: &str) {
    if !can_notify(app) {
        return;
    }
    let notification = gio::Notification::new(title);
    notification.set_body(Some(body));
    app.send_notification(Some(NOTIFICATION_ID), &notification);
}

/// Removes Talpa's notification (at lock).
pub fn withdraw(app: &gio::Application) {
    if can_notify(app) {
        app.withdraw_notification(NOTIFICATION_ID);
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
        }
    }

    #[test]
    fn by_default_a_notification_names_neither_sender_nor_content() {
        let text = NotificationPolicy::default().text_for(&incoming(), false, true);
        assert_eq!(text, Some(("Talpa".into(), "New message".into())));
    }

    #[test]
    fn sender_and_content_appear_only_when_opted_in() {
        let mut prefs = BTreeMap::new();
        prefs.insert(keys::SHOW_SENDER.to_owned(), "true".to_owned());
        let policy = NotificationPolicy::from_preferences(&prefs);
        assert_eq!(
            policy.text_for(&incoming(), false, true),
            Some((
                "badger in plans@rooms.talpa.test".into(),
                "New message".into()
            ))
        );
        prefs.insert(keys::SHOW_BODY.to_owned(), "true".to_owned());
        let policy = NotificationPolicy::from_preferences(&prefs);
        assert_eq!(
            policy.text_for(&incoming(), false, false),
            Some(("badger".into(), "meet at noon".into()))
        );
    }

    #[test]
    fn muted_disabled_and_outgoing_messages_raise_nothing() {
        let policy = NotificationPolicy::default();
        assert_eq!(policy.text_for(&incoming(), true, false), None);
        let mut out = incoming();
        out.direction = "out".into();
        assert_eq!(policy.text_for(&out, false, false), None);
        let mut prefs = BTreeMap::new();
        prefs.insert(keys::ENABLED.to_owned(), "false".to_owned());
        assert_eq!(
            NotificationPolicy::from_preferences(&prefs).text_for(&incoming(), false, false),
            None
        );
    }
}
