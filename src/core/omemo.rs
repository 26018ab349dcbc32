//! OMEMO in the core: each account's [`SessionManager`] and [`DeviceRegistry`], kept in the
//! encrypted store and shared by the account's supervisor (publish, encrypt, decrypt) and the
//! actor (`devices`, `trust`). The pure engine lives in [`crate::omemo`]; this module moves its
//! elements through the session (PEP) and decides which version a message uses.
//!
//! Signed prekeys are rotated weekly (checked at login); used one-time prekeys are deleted after
//! each login's archive catch-up.
//!
//! Version rule (docs/PROTOCOLS.md): for a conversation, the recipients are the peer's devices
//! (every member's, in a room) plus our own other devices, as listed in either version's device
//! list. OMEMO 2 is used when every one of those devices is in an OMEMO 2 list (and at least one
//! peer device is); otherwise legacy OMEMO, which then carries only the body. If the chosen
//! version reaches no peer device, the other version is tried; if neither does, the message is
//! not sent at all (it stays in the outbox with an error) — never in plaintext.
//!
//! A definitive "no device list" answer is believed for [`NO_LIST_TTL`] in memory only
//! ([`NoLists`]); transient failures are asked again at the next occasion.
//!
//! A device whose bundle could not be fetched or used is not asked again for [`BUNDLE_RETRY`]
//! ([`BundleFailures`], memory only): a contact with one broken device would otherwise cost
//! every message sent to them a PEP round trip through Tor. A change of that contact's device
//! list, or the user's `devices` refresh, asks again at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;

use crate::core::error::CoreError;
use crate::core::events::{DeviceInfo, Event, HeldCause};
use crate::core::shared::{SharedRef, lock};
use crate::omemo::devices::{DeviceRegistry, own_list_to_publish};
use crate::omemo::message::DecryptedMessage;
use crate::omemo::sce::MessageContent;
use crate::omemo::session::{DeviceAddress, SessionManager};
use crate::omemo::trust::{IdentityEvent, TrustLevel, TrustPolicy};
use crate::omemo::wire::{self, EncryptedElement};
use crate::omemo::{OmemoError, OmemoVersion};
use crate::store::{self, AccountId, EncryptionChoice, MessageEncryption};
use crate::xmpp::pep::AccessModel;
use crate::xmpp::stanza::{NS_CORRECT, NS_HINTS, elem};
use crate::xmpp::{Session, XmppError};

/// The hint body beside `<encrypted/>` for clients without OMEMO. It says nothing about the
/// content.
pub(crate) const HINT_BODY: &str = "This message is OMEMO encrypted.";
/// XEP-0380 Explicit Message Encryption.
const NS_EME: &str = "urn:xmpp:eme:0";

const KEY_MANAGER: &str = "manager";
const KEY_REGISTRY: &str = "registry";
/// Who may read the keys: `open` (absent) or `contacts`.
const KEY_ACCESS: &str = "access";

/// The access model the account's keys are published with.
async fn access_model(shared: &SharedRef, account: AccountId) -> AccessModel {
    let stored = shared
        .store
        .with(move |s| Ok(s.omemo_get(account, KEY_ACCESS)?))
        .await
        .ok()
        .flatten();
    if stored.is_some_and(|b| b.as_slice() == b"contacts") {
        AccessModel::Presence
    } else {
        AccessModel::Open
    }
}

/// Who may read the account's keys: `open` or `contacts`.
pub(crate) async fn key_access(shared: &SharedRef, account: AccountId) -> String {
    match access_model(shared, account).await {
        AccessModel::Presence => "contacts".into(),
        _ => "open".into(),
    }
}

/// Records who may read the account's keys (`open` or `contacts`).
pub(crate) async fn set_access(
    shared: &SharedRef,
    account: AccountId,
    access: &str,
) -> Result<(), CoreError> {
    let value = match access {
        "open" | "contacts" => access.to_owned(),
        other => {
            return Err(CoreError::InvalidInput(format!(
                "unknown key access {other:?} (open or contacts)"
            )));
        }
    };
    shared
        .store
        .with(move |s| Ok(s.omemo_set(account, KEY_ACCESS, value.as_bytes())?))
        .await
}

/// When the signed prekeys were last rotated (unix seconds, decimal).
const KEY_SPK_ROTATED: &str = "spk_rotated";
/// How often the signed prekeys are rotated (the previous one stays usable one more period).
const SPK_ROTATION_SECS: i64 = 7 * 24 * 3600;

/// Whether the signed prekeys are due for rotation; `None` when never recorded (a new device:
/// its keys are fresh).
fn rotation_due(last: Option<i64>, now: i64) -> bool {
    last.is_some_and(|l| now.saturating_sub(l) >= SPK_ROTATION_SECS)
}

/// Rotates the signed prekeys of both versions once a week (checked at login).
async fn rotate_if_due(shared: &SharedRef, account: AccountId, st: &OmemoRef) {
    let st2 = st.clone();
    let result = shared
        .store
        .with(move |s| {
            let now = chrono::Utc::now().timestamp();
            let last = s
                .omemo_get(account, KEY_SPK_ROTATED)?
                .and_then(|b| std::str::from_utf8(&b).ok()?.parse::<i64>().ok());
            if last.is_none() || rotation_due(last, now) {
                if rotation_due(last, now) {
                    let mut g = lock(&st2);
                    for v in VERSIONS {
                        g.manager.rotate_signed_prekey(v, &mut OsRng);
                    }
                }
                s.omemo_set(account, KEY_SPK_ROTATED, now.to_string().as_bytes())?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = result {
        tracing::info!(error = %e, "could not check the signed prekey rotation");
    }
}

/// One account's OMEMO state.
pub(crate) struct AccountOmemo {
    /// Own device, sessions, trust.
    pub(crate) manager: SessionManager,
    /// The latest device lists seen.
    pub(crate) registry: DeviceRegistry,
    /// Lists fetched (or pushed to us) on the current stream: not fetched again.
    fresh: HashSet<(OmemoVersion, String)>,
    /// Who has no device list, as definitive answers said (memory only).
    no_list: NoLists,
    /// Devices whose bundle could not be fetched or used lately (memory only).
    bundle_failures: BundleFailures,
}

/// How long a device whose bundle could not be fetched or used is left alone by sends.
pub(crate) const BUNDLE_RETRY: Duration = Duration::from_secs(10 * 60);

/// Devices whose bundle fetch failed (no bundle, an error, an unusable bundle), each with when:
/// not asked again for [`BUNDLE_RETRY`], unless the owner's device list changes first.
#[derive(Default)]
pub(crate) struct BundleFailures(HashMap<(OmemoVersion, String, u32), Instant>);

impl BundleFailures {
    /// Notes a failure for `jid`'s `device` at `now`.
    fn note(&mut self, v: OmemoVersion, jid: &str, device: u32, now: Instant) {
        if self.0.len() >= NO_LIST_SWEEP {
            self.0
                .retain(|_, at| now.saturating_duration_since(*at) < BUNDLE_RETRY);
        }
        self.0.insert((v, jid.to_owned(), device), now);
    }

    /// Whether a failure of `jid`'s `device` is still recent at `now` (an old one is dropped).
    fn holds(&mut self, v: OmemoVersion, jid: &str, device: u32, now: Instant) -> bool {
        let key = (v, jid.to_owned(), device);
        match self.0.get(&key) {
            Some(at) if now.saturating_duration_since(*at) < BUNDLE_RETRY => true,
            Some(_) => {
                self.0.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Forgets the failures of every device of `jid` (its list changed, or the user asked).
    fn forget_jid(&mut self, v: OmemoVersion, jid: &str) {
        self.0.retain(|(kv, kj, _), _| !(*kv == v && kj == jid));
    }
}

/// How long a definitive "no device list" answer is believed: within it, neither the audit,
/// nor a message that reaches nobody, nor the same client of a member arriving in a room again
/// asks again. A device-list PEP event for the JID, the user's `devices` refresh or
/// `check_keys`, a new stream and locking forget it sooner; a client of that JID not seen
/// before is asked once.
pub(crate) const NO_LIST_TTL: Duration = Duration::from_secs(10 * 60);

/// With this many answers noted, expired ones are swept out before noting another.
const NO_LIST_SWEEP: usize = 1024;

/// At most this many clients (resources) are remembered per "no list" answer.
const NO_LIST_CLIENTS: usize = 16;

/// One definitive "no list" answer: when, and the member's clients (resources) that had
/// arrived in a room when it was given.
struct NoList {
    at: Instant,
    clients: Vec<String>,
}

/// Definitive "this JID has no device list of this version" answers (item-not-found, an empty
/// list, access denied), each believed for [`NO_LIST_TTL`]. Kept in memory only, like
/// Conversations and Dino do (only a sent room message keeps, with itself, whom it could not
/// be encrypted for). Transient failures (timeouts, stream errors, remote-server errors) are
/// never noted here.
#[derive(Default)]
pub(crate) struct NoLists(HashMap<(OmemoVersion, String), NoList>);

impl NoLists {
    /// Notes a definitive "no list" answer received at `now`, asked because `client` arrived
    /// (if so).
    fn note(&mut self, v: OmemoVersion, jid: &str, client: Option<&str>, now: Instant) {
        if self.0.len() >= NO_LIST_SWEEP {
            self.0
                .retain(|_, e| now.saturating_duration_since(e.at) < NO_LIST_TTL);
        }
        let e = self.0.entry((v, jid.to_owned())).or_insert(NoList {
            at: now,
            clients: Vec::new(),
        });
        e.at = now;
        if let Some(c) = client
            && !e.clients.iter().any(|k| k == c)
        {
            if e.clients.len() >= NO_LIST_CLIENTS {
                e.clients.remove(0);
            }
            e.clients.push(c.to_owned());
        }
    }

    /// Whether a "no list" answer for `jid` is still believed at `now` (an expired one is
    /// dropped); with `client`, only if that client had been seen when it was given. An
    /// answer given before any client of `jid` arrived (the member was already on the room's
    /// member list) is about the first client that arrives.
    fn holds(&mut self, v: OmemoVersion, jid: &str, client: Option<&str>, now: Instant) -> bool {
        let key = (v, jid.to_owned());
        match self.0.get_mut(&key) {
            Some(e) if now.saturating_duration_since(e.at) < NO_LIST_TTL => match client {
                None => true,
                Some(c) if e.clients.is_empty() => {
                    e.clients.push(c.to_owned());
                    true
                }
                Some(c) => e.clients.iter().any(|k| k == c),
            },
            Some(_) => {
                self.0.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Forgets `jid`'s answer for version `v`.
    fn forget(&mut self, v: OmemoVersion, jid: &str) {
        self.0.remove(&(v, jid.to_owned()));
    }

    /// Forgets every answer.
    fn clear(&mut self) {
        self.0.clear();
    }
}

/// What a device-list query told us about someone else's list.
#[derive(Debug, PartialEq, Eq)]
enum ListAnswer {
    /// The published list, with at least one device.
    Devices(Vec<u32>),
    /// Definitive: no list (item-not-found, an empty or unreadable list).
    Absent,
    /// Definitive: we may not read it (forbidden, not-authorized, ...). What we knew stays.
    Denied,
    /// Transient (timeout, Tor stream error, remote server unreachable, server trouble):
    /// nothing is remembered; the next occasion asks again.
    Transient,
}

/// The error conditions that answer "no list for you" for good; any other error is transient
/// (`remote-server-timeout`, `remote-server-not-found`, `internal-server-error`,
/// `resource-constraint`, `recipient-unavailable`, ... and every stream-level failure).
const DEFINITIVE: [&str; 7] = [
    "Forbidden",
    "NotAuthorized",
    "NotAllowed",
    "RegistrationRequired",
    "SubscriptionRequired",
    "ServiceUnavailable",
    "FeatureNotImplemented",
];

/// Sorts a device-list query's outcome ([`fetch_list`]: item-not-found is already an empty
/// list) into definitive and transient answers.
fn classify(r: Result<Vec<u32>, XmppError>) -> ListAnswer {
    match r {
        Ok(ids) if ids.iter().any(|&id| id != 0) => ListAnswer::Devices(ids),
        Ok(_) => ListAnswer::Absent,
        Err(XmppError::IqError(c)) if c == "ItemNotFound" => ListAnswer::Absent,
        Err(XmppError::IqError(c)) if DEFINITIVE.contains(&c.as_str()) => ListAnswer::Denied,
        Err(_) => ListAnswer::Transient,
    }
}

/// How [`ensure_lists`] treats lists it already knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fetch<'a> {
    /// Only lists not known on this stream, and not believed absent.
    Unknown,
    /// Again (a message reached nobody), except those believed absent.
    Again,
    /// Again: a member's client (its resource, if the room shows it) arrived in a room. Not if
    /// a "no list" answer is believed that this client had been seen for: the same client
    /// coming and going is not asked again, a new client (perhaps with OMEMO) is.
    Arrived(Option<&'a str>),
    /// Again, even those believed absent (the user asked).
    Refresh,
}

impl AccountOmemo {
    /// Records `jid`'s device list of version `v`; when it differs from the one known, the
    /// bundles that failed are asked for again (a broken device may have been replaced).
    fn update_list(&mut self, v: OmemoVersion, jid: &str, list: Vec<u32>) {
        let before = self.registry.devices(v, jid).to_vec();
        self.registry.update(v, jid, list);
        if self.registry.devices(v, jid) != before.as_slice() {
            self.bundle_failures.forget_jid(v, jid);
        }
    }

    /// Whether `jid`'s `device` needs a session started from its bundle at `now`: it has
    /// none, and its bundle did not fail lately.
    fn wants_bundle(&mut self, v: OmemoVersion, jid: &str, device: u32, now: Instant) -> bool {
        !self.manager.has_session(v, jid, device)
            && !self.bundle_failures.holds(v, jid, device, now)
    }

    /// A new stream: device lists are asked for again, and "no list" answers are forgotten.
    fn new_stream(&mut self) {
        self.fresh.clear();
        self.no_list.clear();
    }

    /// Whether `jid`'s list of version `v` is to be asked for at `now` under `mode`.
    fn should_fetch(&mut self, v: OmemoVersion, jid: &str, mode: Fetch, now: Instant) -> bool {
        let client = match mode {
            Fetch::Refresh => {
                self.no_list.forget(v, jid);
                None
            }
            Fetch::Arrived(c) => c,
            Fetch::Unknown | Fetch::Again => None,
        };
        !(self.no_list.holds(v, jid, client, now)
            || (mode == Fetch::Unknown && self.fresh.contains(&(v, jid.to_owned()))))
    }

    /// A device list of `jid` came in a PEP event: it is known on this stream, and whatever we
    /// believed about `jid` having no list is forgotten.
    fn pushed(&mut self, v: OmemoVersion, jid: &str, list: Vec<u32>) {
        self.update_list(v, jid, list);
        self.fresh.insert((v, jid.to_owned()));
        self.no_list.forget(v, jid);
    }

    /// Records what a query for `jid`'s list of version `v`, made under `mode`, answered at
    /// `now`.
    fn apply(&mut self, v: OmemoVersion, jid: &str, mode: Fetch, answer: ListAnswer, now: Instant) {
        let key = (v, jid.to_owned());
        let client = match mode {
            Fetch::Arrived(c) => c,
            _ => None,
        };
        match answer {
            ListAnswer::Devices(list) => {
                self.update_list(v, jid, list);
                self.fresh.insert(key);
                self.no_list.forget(v, jid);
            }
            ListAnswer::Absent => {
                self.update_list(v, jid, Vec::new());
                self.fresh.remove(&key);
                self.no_list.note(v, jid, client, now);
            }
            ListAnswer::Denied => {
                self.fresh.remove(&key);
                self.no_list.note(v, jid, client, now);
            }
            // Nothing remembered: the next occasion asks again.
            ListAnswer::Transient => {}
        }
    }
}

/// The account's stream ended or was replaced (not resumed): what it learned about others'
/// device lists is asked for again on the next one.
pub(crate) fn forget_stream(shared: &SharedRef, account: AccountId) {
    let st = lock(&shared.omemo).0.get(&account.0).cloned();
    if let Some(st) = st {
        lock(&st).new_stream();
    }
}

/// Shared handle on an account's OMEMO state. Never held across an `.await`.
pub(crate) type OmemoRef = Arc<Mutex<AccountOmemo>>;

/// The per-account states of the unlocked profile.
#[derive(Default)]
pub(crate) struct OmemoStates(HashMap<i64, OmemoRef>);

impl OmemoStates {
    /// Forgets every state (at lock).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Forgets one account's state (account removed).
    pub(crate) fn remove(&mut self, account: AccountId) {
        self.0.remove(&account.0);
    }
}

const VERSIONS: [OmemoVersion; 2] = [OmemoVersion::V2, OmemoVersion::Legacy];

fn omemo_err(e: &OmemoError) -> CoreError {
    CoreError::Omemo(e.to_string())
}

fn xmpp_err(e: &XmppError) -> CoreError {
    CoreError::Xmpp(e.to_string())
}

/// The account's OMEMO state: loaded from the store, or generated (and stored) on first use.
pub(crate) async fn load(shared: &SharedRef, account: AccountId) -> Result<OmemoRef, CoreError> {
    if let Some(s) = lock(&shared.omemo).0.get(&account.0) {
        return Ok(s.clone());
    }
    let loaded = shared
        .store
        .with(move |s| {
            let manager = if let Some(bytes) = s.omemo_get(account, KEY_MANAGER)? {
                SessionManager::from_bytes(&bytes).map_err(|e| omemo_err(&e))?
            } else {
                let m =
                    SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut OsRng);
                let bytes = m.to_bytes().map_err(|e| omemo_err(&e))?;
                s.omemo_set(account, KEY_MANAGER, &bytes)?;
                m
            };
            let registry = s
                .omemo_get(account, KEY_REGISTRY)?
                .and_then(|b| serde_json::from_slice::<DeviceRegistry>(&b).ok())
                .map(|mut r| {
                    r.drop_empty();
                    r
                })
                .unwrap_or_default();
            Ok(AccountOmemo {
                manager,
                registry,
                fresh: HashSet::new(),
                no_list: NoLists::default(),
                bundle_failures: BundleFailures::default(),
            })
        })
        .await?;
    let mut states = lock(&shared.omemo);
    // Another task may have loaded it meanwhile: keep the first.
    Ok(states
        .0
        .entry(account.0)
        .or_insert_with(|| Arc::new(Mutex::new(loaded)))
        .clone())
}

/// Writes the state to the encrypted store. The snapshot is taken inside the store's critical
/// section, so concurrent saves cannot write an older snapshot over a newer one.
pub(crate) async fn save(shared: &SharedRef, account: AccountId, st: &OmemoRef) {
    let st = st.clone();
    let result = shared
        .store
        .with(move |s| {
            let (manager, registry) = {
                let g = lock(&st);
                (
                    g.manager.to_bytes().map_err(|e| omemo_err(&e))?,
                    serde_json::to_vec(&g.registry).map_err(|e| CoreError::Omemo(e.to_string()))?,
                )
            };
            s.omemo_set(account, KEY_MANAGER, &manager)?;
            s.omemo_set(account, KEY_REGISTRY, &registry)?;
            Ok(())
        })
        .await;
    if let Err(e) = result {
        shared.emit(Event::Error {
            kind: e.kind().into(),
            message: format!("could not save the OMEMO state: {e}"),
            account: None,
        });
    }
}

/// The omemo layer's XML (minidom 0.18) as the xmpp layer's element, and back. The elements are
/// small; a round trip through text keeps the layers' dependencies apart.
fn from_wire(e: &minidom::Element) -> Result<Element, OmemoError> {
    String::from(e)
        .parse()
        .map_err(|_| OmemoError::MalformedXml("element"))
}

/// The `<encrypted/>` element to send: OMEMO 2's is written straight to text (see
/// [`wire::v2::encrypted_xml`]) and parsed once.
fn encrypted_element(v: OmemoVersion, e: &wire::EncryptedElement) -> Result<Element, OmemoError> {
    let text = match v {
        OmemoVersion::V2 => wire::v2::encrypted_xml(e),
        OmemoVersion::Legacy => String::from(&wire::legacy::build_encrypted(e)),
    };
    text.parse()
        .map_err(|_| OmemoError::MalformedXml("element"))
}

fn to_wire(e: &Element) -> Result<minidom::Element, OmemoError> {
    String::from(e)
        .parse()
        .map_err(|_| OmemoError::MalformedXml("element"))
}

fn list_node(v: OmemoVersion) -> &'static str {
    match v {
        OmemoVersion::V2 => wire::v2::DEVICES_NODE,
        OmemoVersion::Legacy => wire::legacy::DEVICELIST_NODE,
    }
}

fn parse_list(v: OmemoVersion, e: &Element) -> Result<Vec<u32>, OmemoError> {
    let e = to_wire(e)?;
    match v {
        OmemoVersion::V2 => wire::v2::parse_device_list(&e),
        OmemoVersion::Legacy => wire::legacy::parse_device_list(&e),
    }
}

fn build_list(v: OmemoVersion, ids: &[u32]) -> Result<Element, CoreError> {
    from_wire(&match v {
        OmemoVersion::V2 => wire::v2::build_device_list(ids),
        OmemoVersion::Legacy => wire::legacy::build_device_list(ids),
    })
    .map_err(|e| omemo_err(&e))
}

fn version_of_node(node: &str) -> Option<OmemoVersion> {
    VERSIONS.into_iter().find(|v| list_node(*v) == node)
}

/// The version's name in events and replies.
pub(crate) fn version_name(v: OmemoVersion) -> &'static str {
    match v {
        OmemoVersion::V2 => "omemo2",
        OmemoVersion::Legacy => "omemo",
    }
}

fn message_encryption(v: OmemoVersion) -> MessageEncryption {
    match v {
        OmemoVersion::V2 => MessageEncryption::Omemo2,
        OmemoVersion::Legacy => MessageEncryption::OmemoLegacy,
    }
}

async fn publish_bundle(
    session: &Session,
    st: &OmemoRef,
    v: OmemoVersion,
    access: AccessModel,
) -> Result<(), CoreError> {
    let (bundle, device) = {
        let g = lock(st);
        let b = g.manager.bundle(v);
        let el = match v {
            OmemoVersion::V2 => wire::v2::build_bundle(&b),
            OmemoVersion::Legacy => wire::legacy::build_bundle(&b),
        }
        .and_then(|el| from_wire(&el))
        .map_err(|e| omemo_err(&e))?;
        (el, g.manager.device_id())
    };
    let id = device.to_string();
    let (node, item, max) = match v {
        OmemoVersion::V2 => (wire::v2::BUNDLES_NODE.to_owned(), id.as_str(), Some("max")),
        OmemoVersion::Legacy => (wire::legacy::bundle_node(device), "current", None),
    };
    session
        .pep_publish_configured(&node, Some(item), bundle, access, max)
        .await
        .map_err(|e| xmpp_err(&e))
}

/// Fetches `jid`'s device list of version `v` (own list with `None`); a missing node is an
/// empty list.
async fn fetch_list(
    session: &Session,
    jid: Option<&BareJid>,
    v: OmemoVersion,
) -> Result<Vec<u32>, XmppError> {
    let items = match session.pep_items(jid, list_node(v)).await {
        Ok(items) => items,
        Err(XmppError::IqError(c)) if c == "ItemNotFound" => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(items
        .iter()
        .find_map(|(_, payload)| parse_list(v, payload).ok())
        .unwrap_or_default())
}

/// At every login: publishes both bundles and makes sure our device is in both own device
/// lists (re-adding it when a server or another client dropped it), all with the open access
/// model so non-contacts in private rooms can fetch them. Used one-time prekeys are deleted
/// first (the archive catch-up is done by now) and the bundles carry 100 fresh ones.
pub(crate) async fn publish_own(
    session: &Session,
    shared: &SharedRef,
    account: AccountId,
    st: &OmemoRef,
) -> Result<(), CoreError> {
    {
        let mut g = lock(st);
        g.manager.delete_used_prekeys();
        g.new_stream();
    }
    rotate_if_due(shared, account, st).await;
    save(shared, account, st).await;
    let own = session.own_jid().to_string();
    let access = access_model(shared, account).await;
    for v in VERSIONS {
        publish_bundle(session, st, v, access).await?;
        let published = fetch_list(session, None, v)
            .await
            .map_err(|e| xmpp_err(&e))?;
        // The list is published at every login (with our device added if it was dropped), so
        // the node always has the account's access model, also after it was changed.
        let missing = own_list_to_publish(&published, &lock(st).manager);
        let list = missing.unwrap_or(published);
        session
            .pep_publish_configured(
                list_node(v),
                Some("current"),
                build_list(v, &list)?,
                access,
                None,
            )
            .await
            .map_err(|e| xmpp_err(&e))?;
        let mut g = lock(st);
        g.registry.update(v, &own, list);
        g.fresh.insert((v, own.clone()));
    }
    save(shared, account, st).await;
    Ok(())
}

/// A PEP notification: a device list of a contact (or our own) changed. Our own device is put
/// back if it was dropped from our list. True when a device list was updated.
pub(crate) async fn on_pep_event(
    session: &Session,
    shared: &SharedRef,
    account: AccountId,
    st: &OmemoRef,
    from: Option<&xmpp_parsers::jid::Jid>,
    event: &Element,
) -> bool {
    let own = session.own_jid().clone();
    let mut changed = false;
    let jid = from.map_or_else(|| own.clone(), xmpp_parsers::jid::Jid::to_bare);
    for items in event.children().filter(|c| c.name() == "items") {
        let Some(v) = items.attr("node").and_then(version_of_node) else {
            continue;
        };
        let Some(list) = items
            .children()
            .filter(|i| i.name() == "item")
            .find_map(|i| i.children().next().and_then(|p| parse_list(v, p).ok()))
        else {
            continue;
        };
        let readd = {
            let mut g = lock(st);
            g.pushed(v, jid.as_str(), list.clone());
            if jid == own {
                own_list_to_publish(&list, &g.manager)
            } else {
                None
            }
        };
        if let Some(list) = readd {
            let access = access_model(shared, account).await;
            let r = match build_list(v, &list) {
                Ok(el) => session
                    .pep_publish_configured(list_node(v), Some("current"), el, access, None)
                    .await
                    .map_err(|e| xmpp_err(&e)),
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                tracing::info!(error = %e, "could not re-add our device to our device list");
            }
            lock(st).registry.update(v, own.as_str(), list);
        }
        save(shared, account, st).await;
        changed = true;
    }
    changed
}

/// Makes sure the device lists of `jids` are known for both versions on this stream; `mode`
/// says which known lists are asked for again. A JID believed to have no list ([`NoLists`]) is
/// asked again only on the user's refresh.
async fn ensure_lists(session: &Session, st: &OmemoRef, jids: &[String], mode: Fetch<'_>) {
    let own = session.own_jid().to_string();
    for jid in jids {
        for v in VERSIONS {
            if !lock(st).should_fetch(v, jid, mode, Instant::now()) {
                continue;
            }
            let owner = if *jid == own {
                None
            } else {
                BareJid::new(jid).ok()
            };
            if *jid != own && owner.is_none() {
                continue;
            }
            let fetched = fetch_list(session, owner.as_ref(), v).await;
            if let Err(e) = &fetched {
                tracing::info!(error = %e, "could not fetch a device list");
            }
            lock(st).apply(v, jid, mode, classify(fetched), Instant::now());
        }
    }
}

/// Starts sessions with the `devices` that have none, from their published bundles.
async fn ensure_sessions(
    session: &Session,
    shared: &SharedRef,
    account_jid: &str,
    st: &OmemoRef,
    v: OmemoVersion,
    devices: &[DeviceAddress],
) {
    for d in devices {
        if !lock(st).wants_bundle(v, &d.jid, d.device_id, Instant::now()) {
            continue;
        }
        let owner = if d.jid == session.own_jid().as_str() {
            None
        } else {
            match BareJid::new(&d.jid) {
                Ok(j) => Some(j),
                Err(_) => continue,
            }
        };
        let fetched = match v {
            OmemoVersion::V2 => {
                session
                    .pep_item(
                        owner.as_ref(),
                        wire::v2::BUNDLES_NODE,
                        &d.device_id.to_string(),
                    )
                    .await
            }
            OmemoVersion::Legacy => session
                .pep_items(owner.as_ref(), &wire::legacy::bundle_node(d.device_id))
                .await
                .map(|items| items.into_iter().next().map(|(_, p)| p)),
        };
        let failed = || {
            lock(st)
                .bundle_failures
                .note(v, &d.jid, d.device_id, Instant::now());
        };
        let bundle = match fetched {
            Ok(Some(el)) => to_wire(&el).and_then(|el| match v {
                OmemoVersion::V2 => wire::v2::parse_bundle(&el),
                OmemoVersion::Legacy => wire::legacy::parse_bundle(&el),
            }),
            Ok(None) => {
                failed();
                continue;
            }
            Err(e) => {
                tracing::info!(error = %e, "could not fetch a bundle");
                failed();
                continue;
            }
        };
        let started = bundle.and_then(|b| {
            lock(st)
                .manager
                .start_session(v, &d.jid, d.device_id, &b, &mut OsRng)
        });
        match started {
            Ok(event) => identity_event(shared, account_jid, &d.jid, d.device_id, &event),
            Err(e) => {
                tracing::info!(error = %e, "unusable bundle");
                failed();
            }
        }
    }
}

fn identity_event(shared: &SharedRef, account: &str, jid: &str, device: u32, e: &IdentityEvent) {
    match e {
        IdentityEvent::Known => {}
        IdentityEvent::New { fingerprint } => shared.emit(Event::DeviceNew {
            account: account.to_owned(),
            jid: jid.to_owned(),
            device,
            fingerprint: fingerprint.clone(),
        }),
        IdentityEvent::Changed {
            old_fingerprint,
            new_fingerprint,
            old_was_verified,
        } => shared.emit(Event::IdentityChanged {
            account: account.to_owned(),
            jid: jid.to_owned(),
            device,
            old_fingerprint: old_fingerprint.clone(),
            new_fingerprint: new_fingerprint.clone(),
            old_was_verified: *old_was_verified,
        }),
    }
}

/// An encrypted message, ready to send.
pub(crate) struct Sealed {
    /// The payloads beside the hint body: `<encrypted/>`, `<store/>`, EME.
    pub(crate) payloads: Vec<Element>,
    /// The version used.
    pub(crate) version: OmemoVersion,
    /// Members (in a room) none of whose devices can read the message.
    pub(crate) missing: Vec<String>,
}

/// Which version serves `jids` (plus our other devices), per the rule in the module doc.
fn choose_version(
    registry: &DeviceRegistry,
    own: &str,
    own_device: u32,
    jids: &[&str],
    choice: EncryptionChoice,
) -> Vec<OmemoVersion> {
    match choice {
        EncryptionChoice::Omemo2 => return vec![OmemoVersion::V2],
        EncryptionChoice::OmemoLegacy => return vec![OmemoVersion::Legacy],
        EncryptionChoice::Omemo | EncryptionChoice::Plaintext => {}
    }
    let v2 = registry.recipients(OmemoVersion::V2, own, own_device, jids);
    let legacy = registry.recipients(OmemoVersion::Legacy, own, own_device, jids);
    let v2_set: HashSet<&DeviceAddress> = v2.devices.iter().collect();
    let all_v2 = legacy.devices.iter().all(|d| v2_set.contains(d));
    let peer_v2 = v2
        .devices
        .iter()
        .any(|d| d.jid != own || jids.contains(&own));
    if all_v2 && peer_v2 {
        vec![OmemoVersion::V2, OmemoVersion::Legacy]
    } else {
        vec![OmemoVersion::Legacy, OmemoVersion::V2]
    }
}

/// Encrypts `body` from our account to `to` (a contact, or a room whose members are
/// `members`). `Err` carries why nobody could be reached; nothing is sent then.
#[allow(
    clippy::too_many_arguments,
    reason = "each argument is a distinct part of the message"
)]
pub(crate) async fn seal(
    session: &Session,
    shared: &SharedRef,
    account_jid: &str,
    st: &OmemoRef,
    to: &str,
    members: &[String],
    content: &MessageContent,
    choice: EncryptionChoice,
) -> Result<Sealed, (HeldCause, String)> {
    let own = session.own_jid().to_string();
    let mut jids: Vec<String> = members.to_vec();
    jids.retain(|j| *j != own);
    jids.sort();
    jids.dedup();
    if jids.is_empty() && members.is_empty() {
        jids.push(to.to_owned());
    }
    let mut everyone = jids.clone();
    everyone.push(own.clone());
    // A second pass when nobody was reached asks again, except whoever is believed to have no
    // list (they go to `missing` at once, see [`NO_LIST_TTL`]).
    for mode in [Fetch::Unknown, Fetch::Again] {
        ensure_lists(session, st, &everyone, mode).await;
        let refs: Vec<&str> = jids.iter().map(String::as_str).collect();
        let order = {
            let g = lock(st);
            choose_version(&g.registry, &own, g.manager.device_id(), &refs, choice)
        };
        for v in order {
            let recipients = {
                let g = lock(st);
                g.registry.recipients(v, &own, g.manager.device_id(), &refs)
            };
            ensure_sessions(session, shared, account_jid, st, v, &recipients.devices).await;
            // Legacy encrypts only the body; a correction keeps its XEP-0308 marker in clear.
            let legacy_content = MessageContent {
                body: content.body.clone(),
                ..MessageContent::default()
            };
            let this = if v == OmemoVersion::V2 {
                content
            } else {
                &legacy_content
            };
            let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let encrypted = lock(st).manager.encrypt_message(
                v,
                this,
                &own,
                to,
                &stamp,
                &recipients.devices,
                &mut OsRng,
            );
            let encrypted = match encrypted {
                Ok(e) => e,
                Err(e) => {
                    return Err((
                        HeldCause::EncryptionFailed,
                        format!("encryption failed: {e}"),
                    ));
                }
            };
            let reached: HashSet<&str> = encrypted
                .element
                .keys
                .iter()
                .filter_map(|k| {
                    recipients
                        .devices
                        .iter()
                        .find(|d| {
                            d.device_id == k.rid && k.jid.as_deref().is_none_or(|j| j == d.jid)
                        })
                        .map(|d| d.jid.as_str())
                })
                .filter(|j| *j != own)
                .collect();
            if reached.is_empty() {
                continue;
            }
            let missing: Vec<String> = jids
                .iter()
                .filter(|j| !reached.contains(j.as_str()))
                .cloned()
                .collect();
            let element = match encrypted_element(v, &encrypted.element) {
                Ok(e) => e,
                Err(e) => {
                    return Err((
                        HeldCause::EncryptionFailed,
                        format!("encryption failed: {e}"),
                    ));
                }
            };
            let mut payloads = vec![
                element,
                elem("store", NS_HINTS, &[]),
                elem(
                    "encryption",
                    NS_EME,
                    &[("namespace", v.namespace()), ("name", "OMEMO")],
                ),
            ];
            if let (OmemoVersion::Legacy, Some(id)) = (v, &content.replace_id) {
                payloads.push(elem("replace", NS_CORRECT, &[("id", id.as_str())]));
            }
            return Ok(Sealed {
                payloads,
                version: v,
                missing,
            });
        }
    }
    Err((
        HeldCause::NoKeys,
        format!(
            "nobody in the conversation with {to} has usable OMEMO keys: the message was not sent"
        ),
    ))
}

/// The `<encrypted/>` element of an inbound message and its version, if it has one.
pub(crate) fn find_encrypted(
    raw: &xmpp_parsers::message::Message,
) -> Option<(OmemoVersion, &Element)> {
    VERSIONS.into_iter().find_map(|v| {
        raw.payloads
            .iter()
            .find(|p| p.is("encrypted", v.namespace()))
            .map(|e| (v, e))
    })
}

/// The outcome of decrypting an inbound message.
pub(crate) enum Opened {
    /// Decrypted: the content, and the version.
    Content(MessageContent, OmemoVersion),
    /// An empty OMEMO message (heartbeat / key transport): nothing to show.
    Empty,
    /// Seen before (replay, MAM copy of a live message): nothing to show, no state changed.
    Duplicate,
    /// Not readable: a notice is stored instead.
    Failed(String, OmemoVersion),
}

/// Decrypts `el` sent by `sender` (bare, real JID). `stanza_from`/`stanza_to` are checked
/// against an OMEMO 2 envelope's affixes. Republishes the bundle when a prekey was used and
/// answers a new session with a heartbeat when `live`.
#[allow(
    clippy::too_many_arguments,
    reason = "each argument is a distinct part of the stanza"
)]
pub(crate) async fn open(
    session: &Session,
    shared: &SharedRef,
    account: &store::Account,
    st: &OmemoRef,
    v: OmemoVersion,
    el: &Element,
    sender: &str,
    stanza_from: &str,
    stanza_to: &str,
    live: bool,
) -> Opened {
    let own = session.own_jid().to_string();
    let parsed: Result<EncryptedElement, OmemoError> = to_wire(el).and_then(|el| match v {
        OmemoVersion::V2 => wire::v2::parse_encrypted(&el),
        OmemoVersion::Legacy => wire::legacy::parse_encrypted(&el),
    });
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => return Opened::Failed(e.to_string(), v),
    };
    let sid = parsed.sid;
    let result: Result<DecryptedMessage, OmemoError> = {
        let mut g = lock(st);
        if sender == own && sid == g.manager.device_id() {
            // Our own message, from this device (archive, reflection): stored when sent.
            return Opened::Duplicate;
        }
        g.manager
            .decrypt_message(v, sender, stanza_from, stanza_to, &own, &parsed, &mut OsRng)
    };
    let m = match result {
        Ok(m) => m,
        Err(OmemoError::Duplicate) => return Opened::Duplicate,
        Err(e) => return Opened::Failed(e.to_string(), v),
    };
    if let Some(e) = &m.details.identity_event {
        identity_event(shared, &account.jid, sender, sid, e);
    }
    if !m.details.trusted && m.content.is_some() {
        // Shown, but the user is told it came from a device they do not trust.
        shared.emit(Event::Error {
            kind: "omemo_untrusted_sender".into(),
            message: format!(
                "a message from {sender} came from device {sid}, which you do not trust \
                 (untrusted, changed or unverified in strict mode)"
            ),
            account: Some(account.jid.clone()),
        });
    }
    save(shared, account.id, st).await;
    if m.details.bundle_changed
        && live
        && let Err(e) = publish_bundle(session, st, v, access_model(shared, account.id).await).await
    {
        tracing::info!(error = %e, "could not republish the bundle");
    }
    if m.details.needs_heartbeat && live {
        heartbeat(session, shared, account.id, st, v, sender, sid).await;
    }
    match m.content {
        Some(mut c) => {
            // A legacy payload is raw bytes, not XML: it may hold characters no stanza can
            // carry (a NUL, U+FFFF). They are shown as U+FFFD rather than lost or passed on to
            // anything that serialises or displays the text again.
            if let Some(body) = c.body.as_mut()
                && crate::xmpp::xml_text::first_invalid(body).is_some()
            {
                *body = crate::xmpp::xml_text::replace_invalid(body).into_owned();
            }
            Opened::Content(c, v)
        }
        None => Opened::Empty,
    }
}

/// After the offline (MAM) catch-up: one empty message to each device whose key exchange (or
/// long one-sided chain) we read without answering — unless the outbox just wrote to it — so
/// its sender's session is completed and stops repeating the key exchange (XEP-0384).
pub(crate) async fn send_due_heartbeats(
    session: &Session,
    shared: &SharedRef,
    account: AccountId,
    st: &OmemoRef,
) {
    let due = lock(st).manager.due_heartbeats();
    for (v, device) in due {
        heartbeat(
            session,
            shared,
            account,
            st,
            v,
            &device.jid,
            device.device_id,
        )
        .await;
    }
}

/// Answers a new session with an empty message so the sender stops repeating its key exchange.
async fn heartbeat(
    session: &Session,
    shared: &SharedRef,
    account: AccountId,
    st: &OmemoRef,
    v: OmemoVersion,
    jid: &str,
    device: u32,
) {
    let Ok(to) = xmpp_parsers::jid::Jid::new(jid) else {
        return;
    };
    let el = {
        let addr = DeviceAddress {
            jid: jid.to_owned(),
            device_id: device,
        };
        match lock(st).manager.heartbeat(v, &addr, &mut OsRng) {
            Ok(e) => e,
            Err(_) => return,
        }
    };
    let Ok(element) = encrypted_element(v, &el) else {
        return;
    };
    let mut msg = xmpp_parsers::message::Message::new_with_type(
        xmpp_parsers::message::MessageType::Chat,
        Some(to),
    );
    msg.payloads.push(element);
    msg.payloads.push(elem("store", NS_HINTS, &[]));
    save(shared, account, st).await;
    if let Err(e) = session.send_message(msg).await {
        tracing::info!(error = %e, "could not send an OMEMO heartbeat");
    }
}

/// The notice stored in place of a message that could not be decrypted.
pub(crate) fn failure_notice(why: &str) -> String {
    format!("[This OMEMO message could not be decrypted on this device: {why}]")
}

/// The devices of `jid` (own devices with `None`) as the front ends show them.
pub(crate) fn devices(st: &OmemoRef, own: &str, jid: Option<&str>) -> Vec<DeviceInfo> {
    let g = lock(st);
    let jid = jid.unwrap_or(own);
    let mut ids: Vec<u32> = VERSIONS
        .iter()
        .flat_map(|v| g.registry.devices(*v, jid).iter().copied())
        .collect();
    if jid == own {
        ids.push(g.manager.device_id());
    }
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let this = jid == own && id == g.manager.device_id();
            let versions = VERSIONS
                .iter()
                .filter(|v| this || g.registry.devices(**v, jid).contains(&id))
                .map(|v| version_name(*v).to_owned())
                .collect();
            let (fingerprint, trust) = if this {
                (Some(g.manager.own_fingerprint()), "own".to_owned())
            } else {
                let level = g.manager.trust().level(jid, id);
                let trust = match level {
                    None => "unknown",
                    Some(TrustLevel::Verified) => "verified",
                    Some(TrustLevel::Distrusted) => "untrusted",
                    Some(TrustLevel::Changed) => "changed",
                    Some(TrustLevel::Undecided) => {
                        if g.manager.trust().is_trusted(jid, id) {
                            "blind"
                        } else {
                            "undecided"
                        }
                    }
                };
                (g.manager.trust().fingerprint(jid, id), trust.to_owned())
            };
            DeviceInfo {
                jid: jid.to_owned(),
                device: id,
                fingerprint,
                trust,
                versions,
                this_device: this,
            }
        })
        .collect()
}

/// Fetches `jid`'s device lists and bundles (so `devices` can show fingerprints).
pub(crate) async fn refresh(
    session: &Session,
    shared: &SharedRef,
    account: &store::Account,
    st: &OmemoRef,
    jid: &str,
) {
    ensure_lists(session, st, &[jid.to_owned()], Fetch::Refresh).await;
    for v in VERSIONS {
        let own = session.own_jid().to_string();
        let recipients = {
            let mut g = lock(st);
            // The user asked: bundles that failed lately are asked for again too.
            g.bundle_failures.forget_jid(v, jid);
            g.registry
                .recipients(v, &own, g.manager.device_id(), &[jid])
        };
        ensure_sessions(session, shared, &account.jid, st, v, &recipients.devices).await;
    }
    save(shared, account.id, st).await;
}

/// Which of `jids` have no device in either version's device list (lists not yet known on
/// this stream are fetched): a room audit's members without keys. `arrived` are members whose
/// client (resource, when the room shows it) just arrived: their lists are fetched again,
/// unless a "no list" answer is believed that this client had been seen for ([`Fetch::Arrived`]).
pub(crate) async fn without_keys(
    session: &Session,
    st: &OmemoRef,
    jids: &[String],
    arrived: &[(String, Option<String>)],
) -> Vec<String> {
    for (jid, client) in arrived {
        ensure_lists(
            session,
            st,
            std::slice::from_ref(jid),
            Fetch::Arrived(client.as_deref()),
        )
        .await;
    }
    ensure_lists(session, st, jids, Fetch::Unknown).await;
    let g = lock(st);
    jids.iter()
        .filter(|j| {
            VERSIONS
                .iter()
                .all(|v| g.registry.devices(*v, j).is_empty())
        })
        .cloned()
        .collect()
}

/// Splits `jids` into those with at least one device in either version's known list and those
/// without any.
pub(crate) fn who_has_keys(st: &OmemoRef, jids: Vec<String>) -> (Vec<String>, Vec<String>) {
    let g = lock(st);
    jids.into_iter().partition(|j| {
        VERSIONS
            .iter()
            .any(|v| !g.registry.devices(*v, j).is_empty())
    })
}

/// Applies the user's trust decision for a device; `fingerprint`, when given, must be the one
/// on record.
pub(crate) fn set_trust(
    st: &OmemoRef,
    jid: &str,
    device: u32,
    level: &str,
    fingerprint: Option<&str>,
) -> Result<(), CoreError> {
    let level = match level {
        "verified" => TrustLevel::Verified,
        "untrusted" => TrustLevel::Distrusted,
        "blind" => TrustLevel::Undecided,
        other => {
            return Err(CoreError::InvalidInput(format!(
                "unknown trust level {other:?} (verified, untrusted or blind)"
            )));
        }
    };
    let mut g = lock(st);
    let Some(on_record) = g.manager.trust().fingerprint(jid, device) else {
        return Err(CoreError::NotFound(format!(
            "device {device} of {jid} (run `devices` first)"
        )));
    };
    if let Some(f) = fingerprint
        && normalize(f) != normalize(&on_record)
    {
        return Err(CoreError::InvalidInput(
            "the fingerprint does not match the device's identity key".into(),
        ));
    }
    if g.manager
        .trust_mut()
        .set_level(jid, device, &on_record, level)
    {
        Ok(())
    } else {
        Err(CoreError::NotFound(format!("device {device} of {jid}")))
    }
}

fn normalize(f: &str) -> String {
    f.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Sets strict (only verified devices) or blind-trust-before-verification mode.
pub(crate) fn set_policy(st: &OmemoRef, strict: bool) {
    lock(st).manager.trust_mut().set_policy(if strict {
        TrustPolicy::Strict
    } else {
        TrustPolicy::BlindTrustBeforeVerification
    });
}

/// Whether the account encrypts only to verified devices.
pub(crate) fn is_strict(st: &OmemoRef) -> bool {
    lock(st).manager.trust().policy() == TrustPolicy::Strict
}

/// The store's marker for a version.
pub(crate) fn stored_encryption(v: OmemoVersion) -> MessageEncryption {
    message_encryption(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "me@talpa.test";
    const PEER: &str = "peer@talpa.test";

    fn registry(v2: &[(&str, &[u32])], legacy: &[(&str, &[u32])]) -> DeviceRegistry {
        let mut r = DeviceRegistry::default();
        for (jid, ids) in v2 {
            r.update(OmemoVersion::V2, jid, ids.to_vec());
        }
        for (jid, ids) in legacy {
            r.update(OmemoVersion::Legacy, jid, ids.to_vec());
        }
        r
    }

    fn first(r: &DeviceRegistry, choice: EncryptionChoice) -> OmemoVersion {
        choose_version(r, OWN, 1, &[PEER], choice)[0]
    }

    #[test]
    fn omemo2_is_chosen_when_every_recipient_device_supports_it() {
        let r = registry(
            &[(PEER, &[7]), (OWN, &[1, 2])],
            &[(PEER, &[7]), (OWN, &[1, 2])],
        );
        assert_eq!(first(&r, EncryptionChoice::Omemo), OmemoVersion::V2);
    }

    #[test]
    fn one_legacy_only_device_anywhere_means_legacy() {
        let peer_old = registry(
            &[(PEER, &[7]), (OWN, &[1])],
            &[(PEER, &[7, 8]), (OWN, &[1])],
        );
        assert_eq!(
            first(&peer_old, EncryptionChoice::Omemo),
            OmemoVersion::Legacy
        );
        let own_old = registry(
            &[(PEER, &[7]), (OWN, &[1])],
            &[(PEER, &[7]), (OWN, &[1, 3])],
        );
        assert_eq!(
            first(&own_old, EncryptionChoice::Omemo),
            OmemoVersion::Legacy
        );
    }

    #[test]
    fn no_peer_device_in_omemo2_means_legacy_and_a_pinned_version_is_kept() {
        let r = registry(&[(OWN, &[1, 2])], &[(PEER, &[7]), (OWN, &[1])]);
        assert_eq!(first(&r, EncryptionChoice::Omemo), OmemoVersion::Legacy);
        assert_eq!(
            choose_version(&r, OWN, 1, &[PEER], EncryptionChoice::Omemo2),
            [OmemoVersion::V2]
        );
        assert_eq!(
            choose_version(&r, OWN, 1, &[PEER], EncryptionChoice::OmemoLegacy),
            [OmemoVersion::Legacy]
        );
    }

    #[test]
    fn signed_prekeys_rotate_weekly_and_not_on_a_new_device() {
        let now = 1_800_000_000;
        assert!(!rotation_due(None, now));
        assert!(!rotation_due(Some(now - SPK_ROTATION_SECS + 1), now));
        assert!(rotation_due(Some(now - SPK_ROTATION_SECS), now));
    }

    fn state() -> AccountOmemo {
        AccountOmemo {
            manager: SessionManager::generate(
                TrustPolicy::BlindTrustBeforeVerification,
                &mut OsRng,
            ),
            registry: DeviceRegistry::default(),
            fresh: HashSet::new(),
            no_list: NoLists::default(),
            bundle_failures: BundleFailures::default(),
        }
    }

    #[test]
    fn a_device_whose_bundle_failed_is_not_asked_again_until_the_retry_time_or_a_list_change() {
        let t0 = Instant::now();
        let mut g = state();
        let v = OmemoVersion::V2;
        g.apply(v, PEER, Fetch::Again, ListAnswer::Devices(vec![7, 8]), t0);
        assert!(g.wants_bundle(v, PEER, 7, t0), "no session yet: fetch");
        g.bundle_failures.note(v, PEER, 7, t0);
        let within = t0 + BUNDLE_RETRY.saturating_sub(Duration::from_secs(1));
        assert!(
            !g.wants_bundle(v, PEER, 7, t0),
            "a send right after the failure"
        );
        assert!(
            !g.wants_bundle(v, PEER, 7, within),
            "nor within the retry time"
        );
        assert!(
            g.wants_bundle(v, PEER, 8, within),
            "the contact's other device is asked"
        );
        assert!(
            g.wants_bundle(OmemoVersion::Legacy, PEER, 7, within),
            "the other version's bundle is another bundle"
        );
        assert!(
            g.wants_bundle(v, PEER, 7, t0 + BUNDLE_RETRY),
            "asked again after it"
        );

        // The same list again (a PEP notification repeating it) changes nothing...
        g.bundle_failures.note(v, PEER, 7, t0);
        g.pushed(v, PEER, vec![8, 7]);
        assert!(!g.wants_bundle(v, PEER, 7, within));
        // ...a changed list (the broken device replaced or republished) asks at once.
        g.pushed(v, PEER, vec![7, 8, 9]);
        assert!(g.wants_bundle(v, PEER, 7, t0));
        g.bundle_failures.note(v, PEER, 7, t0);
        g.apply(v, PEER, Fetch::Again, ListAnswer::Devices(vec![7]), t0);
        assert!(
            g.wants_bundle(v, PEER, 7, t0),
            "a fetched list that differs too"
        );
    }

    #[test]
    fn a_no_list_answer_is_believed_for_the_ttl_then_asked_again() {
        let t0 = Instant::now();
        let mut g = state();
        let v = OmemoVersion::V2;
        assert!(g.should_fetch(v, PEER, Fetch::Unknown, t0));
        g.apply(v, PEER, Fetch::Again, ListAnswer::Absent, t0);
        let within = t0 + NO_LIST_TTL.saturating_sub(Duration::from_secs(1));
        for mode in [Fetch::Unknown, Fetch::Again] {
            assert!(!g.should_fetch(v, PEER, mode, t0), "{mode:?}");
            assert!(!g.should_fetch(v, PEER, mode, within), "{mode:?}");
        }
        // The other version and other JIDs are not affected.
        assert!(g.should_fetch(OmemoVersion::Legacy, PEER, Fetch::Again, t0));
        assert!(g.should_fetch(v, "other@talpa.test", Fetch::Again, t0));
        // Expired: asked again on the next occasion, also when merely "unknown".
        assert!(g.should_fetch(v, PEER, Fetch::Unknown, t0 + NO_LIST_TTL));
        assert!(g.no_list.0.is_empty(), "the expired answer is dropped");
        // Access denied is definitive too.
        g.apply(v, PEER, Fetch::Again, ListAnswer::Denied, t0);
        assert!(!g.should_fetch(v, PEER, Fetch::Again, within));
    }

    #[test]
    fn transient_failures_are_not_cached_as_no_list() {
        let t0 = Instant::now();
        let transient = [
            XmppError::Timeout,
            XmppError::Disconnected,
            XmppError::Io(std::io::Error::other("tor stream closed")),
            XmppError::Open("tor: circuit failed".into()),
            XmppError::IqError("RemoteServerTimeout".into()),
            XmppError::IqError("RemoteServerNotFound".into()),
            XmppError::IqError("InternalServerError".into()),
            XmppError::IqError("ResourceConstraint".into()),
            XmppError::IqError("RecipientUnavailable".into()),
        ];
        for e in transient {
            let what = e.to_string();
            let answer = classify(Err(e));
            assert_eq!(answer, ListAnswer::Transient, "{what}");
            let mut g = state();
            g.apply(OmemoVersion::V2, PEER, Fetch::Again, answer, t0);
            assert!(
                g.should_fetch(OmemoVersion::V2, PEER, Fetch::Again, t0),
                "{what} was cached"
            );
            assert!(g.no_list.0.is_empty(), "{what}");
        }
        assert_eq!(classify(Ok(Vec::new())), ListAnswer::Absent);
        assert_eq!(classify(Ok(vec![0])), ListAnswer::Absent);
        assert_eq!(
            classify(Err(XmppError::IqError("ItemNotFound".into()))),
            ListAnswer::Absent
        );
        assert_eq!(
            classify(Err(XmppError::IqError("Forbidden".into()))),
            ListAnswer::Denied
        );
        assert_eq!(classify(Ok(vec![7])), ListAnswer::Devices(vec![7]));
    }

    #[test]
    fn a_published_list_a_refresh_or_a_new_stream_forget_the_no_list_answer() {
        let t0 = Instant::now();
        let v = OmemoVersion::Legacy;
        let mut g = state();
        g.apply(v, PEER, Fetch::Again, ListAnswer::Absent, t0);
        assert!(
            g.should_fetch(v, PEER, Fetch::Refresh, t0),
            "the user's refresh asks"
        );
        assert!(
            g.should_fetch(v, PEER, Fetch::Again, t0),
            "and the answer is forgotten"
        );
        g.apply(v, PEER, Fetch::Again, ListAnswer::Absent, t0);
        g.apply(v, PEER, Fetch::Again, ListAnswer::Devices(vec![9]), t0);
        assert!(
            !g.should_fetch(v, PEER, Fetch::Unknown, t0),
            "known on this stream"
        );
        assert!(
            g.should_fetch(v, PEER, Fetch::Again, t0),
            "not believed absent"
        );
        assert_eq!(g.registry.devices(v, PEER), [9]);
        g.apply(v, PEER, Fetch::Again, ListAnswer::Absent, t0);
        g.pushed(v, PEER, vec![11]);
        assert!(
            g.should_fetch(v, PEER, Fetch::Again, t0),
            "a PEP event forgets it"
        );
        assert_eq!(g.registry.devices(v, PEER), [11]);
        g.apply(v, PEER, Fetch::Again, ListAnswer::Absent, t0);
        g.new_stream();
        assert!(g.should_fetch(v, PEER, Fetch::Again, t0));
        // Who has no keys is never in the (persisted) registry.
        g.apply(v, PEER, Fetch::Again, ListAnswer::Absent, t0);
        let persisted = serde_json::to_string(&g.registry).expect("registry serializes");
        assert!(!persisted.contains(PEER), "{persisted}");
    }

    #[test]
    fn the_same_client_arriving_again_is_not_asked_but_a_new_client_is() {
        let t0 = Instant::now();
        let v = OmemoVersion::V2;
        let mut g = state();
        let phone = Fetch::Arrived(Some("phone"));
        assert!(g.should_fetch(v, PEER, phone, t0));
        g.apply(v, PEER, phone, ListAnswer::Absent, t0);
        // The same client leaving and joining again: believed, however often.
        assert!(!g.should_fetch(v, PEER, phone, t0));
        assert!(!g.should_fetch(v, PEER, Fetch::Arrived(None), t0));
        assert!(!g.should_fetch(v, PEER, Fetch::Again, t0));
        // Another client of the member (perhaps one with OMEMO) is asked once.
        let laptop = Fetch::Arrived(Some("laptop"));
        assert!(g.should_fetch(v, PEER, laptop, t0));
        g.apply(v, PEER, laptop, ListAnswer::Absent, t0);
        assert!(!g.should_fetch(v, PEER, laptop, t0));
        assert!(
            !g.should_fetch(v, PEER, phone, t0),
            "both clients are remembered"
        );
        // An answer given before any client arrived (a member on the list, not in the room)
        // is about the first client that arrives; a second one is asked.
        let mut g = state();
        g.apply(v, PEER, Fetch::Unknown, ListAnswer::Absent, t0);
        assert!(!g.should_fetch(v, PEER, Fetch::Unknown, t0));
        assert!(!g.should_fetch(v, PEER, phone, t0));
        assert!(!g.should_fetch(v, PEER, phone, t0));
        assert!(g.should_fetch(v, PEER, laptop, t0));
    }

    #[test]
    fn fingerprints_compare_without_spacing_or_case() {
        assert_eq!(normalize("AB12 cd34"), normalize("ab12CD34"));
        assert_ne!(normalize("ab12"), normalize("ab13"));
    }
}
