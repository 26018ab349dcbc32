//! The session view's security surfaces: a banner in the conversation for new devices, changed
//! identity keys and weak rooms; the devices & trust window (per contact from the conversation's
//! header, per account from its sidebar row); the room audit (from the room panel). Kept apart
//! from `session_view.rs`, which only forwards events and the open conversation here.
//!
//! Actions (group `session`, installed on the session view): `session.account-devices`
//! (string: the account), `session.contact-devices` and `session.room-audit` (the open
//! conversation).

use std::cell::RefCell;
use std::collections::HashMap;

use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{gio, glib};

use crate::core::Event;
use crate::core::events::RoomAudit;
use crate::ui::chat::room_audit_window::RoomAuditWindow;
use crate::ui::devices_window::DevicesWindow;
use crate::ui::session_view::SessionView;
use crate::ui::toast;

/// The most device notices kept per conversation (the newest).
const MAX_ALERTS: usize = 3;

/// `(account, peer)`: a conversation or room.
type Key = (String, String);

/// What the session view shows about devices, trust and rooms' weaknesses.
#[derive(Default)]
pub struct SecurityState {
    banner: gtk4::Revealer,
    banner_label: gtk4::Label,
    review_button: gtk4::Button,
    devices_button: gtk4::Button,
    /// Device alerts per conversation (`(account, account)` for the account's own devices).
    alerts: RefCell<HashMap<Key, Vec<String>>>,
    /// The latest audit of each room.
    audits: RefCell<HashMap<Key, RoomAudit>>,
    /// Rooms whose weakness banner the user dismissed (until the next audit).
    dismissed: RefCell<Vec<Key>>,
    /// The conversation shown now, and whether it is a room.
    open: RefCell<Option<(Key, bool)>>,
}

/// The banner's sentence for a device event, or `None` for other events.
pub fn alert_text(event: &Event) -> Option<(Key, String)> {
    match event {
        Event::DeviceNew {
            account,
            jid,
            device,
            ..
        } if jid == account => Some((
            (account.clone(), jid.clone()),
            format!(
                "A new device ({device}) appeared on your account {account}. If it is not one \
                 of yours, someone else can log in as you: distrust it in Devices."
            ),
        )),
        Event::DeviceNew {
            account,
            jid,
            device,
            ..
        } => Some((
            (account.clone(), jid.clone()),
            format!(
                "{jid} uses a new device ({device}). Compare its fingerprint with them before \
                 saying anything sensitive."
            ),
        )),
        Event::IdentityChanged {
            account,
            jid,
            device,
            old_was_verified,
            ..
        } => Some((
            (account.clone(), jid.clone()),
            format!(
                "The key of {jid}'s device {device} CHANGED{}. Nothing is encrypted to it until \
                 you compare fingerprints and verify it again.",
                if *old_was_verified {
                    " (you had verified the old one)"
                } else {
                    ""
                }
            ),
        )),
        _ => None,
    }
}

impl SecurityState {
    /// Builds the banner and the header's devices button into `view` and installs the
    /// `session.*` actions.
    pub fn install(view: &SessionView) -> Self {
        let state = Self::default();
        // One line, ellipsized (the whole text is the tooltip, and Review opens the details):
        // a wrapping label inside a GtkRevealer makes GTK 4.8's height-for-width measurement
        // disagree with itself by a pixel, a critical.
        state
            .banner_label
            .set_ellipsize(gtk4::pango::EllipsizeMode::End);
        state.banner_label.set_xalign(0.0);
        state.banner_label.set_hexpand(true);
        state.review_button.set_label("Review");
        state.review_button.set_valign(gtk4::Align::Center);
        state
            .review_button
            .set_tooltip_text(Some("Open the devices or the room audit"));
        let dismiss = gtk4::Button::builder()
            .icon_name("window-close-symbolic")
            .valign(gtk4::Align::Center)
            .tooltip_text("Dismiss this notice")
            .css_classes(["flat"])
            .build();
        crate::ui::a11y::set_label(&dismiss, "Dismiss this notice");
        let bar = gtk4::Box::builder()
            .spacing(12)
            .margin_start(12)
            .margin_end(12)
            .margin_top(6)
            .margin_bottom(6)
            .css_classes(["card", "trust-banner"])
            .build();
        let icon = gtk4::Image::from_icon_name("dialog-warning-symbolic");
        icon.set_margin_start(12);
        bar.append(&icon);
        bar.append(&state.banner_label);
        bar.append(&state.review_button);
        bar.append(&dismiss);
        state.banner.set_child(Some(&bar));
        state.banner.set_reveal_child(false);
        state.banner.set_visible(false);

        let content = &view.imp().content;
        let header = content.first_child();
        content.insert_child_after(&state.banner, header.as_ref());
        if let Some(header) = header.and_downcast::<libadwaita::HeaderBar>() {
            state.devices_button.set_icon_name("security-high-symbolic");
            state
                .devices_button
                .set_tooltip_text(Some("Devices and fingerprints of this contact"));
            crate::ui::a11y::set_label(
                &state.devices_button,
                "Devices and fingerprints of this contact",
            );
            state
                .devices_button
                .set_action_name(Some("session.contact-devices"));
            state.devices_button.set_visible(false);
            header.pack_end(&state.devices_button);
        }
        view.imp()
            .content_stack
            .connect_visible_child_name_notify(glib::clone!(
                #[weak]
                view,
                move |stack| {
                    if stack.visible_child_name().as_deref() == Some("empty")
                        && let Some(state) = view.imp().security.get()
                    {
                        state.open.replace(None);
                        state.refresh();
                    }
                }
            ));
        review_and_dismiss(view, &state.review_button, &dismiss);
        install_actions(view);
        state
    }

    /// Applies a device or room-audit event.
    pub fn handle_event(&self, view: &SessionView, event: &Event) {
        if let Event::RoomAudit(audit) = event {
            let key = (audit.account.clone(), audit.room.clone());
            self.dismissed.borrow_mut().retain(|k| *k != key);
            self.audits.borrow_mut().insert(key, audit.clone());
        } else if let Some((key, text)) = alert_text(event) {
            if let Event::IdentityChanged { jid, .. } = event {
                toast(
                    view,
                    &format!("A device key of {jid} changed: see the conversation."),
                );
            }
            let mut alerts = self.alerts.borrow_mut();
            let list = alerts.entry(key).or_default();
            list.push(text);
            // A contact adding several devices at once must not fill the conversation.
            if list.len() > MAX_ALERTS {
                list.remove(0);
            }
        }
        self.refresh();
    }

    /// The conversation `(account, peer)` is shown now.
    pub fn opened(&self, account: &str, peer: &str, is_room: bool) {
        self.open
            .replace(Some(((account.to_owned(), peer.to_owned()), is_room)));
        self.refresh();
    }

    /// Forgets everything (on lock).
    pub fn clear(&self) {
        self.alerts.borrow_mut().clear();
        self.audits.borrow_mut().clear();
        self.dismissed.borrow_mut().clear();
        self.open.replace(None);
        self.refresh();
    }

    /// The latest audit of a room, if the core sent one.
    pub fn audit(&self, account: &str, room: &str) -> Option<RoomAudit> {
        self.audits
            .borrow()
            .get(&(account.to_owned(), room.to_owned()))
            .cloned()
    }

    /// The banner's text while it is shown.
    pub fn banner_text(&self) -> Option<String> {
        self.banner
            .is_visible()
            .then(|| self.banner_label.label().to_string())
    }

    /// What the banner says for the open conversation: its device alerts and the account's own,
    /// or for a room its weaknesses.
    fn text_for_open(&self) -> Option<String> {
        let open = self.open.borrow();
        let ((account, peer), is_room) = open.as_ref()?;
        let key = (account.clone(), peer.clone());
        let mut lines: Vec<String> = Vec::new();
        let alerts = self.alerts.borrow();
        if let Some(own) = alerts.get(&(account.clone(), account.clone())) {
            lines.extend(own.iter().cloned());
        }
        if *is_room {
            if let Some(audit) = self.audits.borrow().get(&key)
                && !self.dismissed.borrow().contains(&key)
            {
                let warnings = audit
                    .findings
                    .iter()
                    .filter(|f| f.level == "warning")
                    .count();
                if warnings > 0 {
                    lines.push(format!(
                        "This room has {warnings} weakness{}: a seized server or anyone who \
                         walks in may learn more than you think. Review the room audit.",
                        if warnings == 1 { "" } else { "es" }
                    ));
                }
            }
        } else if account != peer
            && let Some(theirs) = alerts.get(&key)
        {
            lines.extend(theirs.iter().cloned());
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    fn refresh(&self) {
        let text = self.text_for_open();
        self.banner_label
            .set_label(text.as_deref().unwrap_or_default());
        // GTK 4.8 asks the X server where the pointer is whenever a shown widget's tooltip is
        // set, even to the same text: every open paid a round trip for an unchanged tooltip.
        if self.banner_label.tooltip_text().as_deref() != text.as_deref() {
            self.banner_label.set_tooltip_text(text.as_deref());
        }
        self.banner.set_visible(text.is_some());
        self.banner.set_reveal_child(text.is_some());
        let open = self.open.borrow();
        self.devices_button
            .set_visible(open.as_ref().is_some_and(|(_, room)| !room));
    }

    fn dismiss(&self) {
        let Some(((account, peer), is_room)) = self.open.borrow().clone() else {
            return;
        };
        let mut alerts = self.alerts.borrow_mut();
        alerts.remove(&(account.clone(), account.clone()));
        if is_room {
            self.dismissed.borrow_mut().push((account, peer));
        } else {
            alerts.remove(&(account, peer));
        }
        drop(alerts);
        self.refresh();
    }
}

fn review_and_dismiss(view: &SessionView, review: &gtk4::Button, dismiss: &gtk4::Button) {
    review.connect_clicked(glib::clone!(
        #[weak]
        view,
        move |_| {
            let open = view
                .imp()
                .security
                .get()
                .and_then(|s| s.open.borrow().clone());
            match open {
                Some(((account, peer), true)) => show_room_audit(&view, &account, &peer),
                Some(((account, peer), false)) => show_devices(&view, &account, Some(&peer)),
                None => {}
            }
        }
    ));
    dismiss.connect_clicked(glib::clone!(
        #[weak]
        view,
        move |_| {
            if let Some(state) = view.imp().security.get() {
                state.dismiss();
            }
        }
    ));
}

fn install_actions(view: &SessionView) {
    let group = gio::SimpleActionGroup::new();
    let account_devices =
        gio::SimpleAction::new("account-devices", Some(&String::static_variant_type()));
    account_devices.connect_activate(glib::clone!(
        #[weak]
        view,
        move |_, jid| {
            if let Some(jid) = jid.and_then(glib::Variant::get::<String>) {
                show_devices(&view, &jid, None);
            }
        }
    ));
    let contact_devices = gio::SimpleAction::new("contact-devices", None);
    contact_devices.connect_activate(glib::clone!(
        #[weak]
        view,
        move |_, _| {
            if let Some(c) = view.imp().open.borrow().clone()
                && !c.is_room()
            {
                show_devices(&view, &c.account(), Some(&c.peer()));
            }
        }
    ));
    let room_audit = gio::SimpleAction::new("room-audit", None);
    room_audit.connect_activate(glib::clone!(
        #[weak]
        view,
        move |_, _| {
            if let Some(c) = view.imp().open.borrow().clone()
                && c.is_room()
            {
                show_room_audit(&view, &c.account(), &c.peer());
            }
        }
    ));
    group.add_action(&account_devices);
    group.add_action(&contact_devices);
    group.add_action(&room_audit);
    view.insert_action_group("session", Some(&group));
}

impl SessionView {
    /// The device / room banner's text while it is shown in the open conversation.
    pub fn security_banner(&self) -> Option<String> {
        self.imp()
            .security
            .get()
            .and_then(SecurityState::banner_text)
    }

    /// The latest audit the core sent for `room` of `account`.
    pub fn room_audit(&self, account: &str, room: &str) -> Option<RoomAudit> {
        self.imp().security.get()?.audit(account, room)
    }
}

/// Opens the devices & trust window of `account` (with `contact`'s devices when given).
pub fn show_devices(view: &SessionView, account: &str, contact: Option<&str>) {
    let (Some(core), Some(parent)) = (
        view.imp().core.get().cloned(),
        view.root().and_downcast::<gtk4::Window>(),
    ) else {
        return;
    };
    DevicesWindow::new(core, &parent, account, contact).present();
}

/// Opens the audit of `room`, or says it is not known yet.
pub fn show_room_audit(view: &SessionView, account: &str, room: &str) {
    let Some(parent) = view.root().and_downcast::<gtk4::Window>() else {
        return;
    };
    match view
        .imp()
        .security
        .get()
        .and_then(|s| s.audit(account, room))
    {
        Some(audit) => RoomAuditWindow::new(&parent, &audit).present(),
        None => toast(
            view,
            "The room has not been audited yet: Talpa checks it when it joins.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::alert_text;
    use crate::core::Event;

    #[test]
    fn a_new_own_device_warns_about_the_password_and_a_changed_key_says_so() {
        let own = Event::DeviceNew {
            account: "me@talpa.test".into(),
            jid: "me@talpa.test".into(),
            device: 7,
            fingerprint: "aa".into(),
        };
        let (key, text) = alert_text(&own).expect("an alert");
        assert_eq!(key.1, "me@talpa.test");
        assert!(text.contains("someone else can log in as you"), "{text}");
        let changed = Event::IdentityChanged {
            account: "me@talpa.test".into(),
            jid: "bob@talpa.test".into(),
            device: 9,
            old_fingerprint: "aa".into(),
            new_fingerprint: "bb".into(),
            old_was_verified: true,
        };
        let (key, text) = alert_text(&changed).expect("an alert");
        assert_eq!(key.1, "bob@talpa.test");
        assert!(text.contains("CHANGED (you had verified"), "{text}");
    }
}
