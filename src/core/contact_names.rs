//! Names the user gives contacts on this device (`set_contact_name`, `contact_names`): kept
//! only in the encrypted store (`store::Store::contact_names`), never in the server roster —
//! a seized server must not learn them. What is typed is made one clean line first (no
//! controls, no bidi overrides or isolates, which could make a name pose as another or
//! reorder the text around it) and bounded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::core::commands::Reply;
use crate::core::error::CoreError;
use crate::core::events::Event;
use crate::core::shared::{SharedRef, lock};

/// Names other clients wrote into each online account's server roster (cleaned like ours),
/// in memory only (cleared at lock). Shown where the user gave no name here.
#[derive(Default)]
pub(crate) struct RosterNames {
    inner: Mutex<HashMap<String, BTreeMap<String, String>>>,
}

impl RosterNames {
    /// Forgets everything (at lock).
    pub(crate) fn clear(&self) {
        lock(&self.inner).clear();
    }

    fn of(&self, account: &str) -> BTreeMap<String, String> {
        lock(&self.inner).get(account).cloned().unwrap_or_default()
    }

    /// The account's whole roster at login: (contact, roster name) pairs.
    pub(crate) fn replace<'a>(
        &self,
        account: &str,
        items: impl IntoIterator<Item = (String, Option<&'a str>)>,
    ) {
        let names = items
            .into_iter()
            .filter_map(|(jid, name)| Some((jid, clean(name?)?)))
            .collect();
        lock(&self.inner).insert(account.to_owned(), names);
    }

    /// One roster push: the contact's roster name now (`None`: none, or removed).
    pub(crate) fn update(&self, account: &str, jid: String, name: Option<&str>) {
        let mut inner = lock(&self.inner);
        let names = inner.entry(account.to_owned()).or_default();
        match name.and_then(clean) {
            Some(n) => names.insert(jid, n),
            None => names.remove(&jid),
        };
    }
}

/// Tells the front ends the account's names (after a roster change).
pub(crate) async fn announce(shared: &SharedRef, account: &str) {
    let a = account.to_owned();
    let names = shared
        .store
        .with(move |s| Ok(s.contact_names(&a)?))
        .await
        .unwrap_or_default();
    shared.emit(Event::ContactNames {
        account: account.to_owned(),
        names,
        roster_names: shared.roster_names.of(account),
    });
}

/// The longest name kept, in characters (longer ones are cut and end in `…`).
pub const MAX_CHARS: usize = 64;

/// The name as it is kept: one line, hidden characters dropped, at most [`MAX_CHARS`]
/// characters; `None` when nothing visible is left (the name is forgotten).
pub fn clean(name: &str) -> Option<String> {
    let line = crate::xmpp::muc::one_line_bounded(name, MAX_CHARS);
    // Zero-width and other invisible formatting characters alone do not make a name.
    let visible = line.chars().any(|c| {
        !c.is_whitespace() && !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    });
    visible.then_some(line)
}

/// Names (or with a blank `name` forgets) `jid` for `account` and tells the front ends.
pub(crate) async fn set(
    shared: &SharedRef,
    account: String,
    jid: String,
    name: Option<String>,
) -> Result<Reply, CoreError> {
    let name = name.as_deref().and_then(clean);
    let (a, n) = (account.clone(), name.clone());
    let names = shared
        .store
        .with(move |s| {
            if !s.list_accounts()?.iter().any(|x| x.jid == a) {
                return Err(CoreError::NotFound(format!("account {a}")));
            }
            s.set_contact_name(&a, &jid, n.as_deref())?;
            Ok(s.contact_names(&a)?)
        })
        .await?;
    let roster_names = shared.roster_names.of(&account);
    shared.emit(Event::ContactNames {
        account,
        names: names.clone(),
        roster_names: roster_names.clone(),
    });
    Ok(Reply::ContactNames {
        names,
        roster_names,
    })
}

/// The names `account` gave its contacts.
pub(crate) async fn get(shared: &SharedRef, account: String) -> Result<Reply, CoreError> {
    let a = account.clone();
    let names: BTreeMap<String, String> =
        shared.store.with(move |s| Ok(s.contact_names(&a)?)).await?;
    Ok(Reply::ContactNames {
        names,
        roster_names: shared.roster_names.of(&account),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_one_bounded_line_without_hidden_characters() {
        assert_eq!(
            clean("  Bob \n the\tBuilder "),
            Some("Bob the Builder".into())
        );
        assert_eq!(clean("\u{202e}evil\u{2066}x\u{0}"), Some("evilx".into()));
        assert_eq!(clean(" \u{200b} \u{202e} "), None);
        assert_eq!(clean(""), None);
        let long = clean(&"é".repeat(100)).expect("name");
        assert_eq!(long.chars().count(), MAX_CHARS);
        assert!(long.ends_with('…'));
    }
}
