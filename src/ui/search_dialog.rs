//! Message search (Ctrl+F): words typed are looked for in this computer's stored messages —
//! every account's conversations, or only the open one — through the core's `search`
//! command, which reads the local encrypted store only (never the server's archive). Each
//! result shows the conversation, the sender, the time and a one-line snippet with the words
//! highlighted; activating it opens that conversation with the message at the top of the
//! list (older pages are loaded until it is there). A contact named by the user is shown by
//! that name (`ui::contact_names`, following renames), the address in the tooltip; a room's
//! sender is its nickname, never matched to a contact's name. A screen reader hears each
//! result with the words it matched.
//!
//! The snippet is hostile text: it is shown with `set_text` and Pango attributes, never parsed
//! as markup, and control and bidirectional-formatting characters are dropped first so a
//! message cannot reorder or hide the rest of its line.

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::OnceLock;

use gtk4::glib::subclass::Signal;
use gtk4::prelude::*;
use gtk4::subclass::prelude::*;
use gtk4::{CompositeTemplate, glib, pango};
use libadwaita as adw;
use libadwaita::subclass::prelude::*;

use crate::core::search::SearchHit;
use crate::core::{Command, CoreHandle, Reply};
use crate::ui::user_text;

/// Hits asked for per account and page.
const PAGE: u32 = 50;

const HINT: &str = "Type words to find in this computer's stored messages.";

mod imp {
    #[allow(clippy::wildcard_imports)]
    // gtk-rs subclass idiom: imp shares its wrapper's imports
    use super::*;

    #[derive(Default, CompositeTemplate)]
    #[template(file = "../../ui/search_dialog.ui")]
    pub struct SearchDialog {
        #[template_child]
        pub search_entry: TemplateChild<gtk4::SearchEntry>,
        #[template_child]
        pub scope_check: TemplateChild<gtk4::CheckButton>,
        #[template_child]
        pub status_label: TemplateChild<gtk4::Label>,
        #[template_child]
        pub results_list: TemplateChild<gtk4::ListBox>,
        #[template_child]
        pub more_button: TemplateChild<gtk4::Button>,
        pub core: OnceCell<CoreHandle>,
        /// The accounts searched.
        pub accounts: RefCell<Vec<String>>,
        /// The conversation open in the window, which "only the open conversation" searches.
        pub open: RefCell<Option<(String, String)>>,
        /// What is searched now.
        pub query: RefCell<String>,
        /// Bumped by every new search, so a late answer to an older one is dropped.
        pub generation: Cell<u64>,
        /// The hits listed, in list order.
        pub hits: RefCell<Vec<SearchHit>>,
        /// Where each search (account, conversation) with older hits goes on.
        pub cursors: RefCell<Vec<Cursor>>,
        /// Hits fetched but not listed yet: older than some search's unfetched hits, so
        /// listing them now could put them before hits still to come.
        pub held: RefCell<Vec<SearchHit>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SearchDialog {
        const NAME: &'static str = "TalpaSearchDialog";
        type Type = super::SearchDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.add_binding_action(
                gtk4::gdk::Key::Escape,
                gtk4::gdk::ModifierType::empty(),
                "window.close",
            );
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for SearchDialog {
        fn signals() -> &'static [Signal] {
            static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    Signal::builder("chosen")
                        .param_types([
                            String::static_type(),
                            String::static_type(),
                            i64::static_type(),
                        ])
                        .build(),
                ]
            })
        }
    }

    impl WidgetImpl for SearchDialog {}
    impl WindowImpl for SearchDialog {}
    impl AdwWindowImpl for SearchDialog {}
}

glib::wrapper! {
    /// Finds stored messages by the words in them.
    pub struct SearchDialog(ObjectSubclass<imp::SearchDialog>)
        @extends adw::Window, gtk4::Window, gtk4::Widget,
        @implements gtk4::Buildable, gtk4::ConstraintTarget, gtk4::Native,
            gtk4::Root, gtk4::ShortcutManager;
}

impl SearchDialog {
    /// A search over `accounts`' stored messages, above `parent`; `open` is the conversation
    /// (account, peer) shown in the window, which the search can be narrowed to.
    pub fn new(
        parent: &impl IsA<gtk4::Window>,
        core: CoreHandle,
        accounts: Vec<String>,
        open: Option<(String, String)>,
    ) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        // Registered with the application so that locking finds and destroys it.
        dialog.set_application(parent.as_ref().application().as_ref());
        let imp = dialog.imp();
        let _ = imp.core.set(core);
        imp.accounts.replace(accounts);
        if let Some((account, peer)) = open.clone() {
            let check = imp.scope_check.downgrade();
            let name_scope = move || {
                if let Some(check) = check.upgrade() {
                    let name = crate::ui::contact_names::title_of(&account, &peer);
                    check.set_label(Some(&format!("Only the conversation with {name}")));
                    check.set_tooltip_text(Some(&peer));
                }
            };
            name_scope();
            crate::ui::contact_names::watch(&*imp.scope_check, name_scope);
            imp.scope_check.set_visible(true);
        }
        imp.open.replace(open);
        imp.search_entry.connect_search_changed(glib::clone!(
            #[weak]
            dialog,
            move |entry| dialog.search(&entry.text())
        ));
        imp.search_entry.connect_activate(glib::clone!(
            #[weak]
            dialog,
            move |_| dialog.choose(0)
        ));
        imp.scope_check.connect_toggled(glib::clone!(
            #[weak]
            dialog,
            move |_| {
                let query = dialog.imp().query.borrow().clone();
                dialog.search(&query);
            }
        ));
        imp.results_list.connect_row_activated(glib::clone!(
            #[weak]
            dialog,
            move |_, row| dialog.choose(row.index() as u32)
        ));
        imp.more_button.connect_clicked(glib::clone!(
            #[weak]
            dialog,
            move |_| dialog.more()
        ));
        dialog
    }

    /// Calls `f(account, peer, message id)` when a result is chosen (the dialog then closes).
    pub fn connect_chosen<F: Fn(&Self, &str, &str, i64) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("chosen", false, move |values| {
            let dialog = values.first()?.get::<Self>().ok()?;
            let account = values.get(1)?.get::<String>().ok()?;
            let peer = values.get(2)?.get::<String>().ok()?;
            let id = values.get(3)?.get::<i64>().ok()?;
            f(&dialog, &account, &peer, id);
            None
        })
    }

    /// The search entry (for tests and focus).
    pub fn search_entry(&self) -> &gtk4::SearchEntry {
        &self.imp().search_entry
    }

    /// Narrows the search to the open conversation, or widens it to every conversation.
    pub fn set_only_open_conversation(&self, only: bool) {
        self.imp().scope_check.set_active(only);
    }

    /// How many results are listed.
    pub fn n_results(&self) -> usize {
        self.imp().hits.borrow().len()
    }

    /// The snippets listed, in order (for tests).
    pub fn snippets(&self) -> Vec<String> {
        self.imp()
            .hits
            .borrow()
            .iter()
            .map(|h| h.snippet.clone())
            .collect()
    }

    /// What the status line says now.
    pub fn status(&self) -> String {
        self.imp().status_label.text().to_string()
    }

    /// Searches for `text` (what the search entry does), replacing the results.
    pub fn search(&self, text: &str) {
        let imp = self.imp();
        imp.query.replace(text.to_owned());
        imp.generation.set(imp.generation.get() + 1);
        imp.hits.borrow_mut().clear();
        imp.cursors.borrow_mut().clear();
        imp.held.borrow_mut().clear();
        // ListBox::remove_all is GTK 4.12.
        while let Some(row) = imp.results_list.first_child() {
            imp.results_list.remove(&row);
        }
        imp.more_button.set_visible(false);
        if text.trim().is_empty() {
            imp.status_label.set_text(HINT);
            return;
        }
        imp.status_label.set_text("Searching…");
        let only = imp
            .open
            .borrow()
            .clone()
            .filter(|_| imp.scope_check.is_active());
        let scopes: Vec<(String, Option<String>, Option<i64>)> = match only {
            Some((account, peer)) => vec![(account, Some(peer), None)],
            None => imp
                .accounts
                .borrow()
                .iter()
                .map(|a| (a.clone(), None, None))
                .collect(),
        };
        self.fetch(scopes);
    }

    /// Lists the next page of every search that has older hits.
    fn more(&self) {
        let scopes = self
            .imp()
            .cursors
            .take()
            .into_iter()
            .map(|c| (c.account, c.with, Some(c.last.1)))
            .collect::<Vec<_>>();
        self.imp().more_button.set_visible(false);
        if scopes.is_empty() {
            // Only held hits are left.
            self.show(Vec::new(), Vec::new(), None);
        } else {
            self.fetch(scopes);
        }
    }

    fn fetch(&self, scopes: Vec<(String, Option<String>, Option<i64>)>) {
        let Some(core) = self.imp().core.get().cloned() else {
            return;
        };
        let generation = self.imp().generation.get();
        let query = self.imp().query.borrow().clone();
        let dialog = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let mut batch = Vec::new();
            let mut cursors = Vec::new();
            let mut failure = None;
            for (account, with, before) in scopes {
                let result = core
                    .call(Command::Search {
                        account: account.clone(),
                        query: query.clone(),
                        with: with.clone(),
                        before,
                        limit: Some(PAGE),
                    })
                    .await;
                match result {
                    Ok(Reply::SearchResults { hits, more }) => {
                        if let (true, Some(last)) = (more, hits.last()) {
                            cursors.push(Cursor {
                                account,
                                with,
                                last: (last.timestamp_ms, last.id),
                            });
                        }
                        batch.extend(hits);
                    }
                    Ok(_) => {}
                    Err(e) => failure = Some(user_text::error_text(&e)),
                }
            }
            let Some(dialog) = dialog.upgrade() else {
                return;
            };
            if dialog.imp().generation.get() != generation {
                return;
            }
            dialog.show(batch, cursors, failure);
        });
    }

    fn show(&self, mut batch: Vec<SearchHit>, cursors: Vec<Cursor>, failure: Option<String>) {
        let imp = self.imp();
        let several_accounts = imp.accounts.borrow().len() > 1;
        batch.append(&mut imp.held.borrow_mut());
        let (listed, held) = split_at_frontier(batch, &cursors);
        for hit in &listed {
            imp.results_list.append(&result_row(hit, several_accounts));
        }
        imp.hits.borrow_mut().extend(listed);
        imp.more_button
            .set_visible(!cursors.is_empty() || !held.is_empty());
        imp.held.replace(held);
        imp.cursors.replace(cursors);
        let n = imp.hits.borrow().len();
        let status = match (failure, n) {
            (Some(e), _) => e,
            (None, 0) => "No stored message contains these words.".to_owned(),
            (None, 1) => "1 message".to_owned(),
            (None, n) if imp.more_button.is_visible() => format!("{n} messages, and older ones"),
            (None, n) => format!("{n} messages"),
        };
        imp.status_label.set_text(&status);
    }

    /// Opens the `index`-th result's conversation (Enter opens the first).
    pub fn choose(&self, index: u32) {
        let Some(hit) = self.imp().hits.borrow().get(index as usize).cloned() else {
            return;
        };
        self.emit_by_name::<()>("chosen", &[&hit.account, &hit.with, &hit.id]);
        self.close();
    }
}

/// Opens the search above `window`, over `session`'s accounts; a chosen result opens its
/// conversation in `session`.
pub fn open(
    window: &impl IsA<gtk4::Window>,
    core: CoreHandle,
    session: &crate::ui::session_view::SessionView,
) -> SearchDialog {
    let open = session.conversation_view().and_then(|view| {
        let model = session.conversations_model()?;
        model
            .iter::<crate::ui::models::ConversationObject>()
            .flatten()
            .find(|c| view.is_showing(&c.account(), &c.peer()))
            .map(|c| (c.account(), c.peer()))
    });
    let dialog = SearchDialog::new(window, core.clone(), session.account_jids(), open);
    let session = session.downgrade();
    dialog.connect_chosen(move |_, account, peer, id| {
        if let Some(session) = session.upgrade() {
            reveal(&session, core.clone(), account, peer, id);
        }
    });
    dialog.present();
    dialog
}

/// Messages per older page read to reach a message (the most the core's `history` gives).
const REVEAL_PAGE: u32 = 10_000;

/// How many such pages are read at most: a message further back than this many messages
/// is not shown, and the user is told so.
const REVEAL_PAGES: usize = 30;

/// Opens `account`'s conversation with `peer` and shows message `id` at the top of the list,
/// highlighted for a moment. The messages between it and those loaded are read first, in
/// pages kept aside, and put before the loaded ones at once. A message that cannot be reached
/// (gone meanwhile, or more than `REVEAL_PAGES` × `REVEAL_PAGE` messages back) is said so in
/// a toast: the conversation never silently opens somewhere else.
pub fn reveal(
    session: &crate::ui::session_view::SessionView,
    core: CoreHandle,
    account: &str,
    peer: &str,
    id: i64,
) {
    session.open_conversation(account, peer);
    let Some(view) = session.conversation_view() else {
        return;
    };
    let window = session
        .root()
        .and_downcast::<crate::ui::window::Window>()
        .map(|w| w.downgrade());
    let view = view.downgrade();
    let (account, peer) = (account.to_owned(), peer.to_owned());
    glib::MainContext::default().spawn_local(async move {
        let unreachable = || {
            if let Some(w) = window.as_ref().and_then(glib::WeakRef::upgrade) {
                w.toast(
                    "The message found cannot be shown: it is no longer stored, or too far \
                     back in its conversation",
                );
            }
        };
        // The newest page first (the view loads it when the conversation opens).
        for _ in 0..200 {
            let Some(v) = view.upgrade() else { return };
            if v.is_showing(&account, &peer) && !v.is_opening() {
                break;
            }
            glib::timeout_future(std::time::Duration::from_millis(50)).await;
        }
        let position = |v: &crate::ui::chat::conversation_view::ConversationView| {
            v.messages().and_then(|store| {
                store
                    .iter::<crate::ui::models::MessageObject>()
                    .flatten()
                    .enumerate()
                    .find(|(_, m)| m.id() == id)
                    .and_then(|(p, m)| Some((u32::try_from(p).ok()?, m)))
            })
        };
        let Some(v) = view.upgrade() else { return };
        if !v.is_showing(&account, &peer) || v.is_opening() {
            return;
        }
        if position(&v).is_none() {
            let Some(mut oldest) = v
                .messages()
                .and_then(|s| s.item(0))
                .and_downcast::<crate::ui::models::MessageObject>()
                .map(|m| m.id())
            else {
                return unreachable();
            };
            drop(v);
            // Oldest first, what lies between the message and the loaded ones.
            let mut between: Vec<crate::core::events::StoredMessage> = Vec::new();
            let mut reached = false;
            for _ in 0..REVEAL_PAGES {
                let result = core
                    .call(Command::History {
                        account: account.clone(),
                        with: peer.clone(),
                        before: Some(oldest),
                        limit: Some(REVEAL_PAGE),
                    })
                    .await;
                let Some(v) = view.upgrade() else { return };
                // The user went elsewhere meanwhile: nothing to show here any more.
                if !v.is_showing(&account, &peer) {
                    return;
                }
                let Ok(Reply::History { mut messages }) = result else {
                    return unreachable();
                };
                let Some(first) = messages.first() else { break };
                oldest = first.id;
                reached = messages.iter().any(|m| m.id == id);
                messages.append(&mut between);
                between = messages;
                if reached {
                    break;
                }
            }
            let Some(v) = view.upgrade() else { return };
            if !reached || !v.is_showing(&account, &peer) {
                return unreachable();
            }
            v.prepend_older(&between);
            drop(v);
            // Let the list lay out what was put before its rows before looking again.
            glib::timeout_future(std::time::Duration::from_millis(100)).await;
        }
        let Some(v) = view.upgrade() else { return };
        let Some((index, message)) = position(&v) else {
            return unreachable();
        };
        crate::ui::chat::found_message::flash(&v, &message);
        drop(v);
        show_settled(&view, index).await;
    });
}

/// Shows the list from `index` on, again until it stays there (half a second in a row): a
/// list still settling after older messages were put before its rows, or loading more of
/// them itself once it is at the top, can move its window once more.
async fn show_settled(
    view: &glib::WeakRef<crate::ui::chat::conversation_view::ConversationView>,
    index: u32,
) {
    let mut steady = 0;
    for _ in 0..40 {
        let Some(v) = view.upgrade() else { return };
        let (offset, len) = v.window_range();
        if (offset..offset + len).contains(&index) {
            steady += 1;
            if steady >= 5 {
                return;
            }
        } else {
            steady = 0;
            v.show_from(index);
        }
        drop(v);
        glib::timeout_future(std::time::Duration::from_millis(100)).await;
    }
}

/// Where a search with older hits goes on.
#[derive(Debug, Clone)]
pub struct Cursor {
    /// The account searched.
    account: String,
    /// The conversation searched, or all of the account's.
    with: Option<String>,
    /// (time, id) of its last hit fetched.
    last: (i64, i64),
}

/// Sorts `hits` newest first and splits them into those that can be listed now and those to
/// hold back: every search with older hits may still bring hits newer than anything older
/// than its last one, so only hits at or above the newest of those last ones are listed.
fn split_at_frontier(
    mut hits: Vec<SearchHit>,
    cursors: &[Cursor],
) -> (Vec<SearchHit>, Vec<SearchHit>) {
    hits.sort_by_key(|h| std::cmp::Reverse((h.timestamp_ms, h.id)));
    let Some(frontier) = cursors.iter().map(|c| c.last).max() else {
        return (hits, Vec::new());
    };
    let cut = hits
        .iter()
        .position(|h| (h.timestamp_ms, h.id) < frontier)
        .unwrap_or(hits.len());
    let held = hits.split_off(cut);
    (hits, held)
}

/// Who wrote a hit, as the result list names them; `name` is the name the user gave the
/// conversation's contact (`None` in a room, whose senders go by their own nicknames).
fn sender_text(hit: &SearchHit, name: Option<&str>) -> String {
    if hit.direction == "out" {
        return "You".to_owned();
    }
    if hit.is_room {
        // The occupant's nickname: the resource of the occupant JID.
        return hit
            .from
            .split_once('/')
            .map_or(hit.from.as_str(), |(_, nick)| nick)
            .to_owned();
    }
    // In a conversation with a contact, the contact wrote what came in.
    let bare = hit
        .from
        .split_once('/')
        .map_or(hit.from.as_str(), |(b, _)| b);
    match name {
        Some(name) if bare == hit.with => name.to_owned(),
        _ => hit.from.clone(),
    }
}

/// The words a hit matched, as a screen reader hears them: `“vole”, “garden”`, each once.
fn matched_words(text: &str, ranges: &[(u32, u32)]) -> String {
    let mut words: Vec<String> = Vec::new();
    for &(s, e) in ranges {
        let Some(word) = text.get(s as usize..e as usize) else {
            continue;
        };
        let quoted = format!("“{word}”");
        if !words.contains(&quoted) {
            words.push(quoted);
        }
    }
    words.join(", ")
}

/// Whether a character must not reach the screen from untrusted text: controls, and
/// bidirectional formatting that could reorder or hide the rest of the line.
fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The snippet with hidden characters dropped, and the match byte ranges moved to match.
pub fn display_snippet(snippet: &str, matches: &[(usize, usize)]) -> (String, Vec<(u32, u32)>) {
    let mut out = String::with_capacity(snippet.len());
    // new_offset[i]: where byte i of the snippet lands in `out`.
    let mut new_offset = vec![0usize; snippet.len() + 1];
    for (i, c) in snippet.char_indices() {
        for b in 0..c.len_utf8() {
            new_offset[i + b] = out.len();
        }
        if !is_hidden_char(c) {
            out.push(c);
        }
    }
    new_offset[snippet.len()] = out.len();
    let ranges = matches
        .iter()
        .filter(|&&(s, e)| s < e && e <= snippet.len())
        .map(|&(s, e)| (new_offset[s], new_offset[e]))
        .filter(|(s, e)| s < e)
        .filter_map(|(s, e)| Some((u32::try_from(s).ok()?, u32::try_from(e).ok()?)))
        .collect();
    (out, ranges)
}

fn highlighted(ranges: &[(u32, u32)]) -> pango::AttrList {
    let attrs = pango::AttrList::new();
    for &(s, e) in ranges {
        let mut weight = pango::AttrInt::new_weight(pango::Weight::Bold);
        weight.set_start_index(s);
        weight.set_end_index(e);
        attrs.insert(weight);
        let mut underline = pango::AttrInt::new_underline(pango::Underline::Single);
        underline.set_start_index(s);
        underline.set_end_index(e);
        attrs.insert(underline);
    }
    attrs
}

fn line_label(text: &str) -> gtk4::Label {
    let label = gtk4::Label::new(None);
    label.set_text(text);
    label.set_xalign(0.0);
    label.set_ellipsize(pango::EllipsizeMode::End);
    label.set_single_line_mode(true);
    label
}

fn result_row(hit: &SearchHit, several_accounts: bool) -> gtk4::ListBoxRow {
    let peer = line_label("");
    peer.set_hexpand(true);
    peer.add_css_class("heading");
    let time = line_label(&crate::ui::chat::message_row::format_time(hit.timestamp_ms));
    time.add_css_class("dim-label");
    let top = gtk4::Box::new(gtk4::Orientation::Horizontal, 6);
    top.append(&peer);
    top.append(&time);
    let sender = line_label("");
    sender.add_css_class("dim-label");
    sender.add_css_class("caption");
    let (text, ranges) = display_snippet(&hit.snippet, &hit.matches);
    let snippet = line_label(&text);
    snippet.set_attributes(Some(&highlighted(&ranges)));
    let column = gtk4::Box::new(gtk4::Orientation::Vertical, 2);
    column.set_margin_top(6);
    column.set_margin_bottom(6);
    column.set_margin_start(6);
    column.set_margin_end(6);
    column.append(&top);
    column.append(&sender);
    column.append(&snippet);
    let row = gtk4::ListBoxRow::new();
    row.set_child(Some(&column));
    let matched = matched_words(&text, &ranges);
    let (hit, when) = (hit.clone(), time.text().to_string());
    let (weak_row, peer, sender) = (row.downgrade(), peer.downgrade(), sender.downgrade());
    // Shows the names now, and again when the user renames a contact.
    let show_names = move || {
        let (Some(row), Some(peer), Some(sender)) =
            (weak_row.upgrade(), peer.upgrade(), sender.upgrade())
        else {
            return;
        };
        let name = (!hit.is_room)
            .then(|| crate::ui::contact_names::name_of(&hit.account, &hit.with))
            .flatten()
            .map(|n| n.text);
        let conversation = name.clone().unwrap_or_else(|| hit.with.clone());
        let title = if several_accounts {
            format!("{conversation} — {}", hit.account)
        } else {
            conversation
        };
        peer.set_text(&title);
        // The address stays one hover away: a name cannot pass for another contact.
        peer.set_tooltip_text(Some(&format!("{} — {}", hit.with, hit.account)));
        let who = sender_text(&hit, name.as_deref());
        sender.set_text(&who);
        sender.set_tooltip_text((who != hit.from).then_some(hit.from.as_str()));
        let address = if name.is_some() {
            format!(" ({})", hit.with)
        } else {
            String::new()
        };
        let label = if matched.is_empty() {
            format!("{title}{address}, {who}, {when}: {text}")
        } else {
            format!("{title}{address}, {who}, {when}: {text}. Matched {matched}")
        };
        crate::ui::a11y::set_label(&row, &label);
    };
    show_names();
    crate::ui::contact_names::watch(&row, show_names);
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_dropped_and_highlights_stay_on_the_words() {
        let snippet = "a\u{202e}b <b>vole</b>\u{0}!";
        let start = snippet.find("vole").expect("word");
        let (text, ranges) = display_snippet(snippet, &[(start, start + 4)]);
        assert_eq!(text, "ab <b>vole</b>!");
        let (s, e) = ranges[0];
        assert_eq!(&text[s as usize..e as usize], "vole");
    }

    #[test]
    fn ranges_outside_the_snippet_are_ignored() {
        let (text, ranges) = display_snippet("abc", &[(2, 9), (1, 1)]);
        assert_eq!(text, "abc");
        assert!(ranges.is_empty());
    }

    fn hit(account: &str, ts: i64, id: i64) -> SearchHit {
        SearchHit {
            id,
            account: account.into(),
            with: "b@s".into(),
            is_room: false,
            direction: "in".into(),
            from: "b@s".into(),
            timestamp_ms: ts,
            snippet: String::new(),
            matches: Vec::new(),
        }
    }

    #[test]
    fn hits_older_than_another_accounts_unfetched_ones_are_held_back() {
        // Account a fetched down to time 50 and has more; b fetched everything.
        let hits = vec![
            hit("b", 40, 4),
            hit("a", 90, 1),
            hit("a", 50, 2),
            hit("b", 70, 3),
        ];
        let cursors = [Cursor {
            account: "a".into(),
            with: None,
            last: (50, 2),
        }];
        let (listed, held) = split_at_frontier(hits, &cursors);
        let ids = |v: &[SearchHit]| v.iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(&listed), [1, 3, 2]);
        assert_eq!(
            ids(&held),
            [4],
            "a's next page may hold hits between 50 and 40"
        );
        let (listed, held) = split_at_frontier(held, &[]);
        assert_eq!((ids(&listed), held.len()), (vec![4], 0));
    }

    #[test]
    fn a_room_hit_is_signed_with_the_nickname_and_an_own_one_with_you() {
        let mut hit = SearchHit {
            id: 1,
            account: "a@s".into(),
            with: "room@rooms.s".into(),
            is_room: true,
            direction: "in".into(),
            from: "room@rooms.s/Vole".into(),
            timestamp_ms: 0,
            snippet: String::new(),
            matches: Vec::new(),
        };
        assert_eq!(sender_text(&hit, None), "Vole");
        hit.direction = "out".into();
        assert_eq!(sender_text(&hit, None), "You");
    }

    #[test]
    fn a_named_contacts_hit_is_signed_with_the_name_and_a_room_nick_never_is() {
        let mut hit = SearchHit {
            id: 1,
            account: "a@s".into(),
            with: "carol@s".into(),
            is_room: false,
            direction: "in".into(),
            from: "carol@s/phone".into(),
            timestamp_ms: 0,
            snippet: String::new(),
            matches: Vec::new(),
        };
        assert_eq!(sender_text(&hit, Some("Carol")), "Carol");
        assert_eq!(sender_text(&hit, None), "carol@s/phone");
        // Someone else than the contact (never the case in a 1:1 conversation) keeps the address.
        hit.from = "mallory@s".into();
        assert_eq!(sender_text(&hit, Some("Carol")), "mallory@s");
        hit.with = "room@rooms.s".into();
        hit.is_room = true;
        hit.from = "room@rooms.s/Carol".into();
        assert_eq!(sender_text(&hit, Some("Not Carol")), "Carol");
    }

    #[test]
    fn a_screen_reader_hears_each_matched_word_once() {
        let text = "Vole and vole and mole";
        assert_eq!(
            matched_words(text, &[(0, 4), (9, 13), (0, 4)]),
            "“Vole”, “vole”"
        );
        assert_eq!(matched_words(text, &[(0, 99)]), "");
    }
}
