//! Names the user gives contacts, kept only here, in the encrypted store: never written to
//! the server roster, so a seized server does not learn who the user thinks its contacts are.
//! One setting per (account, contact), `contact_name:<account>:<contact>` (bare JIDs); the
//! text is stored as given (the core cleans and bounds it first).

use std::collections::BTreeMap;

use super::Store;
use super::error::Result;

fn prefix(account: &str) -> String {
    format!("contact_name:{account}:")
}

impl Store {
    /// The names `account` (bare JID) gave its contacts, by contact bare JID.
    pub fn contact_names(&self, account: &str) -> Result<BTreeMap<String, String>> {
        let prefix = prefix(account);
        Ok(self
            .settings_with_prefix(&prefix)?
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_owned(), v)))
            .collect())
    }

    /// Names `contact` for `account` (both bare JIDs), or with `None` forgets its name.
    pub fn set_contact_name(
        &mut self,
        account: &str,
        contact: &str,
        name: Option<&str>,
    ) -> Result<()> {
        self.set_setting(&format!("{}{contact}", prefix(account)), name)
    }

    /// Forgets every name `account` gave (when the account is removed). How many went.
    pub fn forget_contact_names(&mut self, account: &str) -> Result<usize> {
        let names = self.contact_names(account)?;
        for contact in names.keys() {
            self.set_contact_name(account, contact, None)?;
        }
        Ok(names.len())
    }
}
