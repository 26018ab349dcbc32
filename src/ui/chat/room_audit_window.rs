//! The room audit as a readable sheet: what the room's configuration reveals, and to whom —
//! each check in plain words (the core's `room_audit` event), weaknesses first, and the members
//! who cannot read encrypted messages.

use gtk4::glib;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::core::events::{AuditFinding, RoomAudit};

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default)]
    pub struct RoomAuditWindow {}

    #[glib::object_subclass]
    impl ObjectSubclass for RoomAuditWindow {
        const NAME: &'static str = "TalpaRoomAuditWindow";
        type Type = super::RoomAuditWindow;
        type ParentType = adw::PreferencesWindow;
    }

    impl ObjectImpl for RoomAuditWindow {}
    impl WidgetImpl for RoomAuditWindow {}
    impl WindowImpl for RoomAuditWindow {}
    impl AdwWindowImpl for RoomAuditWindow {}
    impl PreferencesWindowImpl for RoomAuditWindow {}
}

glib::wrapper! {
    /// What a room reveals, for one room.
    pub struct RoomAuditWindow(ObjectSubclass<imp::RoomAuditWindow>)
        @extends adw::PreferencesWindow, adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native,
            gtk4::Root, gtk4::ShortcutManager;
}

/// A finding's heading: what was checked, in words.
pub fn finding_title(item: &str) -> &'static str {
    match item {
        "members_only" => "Who can enter",
        "real_jids" => "Who sees your account address",
        "public" => "Room directory",
        "archive" => "Archive on the server",
        "public_logs" => "Public logs",
        "password" => "Password",
        "onion" => "Connection to your server",
        "keys" => "Members who cannot read encrypted messages",
        _ => "Other",
    }
}

/// The sheet's summary line.
pub fn summary(audit: &RoomAudit) -> String {
    let warnings = audit
        .findings
        .iter()
        .filter(|f| f.level == "warning")
        .count();
    match warnings {
        0 => "No weakness found: this room is set up as a private group should be. Below is \
              what a seized server or a fellow member still learns."
            .to_owned(),
        1 => "1 weakness: read it before saying anything sensitive here.".to_owned(),
        n => format!("{n} weaknesses: read them before saying anything sensitive here."),
    }
}

fn finding_row(finding: &AuditFinding) -> adw::ActionRow {
    let row = adw::ActionRow::builder()
        .title(finding_title(&finding.item))
        .subtitle(glib::markup_escape_text(&finding.text))
        .build();
    let (icon, tip, class) = match finding.level.as_str() {
        "warning" => ("dialog-warning-symbolic", "Weakness", "error"),
        "notice" => ("dialog-information-symbolic", "Worth knowing", "warning"),
        _ => ("emblem-ok-symbolic", "As it should be", "success"),
    };
    let image = gtk4::Image::builder()
        .icon_name(icon)
        .tooltip_text(tip)
        .css_classes([class])
        .build();
    row.add_prefix(&image);
    row
}

impl RoomAuditWindow {
    /// The audit of one room over `parent`.
    pub fn new(parent: &impl IsA<gtk4::Window>, audit: &RoomAudit) -> Self {
        let window: Self = glib::Object::builder()
            .property("transient-for", parent)
            .property("modal", true)
            .property("search-enabled", false)
            .property("default-width", 620)
            .property("default-height", 640)
            .property("title", format!("What {} reveals", audit.room))
            .build();
        // Registered with the application so that locking finds and destroys it.
        window.set_application(parent.as_ref().application().as_ref());
        window.show_audit(audit);
        window
    }

    fn show_audit(&self, audit: &RoomAudit) {
        let page = adw::PreferencesPage::builder()
            .title("Room Audit")
            .icon_name("security-medium-symbolic")
            .build();
        let group = adw::PreferencesGroup::builder()
            .title(glib::markup_escape_text(&audit.room))
            .description(glib::markup_escape_text(&summary(audit)))
            .build();
        // Weaknesses first, then what is worth knowing, then what is fine.
        let rank = |f: &&AuditFinding| match f.level.as_str() {
            "warning" => 0,
            "notice" => 1,
            _ => 2,
        };
        let mut findings: Vec<&AuditFinding> = audit.findings.iter().collect();
        findings.sort_by_key(rank);
        for finding in findings {
            group.add(&finding_row(finding));
        }
        page.add(&group);
        if !audit.members_without_keys.is_empty() {
            let keys = adw::PreferencesGroup::builder()
                .title("Cannot read encrypted messages")
                .description(
                    "These members have published no encryption keys Talpa could use. Your \
                     messages are encrypted for everyone else; these members see only a notice.",
                )
                .build();
            for jid in &audit.members_without_keys {
                keys.add(
                    &adw::ActionRow::builder()
                        .title(glib::markup_escape_text(jid))
                        .build(),
                );
            }
            page.add(&keys);
        }
        self.add(&page);
    }
}

#[cfg(test)]
mod tests {
    use super::{finding_title, summary};
    use crate::core::events::{AuditFinding, RoomAudit};

    #[test]
    fn the_summary_counts_weaknesses_in_words() {
        let mut audit = RoomAudit {
            account: "a@talpa.test".into(),
            room: "r@rooms.talpa.test".into(),
            clean: false,
            members_only: false,
            real_jids_visible_to: "unknown".into(),
            public: true,
            archived: false,
            public_logs: false,
            password_protected: false,
            onion: false,
            members_without_keys: Vec::new(),
            findings: vec![
                AuditFinding {
                    item: "members_only".into(),
                    level: "warning".into(),
                    text: "Anyone can walk in.".into(),
                },
                AuditFinding {
                    item: "public".into(),
                    level: "warning".into(),
                    text: "Listed.".into(),
                },
            ],
        };
        assert!(summary(&audit).starts_with("2 weaknesses"));
        audit.findings.clear();
        assert!(summary(&audit).starts_with("No weakness"));
        assert_eq!(finding_title("members_only"), "Who can enter");
    }
}
