//! The Tor page of the preferences: Tor's state, how Talpa reaches Tor (the embedded client or
//! a system Tor's SOCKS port, for Tails and Whonix), the accounts' random start-up delay and
//! bridge lines. Backed by the core's
//! `tor_settings` / `set_tor_settings`; the core checks and applies a change at once (accounts
//! reconnect when the path changes). A refused change leaves everything typed in place and says
//! which line is wrong.

use std::cell::{Cell, OnceCell, RefCell};

use gtk4::glib;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;
use libadwaita::subclass::prelude::*;

use crate::core::events::TorStatusInfo;
use crate::core::tor_settings::{TorSettings, bridge_line_problem, check_network_file};
use crate::core::{Command, CoreError, CoreHandle, Reply};
use crate::ui::user_text;

/// The modes in the order the mode row lists them (the core's names).
const MODES: [&str; 2] = ["embedded", "system_socks"];

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default)]
    pub struct TorSettingsPage {
        pub state_row: adw::ActionRow,
        pub mode_row: adw::ComboRow,
        pub socks_row: adw::EntryRow,
        pub bridges_switch: gtk4::Switch,
        pub bridges_text: gtk4::TextView,
        pub error_label: gtk4::Label,
        pub apply_button: gtk4::Button,
        /// The upper bound of the random delay before each account connects, in seconds.
        pub jitter_spin: gtk4::SpinButton,
        /// The private test network row: its subtitle says which network is chosen.
        pub network_row: adw::ActionRow,
        /// The private network's JSON as chosen (applied with the rest), none for the public
        /// Tor network.
        pub private_network: RefCell<Option<String>>,
        /// The open file chooser, kept alive while it is shown.
        pub chooser: RefCell<Option<gtk4::FileChooserNative>>,
        pub core: OnceCell<CoreHandle>,
        /// Set while stored values are shown, so they are not taken for the user's edits.
        pub syncing: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for TorSettingsPage {
        const NAME: &'static str = "TalpaTorSettingsPage";
        type Type = super::TorSettingsPage;
        type ParentType = adw::PreferencesPage;
    }

    impl ObjectImpl for TorSettingsPage {
        fn constructed(&self) {
            self.parent_constructed();
            self.obj().build();
        }
    }

    impl WidgetImpl for TorSettingsPage {}
    impl PreferencesPageImpl for TorSettingsPage {}
}

glib::wrapper! {
    /// The Tor page of the preferences.
    pub struct TorSettingsPage(ObjectSubclass<imp::TorSettingsPage>)
        @extends adw::PreferencesPage, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget;
}

/// The sentence shown under the bridge lines when the core refused the settings: the first bad
/// line by number (counting every line typed, comments included) and what is wrong with it, or
/// the core's reason when no single line is to blame.
pub fn refusal_text(lines: &str, error: &CoreError) -> String {
    for (n, line) in lines.lines().enumerate() {
        if let Some(problem) = bridge_line_problem(line) {
            return format!(
                "Line {} is not a bridge line Talpa can use ({problem}). Nothing was changed; fix or remove the line and apply again.",
                n + 1
            );
        }
    }
    match error {
        CoreError::InvalidInput(what) => format!("Nothing was changed: {what}."),
        other => format!("Nothing was changed. {}", user_text::error_text(other)),
    }
}

impl TorSettingsPage {
    /// The page, talking to `core`; shows the stored settings once the core answered.
    pub fn new(core: CoreHandle) -> Self {
        let page: Self = glib::Object::new();
        let _ = page.imp().core.set(core);
        page.load();
        page
    }

    fn build(&self) {
        let imp = self.imp();
        self.set_title("Tor");
        self.set_icon_name(Some("network-vpn-symbolic"));

        let status = adw::PreferencesGroup::builder()
            .title("Tor")
            .description(
                "Tor is the only way Talpa connects. There is no setting that connects without it.",
            )
            .build();
        imp.state_row.set_title("Status");
        imp.state_row.set_subtitle("Unknown");
        status.add(&imp.state_row);
        imp.network_row.set_title("Private Tor network");
        let choose = gtk4::Button::builder()
            .label("Choose File…")
            .valign(gtk4::Align::Center)
            .tooltip_text("Use a private test network described by a tor-network.json file")
            .build();
        let clear = gtk4::Button::builder()
            .label("Public Tor")
            .valign(gtk4::Align::Center)
            .tooltip_text("Go back to the public Tor network")
            .build();
        imp.network_row.add_suffix(&choose);
        imp.network_row.add_suffix(&clear);
        status.add(&imp.network_row);
        self.show_network();
        choose.connect_clicked(glib::clone!(
            #[weak(rename_to = page)]
            self,
            move |_| page.choose_network_file()
        ));
        clear.connect_clicked(glib::clone!(
            #[weak(rename_to = page)]
            self,
            move |_| {
                page.imp().private_network.replace(None);
                page.show_network();
            }
        ));
        self.add(&status);

        let connection = adw::PreferencesGroup::builder()
            .title("How Talpa reaches Tor")
            .description("Talpa runs its own Tor inside itself. On a system that already forces every connection through Tor (Tails, Whonix) it can use that system's Tor instead — never a direct connection. Changes apply at once; accounts reconnect.")
            .build();
        imp.mode_row.set_title("Tor");
        imp.mode_row.set_model(Some(&gtk4::StringList::new(&[
            "Built into Talpa",
            "The system's Tor (Tails, Whonix)",
        ])));
        imp.mode_row
            .set_tooltip_text(Some("Which Tor Talpa connects through"));
        connection.add(&imp.mode_row);
        imp.socks_row
            .set_title("System Tor SOCKS address (IP:port)");
        imp.socks_row
            .set_tooltip_text(Some("The system Tor's SOCKS address, e.g. 127.0.0.1:9050"));
        connection.add(&imp.socks_row);
        imp.jitter_spin
            .set_adjustment(&gtk4::Adjustment::new(120.0, 0.0, 3600.0, 10.0, 60.0, 0.0));
        imp.jitter_spin.set_valign(gtk4::Align::Center);
        imp.jitter_spin.set_numeric(true);
        crate::ui::a11y::set_label(
            &imp.jitter_spin,
            "Longest random delay before an account connects, in seconds",
        );
        let jitter_row = adw::ActionRow::builder()
            .title("Random delay before connecting (seconds)")
            .subtitle("Each account waits a random time up to this before it connects, so your accounts are not seen logging in together. 0 connects at once.")
            .activatable_widget(&imp.jitter_spin)
            .build();
        jitter_row.add_suffix(&imp.jitter_spin);
        connection.add(&jitter_row);
        self.add(&connection);

        let bridges = adw::PreferencesGroup::builder()
            .title("Bridges")
            .description("If Tor is blocked where you are, bridges are unlisted entry points. One bridge line per line, plain or obfs4 (from bridges.torproject.org or a friend); lines starting with # are ignored. Bridge lines are kept in the encrypted profile and work with the built-in Tor only.")
            .build();
        let use_row = adw::ActionRow::builder()
            .title("Use bridges")
            .activatable_widget(&imp.bridges_switch)
            .build();
        imp.bridges_switch.set_valign(gtk4::Align::Center);
        crate::ui::a11y::set_label(&imp.bridges_switch, "Use bridges");
        imp.bridges_switch
            .set_tooltip_text(Some("Connect to Tor through the bridges below"));
        use_row.add_suffix(&imp.bridges_switch);
        bridges.add(&use_row);
        imp.bridges_text.set_monospace(true);
        crate::ui::a11y::set_label(&imp.bridges_text, "Bridge lines, one per line");
        imp.bridges_text.set_wrap_mode(gtk4::WrapMode::Char);
        imp.bridges_text.set_height_request(100);
        imp.bridges_text.set_top_margin(6);
        imp.bridges_text.set_bottom_margin(6);
        imp.bridges_text.set_left_margin(6);
        imp.bridges_text.set_right_margin(6);
        imp.bridges_text.set_tooltip_text(Some("Bridge lines"));
        let frame = gtk4::Frame::builder()
            .child(&imp.bridges_text)
            .margin_top(12)
            .build();
        bridges.add(&frame);
        imp.error_label.set_wrap(true);
        imp.error_label.set_xalign(0.0);
        imp.error_label.set_margin_top(6);
        imp.error_label.add_css_class("error");
        imp.error_label.set_visible(false);
        bridges.add(&imp.error_label);
        imp.apply_button.set_label("Apply Tor Settings");
        imp.apply_button.set_halign(gtk4::Align::End);
        imp.apply_button.set_margin_top(12);
        imp.apply_button.add_css_class("suggested-action");
        imp.apply_button
            .set_tooltip_text(Some("Check and apply the Tor settings now"));
        bridges.add(&imp.apply_button);
        self.add(&bridges);

        imp.mode_row.connect_selected_notify(glib::clone!(
            #[weak(rename_to = page)]
            self,
            move |_| page.update_sensitivity()
        ));
        imp.apply_button.connect_clicked(glib::clone!(
            #[weak(rename_to = page)]
            self,
            move |_| page.apply()
        ));
        self.update_sensitivity();
    }

    /// The SOCKS address matters only for the system Tor, bridges only for the built-in one.
    fn update_sensitivity(&self) {
        let imp = self.imp();
        let system = imp.mode_row.selected() == 1;
        imp.socks_row.set_visible(system);
        imp.bridges_switch.set_sensitive(!system);
    }

    /// Shows Tor's current state.
    pub fn set_tor_status(&self, status: &TorStatusInfo) {
        self.imp().state_row.set_subtitle(&format!(
            "{} ({}%)",
            status.text,
            status.percent.min(100)
        ));
    }

    /// Shows `settings` in the rows.
    pub fn show_settings(&self, settings: &TorSettings) {
        let imp = self.imp();
        imp.syncing.set(true);
        let mode = MODES
            .iter()
            .position(|m| *m == settings.mode)
            .unwrap_or_default();
        imp.mode_row.set_selected(mode as u32);
        imp.socks_row
            .set_text(settings.socks_addr.as_deref().unwrap_or_default());
        imp.bridges_switch.set_active(settings.use_bridges);
        #[allow(clippy::cast_precision_loss)] // at most 3600
        imp.jitter_spin
            .set_value(settings.startup_jitter_secs.unwrap_or(120) as f64);
        imp.bridges_text
            .buffer()
            .set_text(&settings.bridges.join("\n"));
        imp.private_network
            .replace(settings.private_network.clone());
        self.show_network();
        imp.syncing.set(false);
        self.update_sensitivity();
    }

    /// The settings as the rows show them now.
    pub fn settings(&self) -> TorSettings {
        let imp = self.imp();
        let system = imp.mode_row.selected() == 1;
        let socks = imp.socks_row.text().trim().to_owned();
        TorSettings {
            mode: MODES[usize::from(system)].to_owned(),
            socks_addr: (system && !socks.is_empty()).then_some(socks),
            use_bridges: !system && imp.bridges_switch.is_active(),
            bridges: self
                .bridge_text()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            startup_jitter_secs: Some(u64::from(imp.jitter_spin.value_as_int().unsigned_abs())),
            private_network: imp.private_network.borrow().clone(),
        }
    }

    /// Says which network is chosen in the private network row.
    fn show_network(&self) {
        let imp = self.imp();
        let text = match imp.private_network.borrow().as_deref() {
            None => "The public Tor network. For test networks only: choose a tor-network.json file (authorities and fallback relays); applied with the rest. The --tor-network option overrides it.".to_owned(),
            Some(json) => match check_network_file(json) {
                Ok(n) => format!(
                    "A private test network: {} authorities, {} fallback relays (never the public Tor network).",
                    n.authorities, n.fallbacks
                ),
                Err(e) => user_text::network_file_error_text(&e),
            },
        };
        imp.network_row.set_subtitle(&text);
    }

    /// Takes the private network description from `path` (applied with the rest); an
    /// unreadable file is reported and changes nothing.
    pub fn load_network_file(&self, path: &std::path::Path) {
        let read =
            crate::ui::bounded_file::read_path(path, crate::ui::bounded_file::MAX_CHOSEN_FILE)
                .and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|_| {
                        crate::ui::bounded_file::ChosenFileError::Unreadable(
                            "it is not text".into(),
                        )
                    })
                });
        match read {
            Ok(text) => {
                self.imp().private_network.replace(Some(text));
                self.show_network();
            }
            Err(e) => self.show_error(Some(&format!(
                "Could not use {}: {e}. Nothing was changed.",
                path.display()
            ))),
        }
    }

    /// The private network row's subtitle (for tests).
    pub fn network_text(&self) -> String {
        self.imp()
            .network_row
            .subtitle()
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    fn choose_network_file(&self) {
        let parent = self.root().and_downcast::<gtk4::Window>();
        let chooser = gtk4::FileChooserNative::new(
            Some("Private Tor Network"),
            parent.as_ref(),
            gtk4::FileChooserAction::Open,
            Some("Use"),
            Some("Cancel"),
        );
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = page)]
            self,
            move |chooser, response| {
                if response == gtk4::ResponseType::Accept
                    && let Some(path) = chooser.file().and_then(|f| f.path())
                {
                    page.load_network_file(&path);
                }
                page.imp().chooser.replace(None);
            }
        ));
        chooser.show();
        self.imp().chooser.replace(Some(chooser));
    }

    /// The start-up delay spin button (for tests).
    pub fn jitter_spin(&self) -> gtk4::SpinButton {
        self.imp().jitter_spin.clone()
    }

    fn bridge_text(&self) -> String {
        let buffer = self.imp().bridges_text.buffer();
        buffer
            .text(&buffer.start_iter(), &buffer.end_iter(), false)
            .to_string()
    }

    /// The inline error under the bridge lines, if one is shown.
    pub fn error_text(&self) -> Option<String> {
        let label = &self.imp().error_label;
        label.is_visible().then(|| label.label().to_string())
    }

    fn show_error(&self, text: Option<&str>) {
        let label = &self.imp().error_label;
        label.set_label(text.unwrap_or_default());
        label.set_visible(text.is_some());
        if text.is_some() {
            // The bridges are at the page's end: bring the error into view.
            let scrolled = label
                .ancestor(gtk4::ScrolledWindow::static_type())
                .and_downcast::<gtk4::ScrolledWindow>();
            if let Some(scrolled) = scrolled {
                glib::idle_add_local_once(move || {
                    let adjustment = scrolled.vadjustment();
                    adjustment.set_value(adjustment.upper() - adjustment.page_size());
                });
            }
        }
    }

    fn notify(&self, text: &str) {
        if let Some(window) = self.root().and_downcast::<adw::PreferencesWindow>() {
            window.add_toast(adw::Toast::new(text));
        }
    }

    fn load(&self) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let page = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(Command::TorSettings).await;
            if let (Ok(Reply::TorSettings(settings)), Some(page)) = (result, page.upgrade()) {
                page.show_settings(&settings);
            }
        });
    }

    /// Sends the rows' settings to the core; on refusal keeps the rows as typed and explains.
    pub fn apply(&self) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let typed = self.bridge_text();
        let settings = self.settings();
        self.imp().apply_button.set_sensitive(false);
        let page = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let result = core.call(Command::SetTorSettings(settings)).await;
            let Some(page) = page.upgrade() else { return };
            page.imp().apply_button.set_sensitive(true);
            match result {
                Ok(Reply::TorSettings(stored)) => {
                    page.show_error(None);
                    page.show_settings(&stored);
                    page.notify("Tor settings applied.");
                }
                Ok(_) => {
                    page.show_error(None);
                    page.notify("Tor settings applied.");
                }
                Err(e) => page.show_error(Some(&refusal_text(&typed, &e))),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::refusal_text;
    use crate::core::CoreError;

    #[test]
    fn a_refusal_names_the_bad_line_counting_every_typed_line() {
        let typed =
            "# my bridges\n127.0.0.1:9 0123456789ABCDEF0123456789ABCDEF01234567\nnot a bridge";
        let text = refusal_text(typed, &CoreError::InvalidInput("bridge lines: …".into()));
        assert!(text.starts_with("Line 3 "), "{text}");
        let text = refusal_text("", &CoreError::InvalidInput("no SOCKS address".into()));
        assert_eq!(text, "Nothing was changed: no SOCKS address.");
    }
}
