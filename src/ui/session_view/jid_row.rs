//! Sidebar rows whose title is an address (an account's or a conversation's JID): the title
//! stays one line, shortened in the middle — an address's start (the name) and end (the
//! server) say the most — with the whole address in the title's tooltip; the subtitle (an
//! account, a reason) wraps at spaces and never hyphenates a broken-up address.

use gtk4::pango;
use gtk4::prelude::*;
use libadwaita as adw;

/// Fits `row`'s title, the address `jid`, as the module says.
pub(super) fn fit(row: &adw::ActionRow, jid: &str) {
    if let Some(title) = part(row, "title") {
        title.set_wrap(false);
        title.set_lines(1);
        title.set_ellipsize(pango::EllipsizeMode::Middle);
        title.set_tooltip_text(Some(jid));
    }
    if let Some(subtitle) = part(row, "subtitle") {
        let attributes = subtitle.attributes().unwrap_or_default();
        attributes.insert(pango::AttrInt::new_insert_hyphens(false));
        subtitle.set_attributes(Some(&attributes));
    }
}

/// The row's own label styled `class` (`title` or `subtitle` in libadwaita 1.2's action row).
fn part(row: &adw::ActionRow, class: &str) -> Option<gtk4::Label> {
    let mut stack: Vec<gtk4::Widget> = vec![row.clone().upcast()];
    while let Some(w) = stack.pop() {
        if let Some(label) = w.downcast_ref::<gtk4::Label>()
            && label.has_css_class(class)
        {
            return Some(label.clone());
        }
        let mut child = w.first_child();
        while let Some(c) = child {
            child = c.next_sibling();
            stack.push(c);
        }
    }
    None
}
