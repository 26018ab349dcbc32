//! OMEMO devices and trust: a contact's devices (or an account's own) with their fingerprints
//! and trust, verify and distrust; for an account also its trust policy (blind trust before
//! verification, or strict) and who may fetch its keys. Backed by the core's `devices`,
//! `trust`, `omemo_settings`, `set_trust_policy` and `set_key_access`.

use std::cell::{Cell, OnceCell, RefCell};

use gtk4::glib;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::core::events::DeviceInfo;
use crate::core::{Command, CoreHandle, Reply};
use crate::ui::user_text;

/// Key access choices in the order the row lists them (the core's names).
const KEY_ACCESS: [&str; 2] = ["open", "contacts"];

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default)]
    pub struct DevicesWindow {
        pub core: OnceCell<CoreHandle>,
        pub account: OnceCell<String>,
        /// The contact whose devices are shown; `None` for the account's own view.
        pub contact: OnceCell<Option<String>>,
        pub contact_group: adw::PreferencesGroup,
        pub own_group: adw::PreferencesGroup,
        pub policy_group: adw::PreferencesGroup,
        pub strict_switch: gtk4::Switch,
        pub access_row: adw::ComboRow,
        /// Rows shown now in the device groups (removed on reload).
        pub rows: RefCell<Vec<(adw::PreferencesGroup, adw::ActionRow)>>,
        /// The devices shown now, contact's then own.
        pub devices: RefCell<Vec<DeviceInfo>>,
        /// Set while stored values are shown, so only the user's changes reach the core.
        pub syncing: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for DevicesWindow {
        const NAME: &'static str = "TalpaDevicesWindow";
        type Type = super::DevicesWindow;
        type ParentType = adw::PreferencesWindow;
    }

    impl ObjectImpl for DevicesWindow {}
    impl WidgetImpl for DevicesWindow {}
    impl WindowImpl for DevicesWindow {}
    impl AdwWindowImpl for DevicesWindow {}
    impl PreferencesWindowImpl for DevicesWindow {}
}

glib::wrapper! {
    /// Devices, fingerprints and trust of a contact or of an account.
    pub struct DevicesWindow(ObjectSubclass<imp::DevicesWindow>)
        @extends adw::PreferencesWindow, adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native,
            gtk4::Root, gtk4::ShortcutManager;
}

/// What a device's trust means, in words.
pub fn trust_text(device: &DeviceInfo) -> &'static str {
    if device.this_device {
        return "This device";
    }
    match device.trust.as_str() {
        "own" => "One of your own devices",
        "verified" => "Verified by you",
        "blind" => "Trusted without verification (not yet compared)",
        "undecided" => "Not trusted: verify it to encrypt to it",
        "untrusted" => "Distrusted: nothing is encrypted to it",
        "changed" => "Its key CHANGED: not trusted until you verify it again",
        _ => "No key seen yet",
    }
}

/// A device row's subtitle: the device id, its trust and the OMEMO versions it speaks.
pub fn device_subtitle(device: &DeviceInfo) -> String {
    let versions: Vec<&str> = device
        .versions
        .iter()
        .map(|v| match v.as_str() {
            "omemo2" => "OMEMO 2",
            "omemo" => "legacy OMEMO",
            other => other,
        })
        .collect();
    let text = format!("Device {} · {}", device.device, trust_text(device));
    if versions.is_empty() {
        text
    } else {
        format!("{text} · {}", versions.join(", "))
    }
}

impl DevicesWindow {
    /// The devices of `contact` (with the account's own below), or with `None` the account's
    /// own devices and its encryption policy.
    pub fn new(
        core: CoreHandle,
        parent: &impl IsA<gtk4::Window>,
        account: &str,
        contact: Option<&str>,
    ) -> Self {
        let window: Self = glib::Object::builder()
            .property("transient-for", parent)
            .property("modal", true)
            .property("search-enabled", false)
            .property("default-width", 640)
            .property("default-height", 620)
            .build();
        // Registered with the application so that locking finds and destroys it.
        window.set_application(parent.as_ref().application().as_ref());
        let imp = window.imp();
        let _ = imp.core.set(core);
        let _ = imp.account.set(account.to_owned());
        let _ = imp.contact.set(contact.map(str::to_owned));
        window.build();
        window.reload();
        window
    }

    fn build(&self) {
        let imp = self.imp();
        let account = imp.account.get().cloned().unwrap_or_default();
        let contact = imp.contact.get().cloned().flatten();
        self.set_title(Some(&match &contact {
            Some(c) => format!("Devices of {c}"),
            None => format!("Devices and keys of {account}"),
        }));
        let page = adw::PreferencesPage::builder()
            .title("Devices")
            .icon_name("channel-secure-symbolic")
            .build();
        if let Some(contact) = &contact {
            imp.contact_group.set_title(&format!("{contact}'s devices"));
            imp.contact_group.set_description(Some(
                "Compare each fingerprint with the one shown on their device — in person or over \
                 another channel you trust. Mark it verified when they match; distrust a device \
                 you do not recognise (nothing is encrypted to it any more).",
            ));
            page.add(&imp.contact_group);
        }
        imp.own_group
            .set_title(&format!("Your devices ({account})"));
        imp.own_group.set_description(Some(
            "Every device of this account receives your messages too. A device you do not \
             recognise may mean someone has your password: distrust it.",
        ));
        page.add(&imp.own_group);

        if contact.is_none() {
            imp.policy_group.set_title("Encryption policy");
            let strict_row = adw::ActionRow::builder()
                .title("Only encrypt to verified devices")
                .subtitle(
                    "Off (default): a contact's devices are trusted until you verify one of \
                     them. On: messages go only to devices you verified — safer, but nobody \
                     reads you until you compared fingerprints.",
                )
                .activatable_widget(&imp.strict_switch)
                .build();
            imp.strict_switch.set_valign(gtk4::Align::Center);
            imp.strict_switch
                .set_tooltip_text(Some("Only encrypt to verified devices"));
            strict_row.add_suffix(&imp.strict_switch);
            imp.policy_group.add(&strict_row);
            imp.access_row.set_title("Who may fetch your keys");
            imp.policy_group.set_description(Some(
                "Who may fetch your keys — anyone: needed so members of your private rooms who \
                 are not your contacts can encrypt to you; contacts only: hides your keys (and \
                 so that this account uses encryption) from everyone else.",
            ));
            imp.access_row
                .set_model(Some(&gtk4::StringList::new(&["Anyone", "Contacts only"])));
            imp.access_row
                .set_tooltip_text(Some("Who may fetch your encryption keys"));
            imp.policy_group.add(&imp.access_row);
            page.add(&imp.policy_group);
            imp.strict_switch.connect_active_notify(glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |switch| window.strict_chosen(switch.is_active())
            ));
            imp.access_row.connect_selected_notify(glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |row| window.access_chosen(row.selected())
            ));
        }
        self.add(&page);
    }

    /// The devices shown now (the contact's first, then the account's own).
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.imp().devices.borrow().clone()
    }

    /// The strict-policy switch (account view only).
    pub fn strict_switch(&self) -> &gtk4::Switch {
        &self.imp().strict_switch
    }

    /// The key-access row (account view only).
    pub fn access_row(&self) -> &adw::ComboRow {
        &self.imp().access_row
    }

    /// Asks the core for the devices (and, for an account, its policy) and shows them.
    pub fn reload(&self) {
        let imp = self.imp();
        let (Some(core), Some(account), Some(contact)) = (
            imp.core.get().cloned(),
            imp.account.get().cloned(),
            imp.contact.get().cloned(),
        ) else {
            return;
        };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let mut theirs = Vec::new();
            let mut failure = None;
            if let Some(contact) = &contact {
                match core
                    .call(Command::Devices {
                        account: account.clone(),
                        jid: Some(contact.clone()),
                    })
                    .await
                {
                    Ok(Reply::Devices { devices }) => theirs = devices,
                    Ok(_) => {}
                    Err(e) => failure = Some(e),
                }
            }
            let own = match core
                .call(Command::Devices {
                    account: account.clone(),
                    jid: None,
                })
                .await
            {
                Ok(Reply::Devices { devices }) => devices,
                Ok(_) => Vec::new(),
                Err(e) => {
                    failure = Some(e);
                    Vec::new()
                }
            };
            let policy = if contact.is_none() {
                core.call(Command::OmemoSettings {
                    account: account.clone(),
                })
                .await
                .ok()
            } else {
                None
            };
            let Some(window) = window.upgrade() else {
                return;
            };
            window.show_devices(&theirs, &own);
            if let Some(Reply::OmemoSettings { strict, key_access }) = policy {
                let imp = window.imp();
                imp.syncing.set(true);
                imp.strict_switch.set_active(strict);
                imp.access_row.set_selected(
                    KEY_ACCESS
                        .iter()
                        .position(|a| *a == key_access)
                        .unwrap_or_default() as u32,
                );
                imp.syncing.set(false);
            }
            if let Some(e) = failure {
                window.add_toast(adw::Toast::new(&format!(
                    "Could not list the devices. {}",
                    user_text::error_text(&e)
                )));
            }
        });
    }

    fn show_devices(&self, theirs: &[DeviceInfo], own: &[DeviceInfo]) {
        let imp = self.imp();
        for (group, row) in imp.rows.take() {
            group.remove(&row);
        }
        let mut rows = Vec::new();
        for (group, devices, empty) in [
            (
                &imp.contact_group,
                theirs,
                "No devices published yet: they cannot receive encrypted messages.",
            ),
            (&imp.own_group, own, "No devices known yet."),
        ] {
            if devices.is_empty() {
                let row = adw::ActionRow::builder().title(empty).build();
                group.add(&row);
                rows.push((group.clone(), row));
            }
            for device in devices {
                let row = self.device_row(device);
                group.add(&row);
                rows.push((group.clone(), row));
            }
        }
        imp.rows.replace(rows);
        imp.devices
            .replace(theirs.iter().chain(own).cloned().collect());
    }

    fn device_row(&self, device: &DeviceInfo) -> adw::ActionRow {
        let title = device
            .fingerprint
            .clone()
            .unwrap_or_else(|| "Fingerprint not known yet".to_owned());
        let row = adw::ActionRow::builder()
            .title(glib::markup_escape_text(&title))
            .subtitle(glib::markup_escape_text(&device_subtitle(device)))
            .css_classes(["monospace"])
            .build();
        let icon = match device.trust.as_str() {
            _ if device.this_device => "computer-symbolic",
            "verified" => "emblem-ok-symbolic",
            "changed" | "untrusted" => "dialog-warning-symbolic",
            _ => "security-medium-symbolic",
        };
        row.add_prefix(&gtk4::Image::from_icon_name(icon));
        if device.this_device || device.fingerprint.is_none() {
            return row;
        }
        if device.trust != "verified" {
            let verify = gtk4::Button::builder()
                .label("Verify…")
                .valign(gtk4::Align::Center)
                .tooltip_text(format!("Mark device {} as verified", device.device))
                .build();
            let d = device.clone();
            verify.connect_clicked(glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |_| window.confirm_verify(&d)
            ));
            row.add_suffix(&verify);
        }
        if device.trust != "untrusted" {
            let distrust = gtk4::Button::builder()
                .label("Distrust")
                .valign(gtk4::Align::Center)
                .tooltip_text(format!(
                    "Stop encrypting to device {} and flag its messages",
                    device.device
                ))
                .css_classes(["destructive-action"])
                .build();
            let d = device.clone();
            distrust.connect_clicked(glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |_| window.set_trust(&d, "untrusted")
            ));
            row.add_suffix(&distrust);
        }
        row
    }

    /// Asks the user to compare the fingerprint before marking the device verified.
    fn confirm_verify(&self, device: &DeviceInfo) {
        let fingerprint = device.fingerprint.clone().unwrap_or_default();
        let dialog = adw::MessageDialog::new(
            Some(self),
            Some("Does the fingerprint match?"),
            Some(&format!(
                "Device {} of {} shows this fingerprint here:\n\n{fingerprint}\n\nMark it \
                 verified only if it is exactly what their device shows for itself.",
                device.device, device.jid
            )),
        );
        dialog.add_response("cancel", "Cancel");
        dialog.add_response("verify", "They Match");
        dialog.set_response_appearance("verify", adw::ResponseAppearance::Suggested);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        dialog.set_application(self.application().as_ref());
        let window = self.downgrade();
        let device = device.clone();
        dialog.connect_response(None, move |_, response| {
            if response == "verify"
                && let Some(window) = window.upgrade()
            {
                window.set_trust(&device, "verified");
            }
        });
        dialog.present();
    }

    /// Records the user's decision for `device` (`verified`, `untrusted`, `blind`).
    pub fn set_trust(&self, device: &DeviceInfo, level: &str) {
        let imp = self.imp();
        let (Some(core), Some(account)) = (imp.core.get().cloned(), imp.account.get().cloned())
        else {
            return;
        };
        let command = Command::Trust {
            account,
            jid: device.jid.clone(),
            device: device.device,
            level: level.to_owned(),
            // What the user saw: the core refuses if the key changed meanwhile.
            fingerprint: device.fingerprint.clone(),
        };
        let done = if level == "verified" {
            "Device marked verified."
        } else {
            "Device distrusted: nothing is encrypted to it any more."
        };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(window) = window.upgrade() else {
                return;
            };
            match result {
                Ok(_) => window.add_toast(adw::Toast::new(done)),
                Err(e) => window.add_toast(adw::Toast::new(&user_text::error_text(&e))),
            }
            window.reload();
        });
    }

    fn strict_chosen(&self, strict: bool) {
        if self.imp().syncing.get() {
            return;
        }
        let Some(account) = self.imp().account.get().cloned() else {
            return;
        };
        let done = if strict {
            "Messages are now encrypted only to verified devices."
        } else {
            "Devices are trusted until you verify one (blind trust)."
        };
        self.run(Command::SetTrustPolicy { account, strict }, done);
    }

    fn access_chosen(&self, selected: u32) {
        if self.imp().syncing.get() {
            return;
        }
        let (Some(account), Some(access)) = (
            self.imp().account.get().cloned(),
            KEY_ACCESS.get(selected as usize),
        ) else {
            return;
        };
        self.run(
            Command::SetKeyAccess {
                account,
                access: (*access).to_owned(),
            },
            "Key access changed (republished when online).",
        );
    }

    fn run(&self, command: Command, done: &'static str) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let window = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(command).await;
            let Some(window) = window.upgrade() else {
                return;
            };
            match result {
                Ok(_) => window.add_toast(adw::Toast::new(done)),
                Err(e) => window.add_toast(adw::Toast::new(&user_text::error_text(&e))),
            }
            window.reload();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::device_subtitle;
    use crate::core::events::DeviceInfo;

    #[test]
    fn a_device_says_its_id_trust_and_versions_in_words() {
        let device = DeviceInfo {
            jid: "bob@talpa.test".into(),
            device: 42,
            fingerprint: Some("0123".into()),
            trust: "changed".into(),
            versions: vec!["omemo2".into(), "omemo".into()],
            this_device: false,
        };
        assert_eq!(
            device_subtitle(&device),
            "Device 42 · Its key CHANGED: not trusted until you verify it again · OMEMO 2, legacy OMEMO"
        );
    }
}
