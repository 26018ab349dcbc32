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
