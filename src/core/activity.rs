//! Sharing activity with a conversation's partner: delivery receipts (XEP-0184), read markers
//! (XEP-0333) and typing notifications (XEP-0085). Off by default: they tell the partner (and,
//! because they travel outside OMEMO in every common client, both servers) when the user is
//! online, reads and types.
//!
//! The decision is per 1:1 conversation (`set_conversation_privacy` with `with`), with a
//! per-account default (without `with`, off unless changed) that applies only to contacts in
//! the roster, never to strangers. Rooms never share activity. Both are kept in the encrypted
//! store (settings `activity:<account>` and `activity:<account>:<peer>`) and cached here.
//!
//! When a conversation shares activity: outgoing messages carry a receipt request, a
//! `markable` and `active`; incoming receipt requests are answered; `displayed` markers and
//! chat states are sent on the front end's request; incoming receipts, markers and chat
//! states become `delivered`, `displayed` and `typing` events. A receipt or marker counts only
//! for a message we sent to the sender's bare JID: with a request in this run, or found in
//! the store in the 1:1 conversation with that JID (sent before a restart); forged ones from
//! anyone else are ignored. One naming a correction (XEP-0308) marks the message it corrected
//! (the event names that one; found in the store, or remembered from its sending in this run for
//! a receipt that overtakes the correction's storing), and a correction leaves the original's mark as it was. The mark is kept with the stored message (`delivery`), so history
//! shows it after a restart. When it does not share activity, nothing is sent or
//! answered, and incoming activity is not shown (as Signal does with read receipts).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use tokio_xmpp::jid::{BareJid, Jid};
use xmpp_parsers::message::{Message, MessageType};

use crate::core::error::CoreError;
use crate::core::events::Event;
use crate::core::room_session::Rooms;
use crate::core::shared::{SharedRef, lock};
use crate::store::Delivery;
use crate::xmpp::chat_markers::{self, NS_MARKERS};
use crate::xmpp::chat_states::{self, ChatState, NS_CHATSTATES};
use crate::xmpp::receipts::{self, NS_RECEIPTS};
use crate::xmpp::session::Session;
use crate::xmpp::stanza::{InboundMessage, NS_CORRECT};

/// How many sent message ids per account are remembered for receipts and markers.
const SENT_KEPT: usize = 4096;

/// (account, peer), both bare JIDs as text.
type Key = (String, String);

/// What the core remembers about activity sharing, in memory (cleared at lock).
#[derive(Default)]
pub(crate) struct ActivityRegistry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The decision for (account, peer), once read from the store.
    shares: HashMap<Key, bool>,
    /// Each online account's roster (the account default applies only to contacts).
    rosters: HashMap<String, HashSet<String>>,
    /// Sent messages that asked for a receipt: origin-id → (account, peer).
    sent: HashMap<String, Key>,
    /// The same ids, oldest first, to forget the oldest beyond [`SENT_KEPT`].
    sent_order: VecDeque<String>,
    /// The last chat state sent to (account, peer), so repeats are not sent again.
    last_state: HashMap<Key, ChatState>,
    /// The newest markable message the peer sent in this run (its id), for `mark_displayed`
    /// without an id.
    last_markable: HashMap<Key, String>,
    /// The last message marked displayed per conversation, so it is not marked twice.
    last_displayed: HashMap<Key, String>,
    /// Sent corrections (among `sent`): their id → the id of the message they corrected.
    corrected: HashMap<String, String>,
}

impl ActivityRegistry {
    /// Forgets everything (at lock).
    pub(crate) fn clear(&self) {
        *lock(&self.inner) = Inner::default();
    }

    /// Records an account's roster (the account default applies only to its contacts).
    pub(crate) fn set_roster(&self, account: &str, contacts: &[String]) {
        let mut inner = lock(&self.inner);
        inner
            .rosters
            .insert(account.to_owned(), contacts.iter().cloned().collect());
        // Decisions that came from the account default may change with the roster.
        inner.shares.retain(|(a, _), _| a != account);
    }

    fn cached(&self, account: &str, peer: &str) -> Option<bool> {
        lock(&self.inner)
            .shares
            .get(&(account.to_owned(), peer.to_owned()))
            .copied()
    }

    fn remember_sent(&self, origin_id: &str, key: Key) {
        let mut inner = lock(&self.inner);
        if inner.sent.insert(origin_id.to_owned(), key).is_none() {
            inner.sent_order.push_back(origin_id.to_owned());
        }
        while inner.sent_order.len() > SENT_KEPT {
            if let Some(old) = inner.sent_order.pop_front() {
                inner.sent.remove(&old);
                inner.corrected.remove(&old);
            }
        }
    }

    /// Whether `id` is one of our messages to `peer` from `account` that asked for a receipt.
    fn was_sent_to(&self, id: &str, account: &str, peer: &str) -> bool {
        lock(&self.inner)
            .sent
            .get(id)
            .is_some_and(|(a, p)| a == account && p == peer)
    }

    /// The message a correction sent in this run corrected, by their ids.
    fn corrected_by(&self, id: &str) -> Option<String> {
        lock(&self.inner).corrected.get(id).cloned()
    }

    /// Records `state` as the last one sent to the peer; false when it was already.
    fn state_changes(&self, key: Key, state: ChatState) -> bool {
        lock(&self.inner).last_state.insert(key, state) != Some(state)
    }
}

fn account_key(account: &str) -> String {
    format!("activity:{account}")
}

fn conversation_key(account: &str, peer: &str) -> String {
    format!("activity:{account}:{peer}")
}

fn flag(v: bool) -> &'static str {
    if v { "on" } else { "off" }
}

/// What the store says for (account, peer): the conversation's own choice, the account
/// default, and whether the peer is a room the account remembers.
async fn stored(
    shared: &SharedRef,
    account: &str,
    peer: &str,
) -> Result<(Option<bool>, bool, bool), CoreError> {
    let (a, p) = (account.to_owned(), peer.to_owned());
    shared
        .store
        .with(move |s| {
            let own = s.setting(&conversation_key(&a, &p))?.map(|v| v == "on");
            let default = s.setting(&account_key(&a))?.is_some_and(|v| v == "on");
            let room = match s.list_accounts()?.into_iter().find(|acc| acc.jid == a) {
                Some(acc) => s.list_rooms(acc.id)?.iter().any(|r| r.jid == p),
                None => false,
            };
            Ok((own, default, room))
        })
        .await
}

/// Whether `account` shares activity with `peer` (a bare JID): never for a room; the
/// conversation's own choice if it made one; otherwise the account default, for contacts in
/// the roster only. Off when anything is unknown.
pub(crate) async fn shares(shared: &SharedRef, account: &str, peer: &str) -> bool {
    if let Some(v) = shared.activity.cached(account, peer) {
        return v;
    }
    let Ok((own, default, room)) = stored(shared, account, peer).await else {
        return false;
    };
    let contact = lock(&shared.activity.inner)
        .rosters
        .get(account)
        .is_some_and(|r| r.contains(peer));
    let v = !room && own.unwrap_or(default && contact);
    lock(&shared.activity.inner)
        .shares
        .insert((account.to_owned(), peer.to_owned()), v);
    v
}

/// `set_conversation_privacy`: stores the choice for one conversation (`peer`) or the
/// account default (no `peer`). Rooms are refused: they never share activity.
pub(crate) async fn set(
    shared: &SharedRef,
    account: &str,
    peer: Option<&str>,
    share: bool,
) -> Result<(), CoreError> {
    if let Some(p) = peer {
        let (_, _, room) = stored(shared, account, p).await?;
        if room {
            return Err(CoreError::InvalidInput(format!(
                "{p} is a room: rooms never get receipts, read markers or typing notifications \
                 (they would tell every occupant when you read and type)"
            )));
        }
    }
    let key = peer.map_or_else(|| account_key(account), |p| conversation_key(account, p));
    let acc = account.to_owned();
    shared
        .store
        .with(move |s| {
            if !s.list_accounts()?.iter().any(|a| a.jid == acc) {
                return Err(CoreError::NotFound(format!("account {acc}")));
            }
            s.set_setting(&key, Some(flag(share)))?;
            Ok(())
        })
        .await?;
    let mut inner = lock(&shared.activity.inner);
    match peer {
        Some(p) => {
            inner.shares.remove(&(account.to_owned(), p.to_owned()));
        }
        None => inner.shares.retain(|(a, _), _| a != account),
    }
    if !share {
        inner
            .last_state
            .retain(|(a, p), _| a != account || peer.is_some_and(|x| x != p));
    }
    Ok(())
}

/// Forgets a removed account's choices (store and cache), so an account added again with
/// the same address starts with everything off.
pub(crate) async fn forget_account(shared: &SharedRef, account: &str) -> Result<(), CoreError> {
    let (exact, prefix) = (account_key(account), format!("{}:", account_key(account)));
    shared
        .store
        .with(move |s| {
            let keys: Vec<String> = s.settings_with_prefix(&prefix)?.into_keys().collect();
            for key in keys.iter().chain(std::iter::once(&exact)) {
                s.set_setting(key, None)?;
            }
            Ok(())
        })
        .await?;
    let mut inner = lock(&shared.activity.inner);
    inner.shares.retain(|(a, _), _| a != account);
    inner.last_state.retain(|(a, _), _| a != account);
    inner.last_markable.retain(|(a, _), _| a != account);
    inner.last_displayed.retain(|(a, _), _| a != account);
    inner.rosters.remove(account);
    Ok(())
}

/// `conversation_privacy`: whether the conversation (`peer`; without it, the account
/// default) shares activity now, and the account default. An unknown account is refused.
pub(crate) async fn get(
    shared: &SharedRef,
    account: &str,
    peer: Option<&str>,
) -> Result<(bool, bool), CoreError> {
    let acc = account.to_owned();
    let default = shared
        .store
        .with(move |s| {
            if !s.list_accounts()?.iter().any(|a| a.jid == acc) {
                return Err(CoreError::NotFound(format!("account {acc}")));
            }
            Ok(s.setting(&account_key(&acc))?.is_some_and(|v| v == "on"))
        })
        .await?;
    match peer {
        Some(p) => Ok((shares(shared, account, p).await, default)),
        None => Ok((default, default)),
    }
}

/// Adds a receipt request, `markable` and `active` to an outgoing 1:1 message (with a body,
/// to a bare JID) when its conversation shares activity, and remembers its id for the
/// receipts and markers to come. Messages to rooms and occupants are left alone.
pub(crate) async fn decorate(shared: &SharedRef, account: &str, msg: &mut Message) {
    if msg.type_ != MessageType::Chat || msg.bodies.is_empty() {
        return;
    }
    let (Some(to), Some(id)) = (msg.to.as_ref(), msg.id.clone()) else {
        return;
    };
    // A full JID is a room occupant (private message): never.
    let Err(to) = to.try_as_full() else {
        return;
    };
    let peer = to.to_string();
    if !shares(shared, account, &peer).await {
        return;
    }
    msg.payloads.push(receipts::request());
    msg.payloads.push(chat_markers::markable());
    msg.payloads.push(ChatState::Active.element());
    shared
        .activity
        .remember_sent(&id.0, (account.to_owned(), peer.clone()));
    let mut inner = lock(&shared.activity.inner);
    if let Some(original) = msg
        .payloads
        .iter()
        .find(|p| p.is("replace", NS_CORRECT))
        .and_then(|p| p.attr("id"))
        && inner.sent.contains_key(&id.0)
    {
        inner.corrected.insert(id.0.clone(), original.to_owned());
    }
    inner
        .last_state
        .insert((account.to_owned(), peer), ChatState::Active);
}

/// Whether a live message carries anything of this module (cheap: no store access).
fn carries_activity(m: &InboundMessage) -> bool {
    m.raw
        .payloads
        .iter()
        .any(|p| matches!(p.ns().as_str(), NS_RECEIPTS | NS_MARKERS | NS_CHATSTATES))
}

/// Handles the activity a live 1:1 message (not a carbon, not from the archive) carries:
/// answers a receipt request, turns receipts, markers and chat states into events — only
/// when the sender's conversation shares activity, and `rooms` (joined rooms) never.
pub(crate) async fn inbound(
    session: &Session,
    shared: &SharedRef,
    account: &str,
    rooms: &Rooms,
    m: &InboundMessage,
) {
    if !matches!(m.kind, MessageType::Chat | MessageType::Normal) || !carries_activity(m) {
        return;
    }
    let Some(from) = &m.from else { return };
    let bare = from.to_bare();
    if rooms.contains_key(&bare) || bare.as_str() == account {
        return;
    }
    let peer = bare.to_string();
    if !shares(shared, account, &peer).await {
        tracing::debug!("activity from a conversation that does not share it: ignored");
        return;
    }
    let payloads = &m.raw.payloads;
    if payloads.iter().any(|p| p.is("markable", NS_MARKERS))
        && let Some(id) = m.id.as_deref().or(m.origin_id.as_deref())
    {
        lock(&shared.activity.inner)
            .last_markable
            .insert((account.to_owned(), peer.clone()), id.to_owned());
    }
    // XEP-0184 §5.4: only a message with content is confirmed (not a bare state or receipt).
    let content = m.body.is_some() || payloads.iter().any(|p| p.name() == "encrypted");
    if content
        && receipts::requested(payloads)
        && let Some(id) = m.id.as_deref().or(m.origin_id.as_deref())
        && let Err(e) = session
            .send_message(receipts::answer(from.clone(), id))
            .await
    {
        tracing::debug!(error = %e, "receipt not sent");
    }
    if let Some(id) = receipts::received_id(payloads) {
        if let Some(message) = accepted(shared, account, &peer, id, Delivery::Delivered).await {
            shared.emit(Event::Delivered {
                account: account.to_owned(),
                with: peer.clone(),
                message,
            });
        } else {
            tracing::debug!("a receipt for no message of ours to its sender: ignored");
        }
    }
    if let Some(id) = chat_markers::displayed_id(payloads) {
        if let Some(message) = accepted(shared, account, &peer, id, Delivery::Read).await {
            shared.emit(Event::Displayed {
                account: account.to_owned(),
                with: peer.clone(),
                message,
            });
        } else {
            tracing::debug!("a marker for no message of ours to its sender: ignored");
        }
    }
    let state = chat_states::state_of(payloads).or_else(|| {
        // A message with a body and no state ends "typing" too.
        m.body.is_some().then_some(ChatState::Active)
    });
    if let Some(state) = state {
        shared.emit(Event::Typing {
            account: account.to_owned(),
            with: peer,
            state: state.name().to_owned(),
        });
    }
}

/// The own message a receipt (`Delivered`) or `displayed` marker (`Read`) from `peer` names,
/// by its origin-id, if it went to `peer` from `account`: one sent with a request in this run,
/// or one stored in their 1:1 conversation (sent before a restart). An id naming a stored
/// correction (XEP-0308) names the message it corrected, which is what the conversation shows
/// and what keeps the mark. The mark is kept with the stored message (a `Read` also on the
/// earlier own ones); nothing is written for a message that is not stored ("don't store": its
/// marks stay in memory, in the front end).
async fn accepted(
    shared: &SharedRef,
    account: &str,
    peer: &str,
    id: &str,
    mark: Delivery,
) -> Option<String> {
    let sent_now = shared.activity.was_sent_to(id, account, peer);
    let (a, p, i) = (account.to_owned(), peer.to_owned(), id.to_owned());
    let stored = shared
        .store
        .with(move |s| Ok(s.mark_delivery_of(&a, &p, &i, mark)?))
        .await
        .unwrap_or_else(|e: CoreError| {
            tracing::debug!(error = %e, "delivery mark not kept");
            None
        });
    stored.or_else(|| {
        sent_now.then(|| {
            shared
                .activity
                .corrected_by(id)
                .unwrap_or_else(|| id.to_owned())
        })
    })
}

/// Something the front end asks to tell a conversation's partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outgoing {
    /// A chat state (sent only when it differs from the last one sent).
    State(ChatState),
    /// A `displayed` marker for the peer's message with this id, or (none) for the newest
    /// markable message they sent in this run; never twice for the same message.
    Displayed(Option<String>),
}

/// Sends `what` to `peer` if the conversation shares activity (nothing otherwise). Whether
/// a stanza went out.
pub(crate) async fn send(
    session: &Session,
    shared: &SharedRef,
    account: &str,
    peer: &BareJid,
    what: Outgoing,
) -> Result<bool, CoreError> {
    let p = peer.to_string();
    if !shares(shared, account, &p).await {
        return Ok(false);
    }
    let msg = match what {
        Outgoing::State(state) => {
            if !shared
                .activity
                .state_changes((account.to_owned(), p), state)
            {
                return Ok(false);
            }
            chat_states::notification(Jid::from(peer.clone()), state)
        }
        Outgoing::Displayed(id) => {
            let key = (account.to_owned(), p);
            let mut inner = lock(&shared.activity.inner);
            let Some(id) = id.or_else(|| inner.last_markable.get(&key).cloned()) else {
                return Ok(false);
            };
            if inner.last_displayed.get(&key) == Some(&id) {
                return Ok(false);
            }
            inner.last_displayed.insert(key, id.clone());
            drop(inner);
            chat_markers::displayed(Jid::from(peer.clone()), &id)
        }
    };
    session
        .send_message(msg)
        .await
        .map_err(|e| CoreError::Xmpp(e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_counts_only_from_the_peer_the_message_went_to() {
        let r = ActivityRegistry::default();
        r.remember_sent("m1", ("a@t".into(), "b@t".into()));
        assert!(r.was_sent_to("m1", "a@t", "b@t"));
        assert!(
            !r.was_sent_to("m1", "a@t", "mallory@t"),
            "forged by another JID"
        );
        assert!(!r.was_sent_to("m1", "other@t", "b@t"), "another account");
        assert!(!r.was_sent_to("m2", "a@t", "b@t"), "an id we never sent");
    }

    #[test]
    fn only_the_newest_sent_ids_are_kept() {
        let r = ActivityRegistry::default();
        for i in 0..=SENT_KEPT {
            r.remember_sent(&format!("m{i}"), ("a@t".into(), "b@t".into()));
        }
        assert!(!r.was_sent_to("m0", "a@t", "b@t"));
        assert!(r.was_sent_to(&format!("m{SENT_KEPT}"), "a@t", "b@t"));
        assert_eq!(lock(&r.inner).sent.len(), SENT_KEPT);
    }

    #[test]
    fn a_repeated_chat_state_is_not_sent_again() {
        let r = ActivityRegistry::default();
        let k = || ("a@t".to_owned(), "b@t".to_owned());
        assert!(r.state_changes(k(), ChatState::Composing));
        assert!(!r.state_changes(k(), ChatState::Composing));
        assert!(r.state_changes(k(), ChatState::Paused));
        assert!(r.state_changes(k(), ChatState::Composing));
    }

    #[test]
    fn a_roster_change_forgets_decisions_taken_from_the_account_default() {
        let r = ActivityRegistry::default();
        lock(&r.inner)
            .shares
            .insert(("a@t".into(), "b@t".into()), false);
        lock(&r.inner)
            .shares
            .insert(("other@t".into(), "b@t".into()), true);
        r.set_roster("a@t", &["b@t".to_owned()]);
        assert_eq!(r.cached("a@t", "b@t"), None);
        assert_eq!(r.cached("other@t", "b@t"), Some(true));
    }
}
