//! Accessible labels for controls built in code (issue #8: every control has an accessible
//! label, so assistive technology and AT-SPI tests can name it).
//!
//! The gtk4 crate exposes `GtkAccessible` (and `gtk_accessible_update_property`) only for GTK
//! 4.10 and newer, and Talpa targets 4.8 (Debian 12) without unsafe code. GtkBuilder has set
//! accessible properties since 4.0, and can extend an existing object with a template: that is
//! how a label is put on a control here. GTK 4.8 cannot report an accessible property back
//! either, so the label is also remembered (weakly) for [`label_of`], which tests use.

use std::cell::RefCell;

use gtk4::glib;
use gtk4::prelude::*;

thread_local! {
    /// The labels given through [`set_label`], for [`label_of`] (GTK 4.8 cannot read an
    /// accessible property back). Dead widgets are pruned when a label is set.
    static LABELS: RefCell<Vec<(glib::WeakRef<gtk4::Widget>, String)>> = const { RefCell::new(Vec::new()) };
}

/// Gives `widget` the accessible label `text` (what a screen reader says for it).
pub fn set_label(widget: &impl IsA<gtk4::Widget>, text: &str) {
    let widget = widget.as_ref();
    let ty = widget.type_();
    let Some(parent) = ty.parent() else {
        return;
    };
    let xml = format!(
        "<interface><template class=\"{}\" parent=\"{}\"><accessibility>\
         <property name=\"label\">{}</property></accessibility></template></interface>",
        ty.name(),
        parent.name(),
        glib::markup_escape_text(text)
    );
    let builder = gtk4::Builder::new();
    if let Err(e) = builder.extend_with_template(widget, ty, &xml) {
        tracing::warn!(error = %e, "accessible label not set");
        return;
    }
    LABELS.with(|labels| {
        let mut labels = labels.borrow_mut();
        labels.retain(|(w, _)| w.upgrade().is_some_and(|w| &w != widget));
        labels.push((widget.downgrade(), text.to_owned()));
    });
}

/// The accessible label given to `widget` with [`set_label`], if any.
pub fn label_of(widget: &impl IsA<gtk4::Widget>) -> Option<String> {
    let widget = widget.as_ref();
    LABELS.with(|labels| {
        labels
            .borrow()
            .iter()
            .find(|(w, _)| w.upgrade().is_some_and(|w| &w == widget))
            .map(|(_, t)| t.clone())
    })
}

/// What a screen reader should call an icon-only control GTK or libadwaita built without an
/// accessible label: its tooltip, else a name for its icon.
fn toolkit_name(widget: &gtk4::Widget) -> Option<String> {
    if let Some(tip) = widget.tooltip_text().filter(|t| !t.trim().is_empty()) {
        return Some(tip.to_string());
    }
    let mut icon = None;
    let mut child = Some(widget.clone());
    while let Some(c) = child {
        if let Some(image) = c.downcast_ref::<gtk4::Image>() {
            icon = image.icon_name();
            break;
        }
        child = c.first_child();
    }
    let name = match icon?.as_str() {
        "view-reveal-symbolic" | "view-conceal-symbolic" => "Show or hide the passphrase",
        "go-previous-symbolic" | "go-previous-rtl-symbolic" => "Back",
        "go-next-symbolic" | "go-next-rtl-symbolic" => "Open",
        "adw-external-link-symbolic" | "external-link-symbolic" => "Open in a web browser",
        "edit-copy-symbolic" => "Copy",
        "edit-find-symbolic" | "system-search-symbolic" => "Search",
        "open-menu-symbolic" | "pan-down-symbolic" => "Menu",
        "window-close-symbolic" => "Close",
        _ => return None,
    };
    Some(name.to_owned())
}

/// Gives a name to every control under `root` that GTK or libadwaita build themselves without
/// an accessible label in GTK 4.8 / libadwaita 1.2 (which, unlike later versions, do not fall
/// back on tooltips): icon-only buttons and clickable icons (named from their tooltip or
/// icon), buttons holding a label (named with its text) and search entries. Controls Talpa labelled are left alone.
/// Used on windows the toolkit builds: About, the shortcuts window, the preferences window's
/// search (found by tests/gui_atspi.rs, which reads the names a screen reader gets).
pub fn name_toolkit_controls(root: &impl IsA<gtk4::Widget>) {
    fn walk(widget: &gtk4::Widget) {
        if label_of(widget).is_none() {
            let role = widget.property::<gtk4::AccessibleRole>("accessible-role");
            let icon_only = widget.downcast_ref::<gtk4::Button>().is_some_and(|b| {
                b.label().is_none() && b.child().is_none_or(|c| c.is::<gtk4::Image>())
            }) || widget
                .downcast_ref::<gtk4::MenuButton>()
                .is_some_and(|b| b.label().is_none())
                || (widget.is::<gtk4::Image>() && role == gtk4::AccessibleRole::Button);
            let text_child = widget
                .downcast_ref::<gtk4::Button>()
                .filter(|b| b.label().is_none())
                .and_then(gtk4::prelude::ButtonExt::child)
                .and_then(|c| c.downcast::<gtk4::Label>().ok());
            if let Some(text) = text_child {
                // GTK 4.8 names a button from its label property, not from a label child.
                set_label(widget, &text.label());
            } else if icon_only {
                if let Some(name) = toolkit_name(widget) {
                    set_label(widget, &name);
                } else if widget.is::<gtk4::MenuButton>() {
                    set_label(widget, "Menu");
                }
            } else if widget.is::<gtk4::SearchEntry>() {
                set_label(widget, "Search");
            }
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            walk(&c);
            child = c.next_sibling();
        }
    }
    walk(root.as_ref());
}

/// Names every search entry under `root` (a toolkit-built window's own search) `text`.
pub fn name_search_entries(root: &impl IsA<gtk4::Widget>, text: &str) {
    fn walk(widget: &gtk4::Widget, text: &str) {
        if widget.is::<gtk4::SearchEntry>() {
            set_label(widget, text);
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            walk(&c, text);
            child = c.next_sibling();
        }
    }
    walk(root.as_ref(), text);
}

/// Names the "show text" icon libadwaita 1.2 puts in a password row: it is a clickable image
/// with the button role but no accessible label, so a screen reader announced it as "GtkImage"
/// (found by tests/gui_atspi.rs).
pub fn label_password_peek(row: &libadwaita::PasswordEntryRow) {
    fn walk(widget: &gtk4::Widget) {
        if widget.property::<gtk4::AccessibleRole>("accessible-role")
            == gtk4::AccessibleRole::Button
            && (widget.is::<gtk4::Image>() || widget.is::<gtk4::Button>())
        {
            set_label(widget, "Show or hide the passphrase");
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            walk(&c);
            child = c.next_sibling();
        }
    }
    walk(row.upcast_ref());
}
