//! The header-bar Tor indicator: a progress bar while Tor bootstraps, a green icon once it is
//! ready, and a popover that says Tor is the only way out plus each account's circuit.

use std::sync::OnceLock;

use gtk4::glib::subclass::Signal;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, glib};

use crate::core::events::{CircuitSummary, TorStatusInfo};

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/tor_indicator.ui")]
    pub struct TorIndicator {
        #[template_child]
        pub button: TemplateChild<gtk4::MenuButton>,
        #[template_child]
        pub icon: TemplateChild<gtk4::Image>,
        #[template_child]
        pub progress: TemplateChild<gtk4::ProgressBar>,
        #[template_child]
        pub state_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub circuits_label: TemplateChild<gtk4::Label>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for TorIndicator {
        const NAME: &'static str = "TalpaTorIndicator";
        type Type = super::TorIndicator;
        type ParentType = gtk4::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for TorIndicator {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![Signal::builder("opened").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.set_accounts(&[]);
            if let Some(popover) = self.button.popover() {
                popover.connect_show(glib::clone!(
                    #[weak]
                    obj,
                    move |_| obj.emit_by_name::<()>("opened", &[])
                ));
            }
        }
    }
    impl WidgetImpl for TorIndicator {}
    impl BoxImpl for TorIndicator {}
}

glib::wrapper! {
    /// Shows Tor's state; fed by the window from `Event::TorStatus`.
    pub struct TorIndicator(ObjectSubclass<imp::TorIndicator>)
        @extends gtk4::Box, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Orientable;
}

impl Default for TorIndicator {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl TorIndicator {
    /// Shows a new Tor state.
    pub fn set_status(&self, status: &TorStatusInfo) {
        let imp = self.imp();
        let ready = status.state == "ready";
        let broken = matches!(status.state.as_str(), "blocked" | "failed");
        imp.progress.set_visible(!ready && !broken);
        imp.progress
            .set_fraction(f64::from(status.percent.min(100)) / 100.0);
        for class in ["tor-ready", "tor-broken"] {
            imp.icon.remove_css_class(class);
        }
        let (icon, class, summary) = if ready {
            (
                "network-vpn-symbolic",
                Some("tor-ready"),
                "Connected to Tor".to_owned(),
            )
        } else if broken {
            (
                "network-vpn-disabled-symbolic",
                Some("tor-broken"),
                "Tor cannot connect; nothing leaves this computer".to_owned(),
            )
        } else if status.state == "not_started" {
            (
                "network-vpn-disabled-symbolic",
                None,
                "Tor starts after unlocking".to_owned(),
            )
        } else {
            (
                "network-vpn-acquiring-symbolic",
                None,
                format!("Starting Tor: {}%", status.percent.min(100)),
            )
        };
        imp.icon.set_icon_name(Some(icon));
        if let Some(class) = class {
            imp.icon.add_css_class(class);
        }
        imp.button.set_tooltip_text(Some(&summary));
        imp.state_label
            .set_label(&format!("{summary}\n{}", status.text));
    }

    /// Calls `f` whenever the popover opens (to refresh the circuits it shows).
    pub fn connect_opened<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("opened", false, move |values| {
            if let Some(Ok(indicator)) = values.first().map(glib::Value::get::<Self>) {
                f(&indicator);
            }
            None
        })
    }

    /// Opens the popover (for the keyboard and for tests).
    pub fn popup(&self) {
        self.imp().button.popup();
    }

    /// Closes the popover.
    pub fn popdown(&self) {
        self.imp().button.popdown();
    }

    /// The text the popover shows about the accounts' circuits.
    pub fn circuits_text(&self) -> String {
        self.imp().circuits_label.label().to_string()
    }

    /// Shows one line per account: `(jid, circuit or state text)`.
    pub fn set_accounts(&self, accounts: &[(String, String)]) {
        let text = if accounts.is_empty() {
            "No accounts yet. Each account you add gets its own Tor circuits.".to_owned()
        } else {
            accounts
                .iter()
                .map(|(jid, circuit)| format!("{jid}: {circuit}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        self.imp().circuits_label.set_label(&text);
    }
}

/// A readable description of a circuit: each relay's role, address and short fingerprint, one
/// relay per line, guard first.
pub fn circuit_text(circuit: &CircuitSummary) -> String {
    let n = circuit.hops.len();
    let hops: Vec<String> = circuit
        .hops
        .iter()
        .enumerate()
        .map(|(i, hop)| {
            let role = match i {
                0 => "guard",
                i if i + 1 == n => "exit",
                _ => "middle",
            };
            let addr = hop.addrs.first().map_or("?", String::as_str);
            let id = hop
                .rsa_identity
                .as_deref()
                .map_or("unknown", |id| id.get(..8).unwrap_or(id));
            format!("  {role} {addr} ({id}…)")
        })
        .collect();
    if hops.is_empty() {
        "circuit without relay details".to_owned()
    } else {
        hops.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::circuit_text;
    use crate::core::events::{CircuitSummary, RelaySummary};

    #[test]
    fn a_circuit_reads_guard_middle_exit_with_short_fingerprints() {
        let hop = |addr: &str, id: &str| RelaySummary {
            rsa_identity: Some(id.to_owned()),
            addrs: vec![addr.to_owned()],
        };
        let circuit = CircuitSummary {
            id: "Circ 1".into(),
            hops: vec![
                hop("127.0.0.1:5101", "AAAAAAAA11111111"),
                hop("127.0.0.1:5102", "BBBBBBBB22222222"),
                hop("127.0.0.1:5103", "CCCCCCCC33333333"),
            ],
        };
        assert_eq!(
            circuit_text(&circuit),
            "  guard 127.0.0.1:5101 (AAAAAAAA…)\n  middle 127.0.0.1:5102 (BBBBBBBB…)\n  exit 127.0.0.1:5103 (CCCCCCCC…)"
        );
    }
}
