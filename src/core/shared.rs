//! State the actor shares with its account supervisors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use crate::core::events::{Event, HeldCause, MessageNotes, StoredMessage};
use crate::core::store_cell::StoreCell;
use crate::tor::{AccountIsolation, TorClient};

/// Messages of "don't store" conversations, in memory only, keyed by (account, peer). Cleared
/// at lock.
#[derive(Default)]
pub(crate) struct Ephemeral {
    by_conversation: HashMap<(String, String), Vec<StoredMessage>>,
    next_id: i64,
    /// Outgoing memory-only messages waiting for encryption: origin-id → (conversation, id).
    pending: HashMap<String, ((String, String), i64)>,
}

impl Ephemeral {
    /// Keeps `m`, giving it a negative local id (stored messages have positive ids).
    pub(crate) fn remember(&mut self, mut m: StoredMessage) -> StoredMessage {
        self.next_id -= 1;
        m.id = self.next_id;
        self.by_conversation
            .entry((m.account.clone(), m.with.clone()))
            .or_default()
            .push(m.clone());
        m
    }

    /// Remembers that the memory-only message `id` was sent with `origin_id` and is still
    /// pending encryption.
    pub(crate) fn await_encryption(&mut self, origin_id: &str, m: &StoredMessage) {
        self.pending.insert(
            origin_id.to_owned(),
            ((m.account.clone(), m.with.clone()), m.id),
        );
    }

    /// Records the encryption (`omemo2`, `omemo`) of the pending memory-only message
    /// `origin_id`, and the room members who cannot read it: it is no longer held. The
    /// updated message, if it is one.
    pub(crate) fn mark_encrypted(
        &mut self,
        origin_id: &str,
        encryption: &str,
        not_readable_by: &[String],
    ) -> Option<StoredMessage> {
        let (key, id) = self.pending.remove(origin_id)?;
        let m = self
            .by_conversation
            .get_mut(&key)?
            .iter_mut()
            .find(|m| m.id == id)?;
        encryption.clone_into(&mut m.encryption);
        m.notes = MessageNotes {
            held: None,
            not_readable_by: not_readable_by.to_vec(),
            delivery: None,
            attachment: m.notes.attachment.take(),
        };
        Some(m.clone())
    }

    /// Records why the pending memory-only message `origin_id` is held; the updated message,
    /// if it is one and the cause is new.
    pub(crate) fn hold(&mut self, origin_id: &str, cause: HeldCause) -> Option<StoredMessage> {
        let (key, id) = self.pending.get(origin_id)?;
        let m = self
            .by_conversation
            .get_mut(key)?
            .iter_mut()
            .find(|m| m.id == *id)?;
        if m.notes.held == Some(cause) {
            return None;
        }
        m.notes.held = Some(cause);
        Some(m.clone())
    }

    /// The memory-only messages of one conversation.
    pub(crate) fn of(&self, account: &str, with: &str) -> Vec<StoredMessage> {
        self.by_conversation
            .get(&(account.to_owned(), with.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets the messages for which `drop` is true of (account, peer).
    pub(crate) fn forget(&mut self, drop: impl Fn(&str, &str) -> bool) {
        self.by_conversation.retain(|(a, w), _| !drop(a, w));
        self.pending.retain(|_, ((a, w), _)| !drop(a, w));
    }
}

/// What the actor and every supervisor share.
pub(crate) struct Shared {
    /// The unlocked store.
    pub(crate) store: StoreCell,
    /// The event stream to the front ends.
    pub(crate) events: broadcast::Sender<Event>,
    /// Memory-only messages.
    pub(crate) ephemeral: Mutex<Ephemeral>,
    /// The tor layer the accounts use now; absent before the first unlock (Tor's settings are
    /// in the encrypted profile) or when it could not be configured (accounts then wait,
    /// visibly).
    pub(crate) tor: Mutex<Option<TorClient>>,
    /// The last reported connection state of each account.
    pub(crate) states: Mutex<HashMap<String, String>>,
    /// Who is in which room, room audits and pending invitations.
    pub(crate) rooms: crate::core::rooms::RoomRegistry,
    /// Each account's OMEMO state, loaded on first use, forgotten at lock.
    pub(crate) omemo: Mutex<crate::core::omemo::OmemoStates>,
    /// Each running account's Tor isolation, so front ends can ask for its circuit.
    pub(crate) isolations: Mutex<HashMap<String, AccountIsolation>>,
    /// Which conversations share receipts, markers and typing (cached), and what was sent.
    pub(crate) activity: crate::core::activity::ActivityRegistry,
    /// Names other clients wrote into the accounts' server rosters.
    pub(crate) roster_names: crate::core::contact_names::RosterNames,
}

impl Shared {
    /// The tor client the accounts use now.
    pub(crate) fn tor(&self) -> Option<TorClient> {
        lock(&self.tor).clone()
    }

    /// Whether `client` is the one the accounts use now.
    pub(crate) fn is_current_tor(&self, client: &TorClient) -> bool {
        lock(&self.tor).as_ref().is_some_and(|t| t.is_same(client))
    }

    /// Sends an event to whoever listens.
    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Records and announces an account's connection state.
    pub(crate) fn account_state(&self, account: &str, state: &str, detail: Option<String>) {
        lock(&self.states).insert(account.to_owned(), state.to_owned());
        self.emit(Event::AccountState {
            account: account.to_owned(),
            state: state.to_owned(),
            detail,
            unreachable: None,
        });
    }

    /// Reports that `account`'s server did not answer through Tor (state `error`).
    pub(crate) fn account_unreachable(&self, account: &str, cause: crate::tor::Unreachable) {
        lock(&self.states).insert(account.to_owned(), "error".to_owned());
        self.emit(Event::AccountState {
            account: account.to_owned(),
            state: "error".to_owned(),
            detail: Some(crate::tor::TorError::Unreachable(cause).to_string()),
            unreachable: Some(cause),
        });
    }

    /// The last reported state of an account (`offline` when none).
    pub(crate) fn state_of(&self, account: &str) -> String {
        lock(&self.states)
            .get(account)
            .cloned()
            .unwrap_or_else(|| "offline".to_owned())
    }
}

/// Locks a mutex, recovering the data of a poisoned one (a panicked supervisor must not take
/// the core down with it).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The shared state behind an `Arc`.
pub(crate) type SharedRef = Arc<Shared>;

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(encryption: &str) -> StoredMessage {
        StoredMessage {
            id: 0,
            account: "a@talpa.test".into(),
            with: "b@talpa.test".into(),
            direction: "out".into(),
            from: "a@talpa.test".into(),
            body: "memory only".into(),
            timestamp_ms: 0,
            encryption: encryption.into(),
            corrected: false,
            retracted: false,
            origin_id: None,
            notes: MessageNotes::default(),
        }
    }

    #[test]
    fn a_memory_only_message_pending_encryption_gets_its_version_once() {
        let mut e = Ephemeral::default();
        let m = e.remember(outgoing("pending"));
        e.await_encryption("oid-1", &m);
        let updated = e.mark_encrypted("oid-1", "omemo2", &[]).expect("updated");
        assert_eq!((updated.id, updated.encryption.as_str()), (m.id, "omemo2"));
        assert_eq!(e.of("a@talpa.test", "b@talpa.test")[0].encryption, "omemo2");
        assert!(e.mark_encrypted("oid-1", "omemo", &[]).is_none());
        assert!(e.mark_encrypted("unknown", "omemo", &[]).is_none());
    }

    #[test]
    fn forgetting_a_conversation_forgets_its_pending_messages() {
        let mut e = Ephemeral::default();
        let m = e.remember(outgoing("pending"));
        e.await_encryption("oid-2", &m);
        e.forget(|_, w| w == "b@talpa.test");
        assert!(e.pending.is_empty());
        assert!(e.mark_encrypted("oid-2", "omemo2", &[]).is_none());
    }

    #[test]
    fn a_memory_only_message_keeps_why_it_was_held_until_sent_and_who_cannot_read_it() {
        let mut e = Ephemeral::default();
        let m = e.remember(outgoing("pending"));
        e.await_encryption("oid-3", &m);
        let held = e.hold("oid-3", HeldCause::NoKeys).expect("held");
        assert_eq!(held.notes.held, Some(HeldCause::NoKeys));
        assert!(e.hold("oid-3", HeldCause::NoKeys).is_none(), "told once");
        assert_eq!(
            e.of("a@talpa.test", "b@talpa.test")[0].notes.held,
            Some(HeldCause::NoKeys),
            "what history shows"
        );
        let sent = e
            .mark_encrypted("oid-3", "omemo2", &["vole@talpa.test".to_owned()])
            .expect("sent");
        assert_eq!(sent.notes.held, None);
        assert_eq!(sent.notes.not_readable_by, ["vole@talpa.test"]);
        assert_eq!(
            e.of("a@talpa.test", "b@talpa.test")[0].notes,
            sent.notes,
            "what history shows"
        );
        assert!(
            e.hold("oid-3", HeldCause::NoKeys).is_none(),
            "sent: not held"
        );
    }
}
