//! One logged-in XMPP session: an actor task owning tokio-xmpp's `StanzaStream` (which does
//! resource binding and XEP-0198 stream management: enable, acks, resumption), plus a cheap
//! handle ([`Session`]) to send stanzas and run requests, and a channel of typed
//! [`SessionEvent`]s.
//!
//! The actor answers the fingerprint-relevant requests itself (disco#info with the minimal
//! identity, ping, refusals of version/time/last activity) and runs every inbound stanza
//! through the origin checks of [`super::origin`] before it becomes an event.
//!
//! Start-up order (see [`Session::start`]): carbons on, then MAM catch-up, then presence, so
//! that no message falls between the archive and live delivery.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_xmpp::Stanza;
use tokio_xmpp::jid::{BareJid, FullJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::mam::Fin;
use tokio_xmpp::parsers::message::{Id as MessageId, Lang, Message, MessageType};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::roster::{Item as RosterItem, Roster};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::stanzastream::{
    Connection, Event as StreamItem, StanzaStage, StanzaState, StanzaStream, StanzaToken,
    StreamEvent,
};
use tokio_xmpp::xmlstream::Timeouts;
use zeroize::Zeroizing;

use super::connector::{StreamOpener, TalpaConnector, TlsMode};
use super::error::XmppError;
use super::login::{LoginParams, ScramMechanism, login};
use super::mam::{self, CatchUpReport, Page, PageQuery};
use super::muc::NS_DATA;
use super::origin::{
    Rejection, check_carbon, check_iq_response, check_mam_result, check_own_pep_event,
    check_roster_push, check_size,
};
use super::stanza::{
    DelayInfo, InboundMessage, NODE_BOOKMARKS, NS_BLOCKING, NS_CARBONS, NS_CORRECT, NS_DISCO_INFO,
    NS_FALLBACK, NS_HINTS, NS_MAM, NS_PING, NS_PUBSUB_EVENT, NS_RETRACT, NS_ROSTER, NS_RSM, NS_SID,
    elem, parse_inbound, text_elem, unwrap_forwarded,
};
use super::stanza_guard::GuardTrips;
use super::tls::TrustAnchor;
use crate::privacy::disco::{caps, disco_info_for_node, is_refused_namespace};
use crate::privacy::ids::random_id;
use crate::privacy::resource::random_resource;

/// How long a request waits for its answer.
const IQ_TIMEOUT: Duration = Duration::from_mins(1);
/// Reconnection attempts for XEP-0198 resumption before the session gives up.
const RECONNECT_ATTEMPTS: u32 = 6;
/// MAM page size.
const MAM_PAGE: usize = 100;
/// Upper bound on pages fetched by one catch-up (a hostile server cannot make it loop forever;
/// servers cap pages, Prosody at 50 messages, so this is 100,000 messages there).
const MAM_MAX_PAGES: usize = 2000;

/// Everything needed to log one account in.
pub struct SessionConfig {
    /// The account's bare JID.
    pub jid: BareJid,
    /// The password (zeroized on drop).
    pub password: Zeroizing<String>,
    /// STARTTLS or direct TLS.
    pub tls_mode: TlsMode,
    /// Trust anchor for the server certificate.
    pub trust: TrustAnchor,
    /// True when an earlier login used channel binding (-PLUS): refuse logins without it.
    pub require_channel_binding: bool,
    /// Stream timeouts (silence before a probe, then before giving up).
    pub timeouts: Timeouts,
    /// Counts the stanza guard's refusals across this account's connections (shared with the
    /// core, which stops reconnecting when they persist).
    pub guard_trips: GuardTrips,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("jid", &self.jid)
            .field("tls_mode", &self.tls_mode)
            .field("require_channel_binding", &self.require_channel_binding)
            .finish_non_exhaustive()
    }
}

/// What the login revealed (the core persists `channel_binding` per account).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginReport {
    /// The SASL mechanism used.
    pub mechanism: ScramMechanism,
    /// True when the login used -PLUS (channel binding).
    pub channel_binding: bool,
    /// True when the server offered any -PLUS mechanism (usable or not).
    pub plus_offered: bool,
}

/// Presence of a contact, or a subscription request/answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresenceKind {
    /// Available (show ignored).
    Available,
    /// Gone offline.
    Unavailable,
    /// Wants to subscribe to our presence.
    Subscribe,
    /// Approved our subscription request.
    Subscribed,
    /// Unsubscribed from us.
    Unsubscribe,
    /// Denied or revoked our subscription.
    Unsubscribed,
    /// Presence error.
    Error,
    /// Probe (servers only; ignored by the core).
    Probe,
}

/// A message from the archive (XEP-0313).
#[derive(Clone, Debug)]
pub struct ArchivedMessage {
    /// The archive's id for the message (trusted: it comes from the queried archive).
    pub archive_id: String,
    /// The archived message.
    pub message: InboundMessage,
    /// When the archive received it.
    pub delay: Option<DelayInfo>,
}

/// What [`Session::start`] fetched.
#[derive(Clone, Debug)]
pub struct Startup {
    /// The roster.
    pub roster: Vec<RosterItem>,
    /// Archived messages after the given archive id, oldest first.
    pub archived: Vec<ArchivedMessage>,
}

/// Direction of a carbon copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarbonDirection {
    /// Another of our clients received this message.
    Received,
    /// Another of our clients sent this message.
    Sent,
}

/// Typed inbound events of a session.
#[derive(Clone, Debug)]
pub enum SessionEvent {
    /// The stream is bound (fresh, or `resumed` via XEP-0198 without loss).
    Online {
        /// The full JID with the random resource.
        bound_jid: FullJid,
        /// True when a previous stream was resumed.
        resumed: bool,
    },
    /// The connection dropped; XEP-0198 resumption is being attempted.
    Suspended,
    /// A live message (chat, groupchat, normal, headline, error).
    Message(InboundMessage),
    /// A carbon copy (origin already checked: it came from the own account).
    Carbon {
        /// Sent by or received by another of our clients.
        direction: CarbonDirection,
        /// The copied message.
        message: InboundMessage,
    },
    /// Presence or subscription stanza.
    Presence {
        /// Sender.
        from: Option<Jid>,
        /// Kind.
        kind: PresenceKind,
        /// The raw presence (MUC payloads etc.).
        raw: Box<Presence>,
    },
    /// A roster push from the own account.
    RosterPush(Vec<RosterItem>),
    /// A block-list push (XEP-0191) from the own account: `blocked` JIDs were added (true)
    /// or removed (false); an empty unblock list means everybody was unblocked.
    BlockListPush {
        /// True for block, false for unblock.
        blocked: bool,
        /// The JIDs concerned.
        jids: Vec<Jid>,
    },
    /// A pubsub/PEP event (origin-checked for the own bookmarks).
    PubSubEvent {
        /// Sender (the PEP owner).
        from: Option<Jid>,
        /// The `<event/>` element.
        event: Element,
    },
    /// Hostile or invalid input was dropped.
    Rejected(Rejection),
    /// The session ended for good (the core reconnects with a new session).
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// Handle on a sent stanza: await its XEP-0198 acknowledgement to clear the outbox.
pub struct SentStanza {
    /// The stanza's id attribute.
    pub id: String,
    /// The XEP-0359 origin-id (messages only; equal to `id`).
    pub origin_id: Option<String>,
    token: StanzaToken,
}

impl std::fmt::Debug for SentStanza {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentStanza")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SentStanza {
    /// Waits until the server acknowledged the stanza (XEP-0198). Returns false when the
    /// stream failed first, or stream management is not in use.
    pub async fn acked(&mut self) -> bool {
        matches!(
            self.token.wait_for(StanzaStage::Acked).await,
            Some(StanzaState::Acked { .. })
        )
    }

    /// Whether the stanza has been acknowledged already.
    pub fn is_acked(&self) -> bool {
        matches!(self.token.state(), StanzaState::Acked { .. })
    }
}

struct PendingIq {
    to: Option<Jid>,
    reply: oneshot::Sender<Result<Option<Element>, XmppError>>,
}

struct MamCollector {
    archive: Option<BareJid>,
    tx: mpsc::UnboundedSender<ArchivedMessage>,
}

struct Shared {
    own: BareJid,
    bound: Mutex<Option<FullJid>>,
    pending: Mutex<HashMap<String, PendingIq>>,
    mam: Mutex<HashMap<String, MamCollector>>,
}

enum Command {
    Send(Box<Stanza>, oneshot::Sender<StanzaToken>),
    Close(oneshot::Sender<()>),
}

/// A logged-in session. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Session {
    cmd: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    first_bound: FullJid,
    task: JoinHandle<()>,
}

impl Session {
    /// Opens a stream through `opener`, secures it, logs in strictly, binds a random resource
    /// and enables stream management. Returns once the session is online.
    ///
    /// Reconnections inside the session (for XEP-0198 resumption) use `opener` again, with the
    /// same TLS and SASL policy. If they fail the session ends with
    /// [`SessionEvent::Disconnected`].
    pub async fn connect(
        config: SessionConfig,
        opener: StreamOpener,
    ) -> Result<(Session, mpsc::UnboundedReceiver<SessionEvent>, LoginReport), XmppError> {
        let connector = TalpaConnector::with_opener(opener, config.tls_mode, &config.trust)?
            .counting_trips(config.guard_trips.clone());
        let params = LoginParams {
            jid: &config.jid,
            password: &config.password,
            require_channel_binding: config.require_channel_binding,
            timeouts: config.timeouts,
        };
        let outcome = login(&connector, &params).await?;
        let report = LoginReport {
            mechanism: outcome.mechanism,
            channel_binding: outcome.channel_binding,
            plus_offered: outcome.plus_offered,
        };
        let identity = fresh_identity(&config.jid)?;
        let first = Connection {
            stream: outcome.stream.box_stream(),
            features: outcome.features,
            identity,
        };
        let reconnector = Reconnector {
            first: Some(first),
            connector,
            jid: config.jid.clone(),
            password: config.password.clone(),
            require_channel_binding: config.require_channel_binding || report.channel_binding,
            timeouts: config.timeouts,
            trips: config.guard_trips.clone(),
        };
        let stream = StanzaStream::new(Box::new(reconnector.into_fn()), 64);

        let shared = Arc::new(Shared {
            own: config.jid.clone(),
            bound: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            mam: Mutex::new(HashMap::new()),
        });
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_actor(stream, cmd_rx, shared.clone(), ev_tx));

        let first_bound = loop {
            match tokio::time::timeout(IQ_TIMEOUT, ev_rx.recv()).await {
                Ok(Some(SessionEvent::Online { bound_jid, .. })) => break bound_jid,
                Ok(Some(SessionEvent::Disconnected { reason })) => {
                    return Err(XmppError::Protocol(format!("bind failed: {reason}")));
                }
                Ok(Some(_)) => {}
                Ok(None) => return Err(XmppError::Disconnected),
                Err(_) => {
                    task.abort();
                    return Err(XmppError::Timeout);
                }
            }
        };
        Ok((
            Session {
                cmd: cmd_tx,
                shared,
                first_bound,
                task,
            },
            ev_rx,
            report,
        ))
    }

    /// Like [`Session::connect`] over one already opened stream. XEP-0198 resumption is then
    /// impossible (there is no second stream); a dropped connection ends the session.
    pub async fn connect_over<S: super::connector::ByteStream>(
        config: SessionConfig,
        stream: S,
    ) -> Result<(Session, mpsc::UnboundedReceiver<SessionEvent>, LoginReport), XmppError> {
        let slot: Arc<Mutex<Option<super::connector::BoxedStream>>> =
            Arc::new(Mutex::new(Some(Box::new(stream))));
        let opener: StreamOpener = Arc::new(move || {
            let s = lock(&slot).take();
            Box::pin(async move {
                s.ok_or_else(|| XmppError::Open("the one provided stream was already used".into()))
            })
        });
        Self::connect(config, opener).await
    }

    /// The currently bound full JID (random resource; a new one after a non-resumed
    /// reconnection).
    pub fn bound_jid(&self) -> FullJid {
        lock(&self.shared.bound)
            .clone()
            .unwrap_or_else(|| self.first_bound.clone())
    }

    /// The account's bare JID.
    pub fn own_jid(&self) -> &BareJid {
        &self.shared.own
    }

    /// The start-up sequence: roster fetch (makes this resource "interested", so the server
    /// sends roster pushes and subscription requests), carbons on, then MAM catch-up after
    /// `last_archive_id` (the last archive id the core stored; `None` fetches the whole
    /// archive), then initial presence, so that no message falls between archive and live.
    pub async fn start(&self, last_archive_id: Option<String>) -> Result<Startup, XmppError> {
        let roster = self.roster_get().await?;
        self.enable_carbons().await?;
        let had_anchor = last_archive_id.is_some();
        let archived = match self.mam_catch_up(None, last_archive_id).await {
            // The remembered id expired from the archive: fetch what is there (the core
            // dedupes by stanza-id).
            Err(XmppError::IqError(c)) if had_anchor && c == "ItemNotFound" => {
                self.mam_catch_up(None, None).await?
            }
            other => other?,
        };
        self.send_presence().await?;
        Ok(Startup { roster, archived })
    }

    async fn send_stanza(&self, mut stanza: Stanza) -> Result<SentStanza, XmppError> {
        let id = ensure_id(&mut stanza);
        if let Stanza::Message(m) = &stanza {
            let size = String::from(&Element::from(m.clone())).len();
            check_size(size).map_err(|r| XmppError::Protocol(r.to_string()))?;
        }
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::Send(Box::new(stanza), tx))
            .await
            .map_err(|_| XmppError::Disconnected)?;
        let token = rx.await.map_err(|_| XmppError::Disconnected)?;
        Ok(SentStanza {
            id,
            origin_id: None,
            token,
        })
    }

    /// Sends an IQ and waits for its result payload (checked to come from `to`).
    pub async fn iq(
        &self,
        to: Option<Jid>,
        set: bool,
        payload: Element,
    ) -> Result<Option<Element>, XmppError> {
        let id = random_id();
        let iq = if set {
            Iq::Set {
                from: None,
                to: to.clone(),
                id: id.clone(),
                payload,
            }
        } else {
            Iq::Get {
                from: None,
                to: to.clone(),
                id: id.clone(),
                payload,
            }
        };
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).insert(id.clone(), PendingIq { to, reply: tx });
        if let Err(e) = self.send_stanza(iq.into()).await {
            lock(&self.shared.pending).remove(&id);
            return Err(e);
        }
        match tokio::time::timeout(IQ_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(XmppError::Disconnected),
            Err(_) => {
                lock(&self.shared.pending).remove(&id);
                Err(XmppError::Timeout)
            }
        }
    }

    /// Sends the initial/available presence with the fixed caps element and nothing else.
    pub async fn send_presence(&self) -> Result<SentStanza, XmppError> {
        let mut p = Presence::available();
        if let Some(c) = caps() {
            p.payloads.push(c.into());
        }
        self.send_stanza(p.into()).await
    }

    /// Sends a directed presence (MUC join, with e.g. a `<x xmlns='http://jabber.org/protocol/muc'/>`
    /// payload) carrying the fixed caps.
    pub async fn send_presence_to(
        &self,
        to: Jid,
        payloads: Vec<Element>,
    ) -> Result<SentStanza, XmppError> {
        let mut p = Presence::available();
        p.to = Some(to);
        if let Some(c) = caps() {
            p.payloads.push(c.into());
        }
        p.payloads.extend(payloads);
        self.send_stanza(p.into()).await
    }

    /// Sends an unavailable presence, to `to` (leave a room) or to everybody (`None`).
    pub async fn send_unavailable(&self, to: Option<Jid>) -> Result<SentStanza, XmppError> {
        let mut p = Presence::new(PresenceType::Unavailable);
        p.to = to;
        self.send_stanza(p.into()).await
    }

    /// Sends a chat message with a random id, which is also its XEP-0359 origin-id.
    pub async fn send_chat(&self, to: Jid, body: &str) -> Result<SentStanza, XmppError> {
        self.send_message(build_chat(to, body, MessageType::Chat, Vec::new()))
            .await
    }

    /// Sends a prepared message (OMEMO, MUC...): a random id and matching origin-id are added
    /// unless present.
    pub async fn send_message(&self, mut msg: Message) -> Result<SentStanza, XmppError> {
        let id = msg
            .id
            .get_or_insert_with(|| MessageId(random_id()))
            .0
            .clone();
        if !msg.payloads.iter().any(|p| p.is("origin-id", NS_SID)) {
            msg.payloads
                .push(elem("origin-id", NS_SID, &[("id", id.as_str())]));
        }
        let mut sent = self.send_stanza(msg.into()).await?;
        sent.origin_id = Some(id);
        Ok(sent)
    }

    /// Corrects an own earlier message (XEP-0308); `original_id` is its id/origin-id.
    pub async fn send_correction(
        &self,
        to: Jid,
        original_id: &str,
        new_body: &str,
    ) -> Result<SentStanza, XmppError> {
        self.send_message(correction(to, original_id, new_body))
            .await
    }

    /// Retracts an own earlier message (XEP-0424), with the fallback body for old clients.
    pub async fn send_retraction(
        &self,
        to: Jid,
        original_origin_id: &str,
    ) -> Result<SentStanza, XmppError> {
        let extra = vec![
            elem("retract", NS_RETRACT, &[("id", original_origin_id)]),
            elem("fallback", NS_FALLBACK, &[("for", NS_RETRACT)]),
            elem("store", NS_HINTS, &[]),
        ];
        self.send_message(build_chat(
            to,
            "This person attempted to retract a previous message, but it's unsupported by your client.",
            MessageType::Chat,
            extra,
        ))
        .await
    }

    /// Enables carbons (XEP-0280).
    pub async fn enable_carbons(&self) -> Result<(), XmppError> {
        self.iq(None, true, elem("enable", NS_CARBONS, &[]))
            .await
            .map(|_| ())
    }

    /// Fetches the roster.
    pub async fn roster_get(&self) -> Result<Vec<RosterItem>, XmppError> {
        let r = self.iq(None, false, elem("query", NS_ROSTER, &[])).await?;
        match r {
            Some(el) => Roster::try_from(el)
                .map(|r| r.items)
                .map_err(|e| XmppError::Protocol(format!("bad roster: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    /// Adds or updates a roster item.
    pub async fn roster_set(&self, jid: &BareJid, name: Option<&str>) -> Result<(), XmppError> {
        let mut item = elem("item", NS_ROSTER, &[("jid", jid.as_str())]);
        if let Some(n) = name {
            item.set_attr_str("name", n);
        }
        let mut q = elem("query", NS_ROSTER, &[]);
        q.append_child(item);
        self.iq(None, true, q).await.map(|_| ())
    }

    /// Removes a roster item (and the subscriptions).
    pub async fn roster_remove(&self, jid: &BareJid) -> Result<(), XmppError> {
        let mut q = elem("query", NS_ROSTER, &[]);
        q.append_child(elem(
            "item",
            NS_ROSTER,
            &[("jid", jid.as_str()), ("subscription", "remove")],
        ));
        self.iq(None, true, q).await.map(|_| ())
    }

    async fn send_subscription(
        &self,
        to: &BareJid,
        kind: PresenceType,
    ) -> Result<SentStanza, XmppError> {
        let mut p = Presence::new(kind);
        p.to = Some(Jid::from(to.clone()));
        self.send_stanza(p.into()).await
    }

    /// Asks `to` for a presence subscription.
    pub async fn subscribe(&self, to: &BareJid) -> Result<SentStanza, XmppError> {
        self.send_subscription(to, PresenceType::Subscribe).await
    }

    /// Approves `to`'s subscription request.
    pub async fn approve_subscription(&self, to: &BareJid) -> Result<SentStanza, XmppError> {
        self.send_subscription(to, PresenceType::Subscribed).await
    }

    /// Denies (or revokes) `to`'s subscription.
    pub async fn deny_subscription(&self, to: &BareJid) -> Result<SentStanza, XmppError> {
        self.send_subscription(to, PresenceType::Unsubscribed).await
    }

    /// Blocks JIDs (XEP-0191).
    pub async fn block(&self, jids: &[BareJid]) -> Result<(), XmppError> {
        self.iq(None, true, blocking_elem("block", jids))
            .await
            .map(|_| ())
    }

    /// Unblocks JIDs (XEP-0191); an empty list unblocks everybody.
    pub async fn unblock(&self, jids: &[BareJid]) -> Result<(), XmppError> {
        self.iq(None, true, blocking_elem("unblock", jids))
            .await
            .map(|_| ())
    }

    /// The block list (XEP-0191).
    pub async fn blocklist(&self) -> Result<Vec<Jid>, XmppError> {
        let r = self
            .iq(None, false, elem("blocklist", NS_BLOCKING, &[]))
            .await?;
        Ok(r.map(|el| {
            el.children()
                .filter(|c| c.is("item", NS_BLOCKING))
                .filter_map(|c| c.attr("jid").and_then(|j| Jid::new(j).ok()))
                .collect()
        })
        .unwrap_or_default())
    }

    /// The server's archiving preference (XEP-0441): `always`, `roster` or `never`.
    pub async fn mam_default(&self) -> Result<String, XmppError> {
        let r = self.iq(None, false, elem("prefs", NS_MAM, &[])).await?;
        r.as_ref()
            .filter(|p| p.is("prefs", NS_MAM))
            .and_then(|p| p.attr("default"))
            .map(str::to_owned)
            .ok_or_else(|| XmppError::Protocol("archiving preferences without a default".into()))
    }

    /// Sets the server's archiving preference (XEP-0441) and returns what the server then
    /// reports (read back, not assumed). `default` is `always`, `roster` or `never`.
    pub async fn set_mam_default(&self, default: &str) -> Result<String, XmppError> {
        let mut prefs = elem("prefs", NS_MAM, &[("default", default)]);
        prefs.append_child(elem("always", NS_MAM, &[]));
        prefs.append_child(elem("never", NS_MAM, &[]));
        self.iq(None, true, prefs).await?;
        self.mam_default().await
    }

    /// Pages through an archive (own account when `archive` is `None`, else a room) after
    /// `after_id` until the server says `complete` — in parallel time ranges when the server
    /// answers extended MAM's `<metadata/>` (see [`super::mam`]). Results with another queryid
    /// or from another sender are dropped by the dispatcher. Returns every result once, oldest
    /// first, and only when every range has completed.
    pub async fn mam_catch_up(
        &self,
        archive: Option<BareJid>,
        after_id: Option<String>,
    ) -> Result<Vec<ArchivedMessage>, XmppError> {
        Ok(self.mam_catch_up_report(archive, after_id).await?.0)
    }

    /// [`Session::mam_catch_up`] with counts of the work done (pages, parallel ranges).
    pub async fn mam_catch_up_report(
        &self,
        archive: Option<BareJid>,
        after_id: Option<String>,
    ) -> Result<(Vec<ArchivedMessage>, CatchUpReport), XmppError> {
        let source = MamSource {
            session: self,
            archive,
            form: None,
        };
        mam::catch_up(&source, after_id).await
    }

    /// The origin-ids (or, without one, the stanza ids) of the messages this account sent
    /// that its own archive holds from `start` on: what the server really received, whether
    /// or not its acknowledgement reached us before the connection (or the process) died.
    pub async fn archived_sent_ids_since(
        &self,
        start: DateTime<Utc>,
    ) -> Result<HashSet<String>, XmppError> {
        let mut form = elem("x", NS_DATA, &[("type", "submit")]);
        let mut form_type = elem(
            "field",
            NS_DATA,
            &[("var", "FORM_TYPE"), ("type", "hidden")],
        );
        form_type.append_child(text_elem("value", NS_DATA, NS_MAM));
        form.append_child(form_type);
        let mut field = elem("field", NS_DATA, &[("var", "start")]);
        let stamp = start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        field.append_child(text_elem("value", NS_DATA, &stamp));
        form.append_child(field);
        let own = self.shared.own.clone();
        Ok(self
            .mam_query(None, None, Some(form))
            .await?
            .into_iter()
            .filter(|a| a.message.from.as_ref().is_some_and(|f| f.to_bare() == own))
            .filter_map(|a| a.message.origin_id.or(a.message.id))
            .collect())
    }

    /// Pages sequentially by id until complete (with an extra query form).
    async fn mam_query(
        &self,
        archive: Option<BareJid>,
        mut after_id: Option<String>,
        form: Option<Element>,
    ) -> Result<Vec<ArchivedMessage>, XmppError> {
        let source = MamSource {
            session: self,
            archive,
            form,
        };
        let mut all = Vec::new();
        for _ in 0..MAM_MAX_PAGES {
            let page = source
                .fetch(&PageQuery {
                    after: after_id.clone(),
                    ..PageQuery::default()
                })
                .await?;
            let n = page.items.len();
            all.extend(page.items);
            let last = page.last;
            if page.complete || last.is_none() || n == 0 || last == after_id {
                break;
            }
            after_id = last;
        }
        Ok(all)
    }

    /// Closes the stream cleanly.
    pub async fn close(self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Command::Close(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
        self.task.abort();
    }
}

/// One archive as a [`mam::PageSource`]: each page has its own random queryid and collector,
/// so its results pass the dispatcher's origin and queryid checks.
struct MamSource<'a> {
    session: &'a Session,
    archive: Option<BareJid>,
    /// An extra query form (its fields are sent with every page; no time range then).
    form: Option<Element>,
}

impl MamSource<'_> {
    async fn fetch(&self, q: &PageQuery) -> Result<Page<ArchivedMessage>, XmppError> {
        self.fetch_with(q, MAM_PAGE, false).await
    }

    /// One page of at most `max` results; `last_page` asks for the archive's last page
    /// (XEP-0059 empty `<before/>`) instead.
    async fn fetch_with(
        &self,
        q: &PageQuery,
        max: usize,
        last_page: bool,
    ) -> Result<Page<ArchivedMessage>, XmppError> {
        let queryid = random_id();
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.session.shared.mam).insert(
            queryid.clone(),
            MamCollector {
                archive: self.archive.clone(),
                tx,
            },
        );
        let mut set = elem("set", NS_RSM, &[]);
        set.append_child(text_elem("max", NS_RSM, &max.to_string()));
        if let Some(a) = &q.after {
            set.append_child(text_elem("after", NS_RSM, a));
        } else if last_page {
            set.append_child(elem("before", NS_RSM, &[]));
        }
        let mut query = elem("query", NS_MAM, &[("queryid", queryid.as_str())]);
        if let Some(f) = &self.form {
            query.append_child(f.clone());
        } else if q.start.is_some() || q.end.is_some() {
            let mut form = elem("x", NS_DATA, &[("type", "submit")]);
            let mut form_type = elem(
                "field",
                NS_DATA,
                &[("var", "FORM_TYPE"), ("type", "hidden")],
            );
            form_type.append_child(text_elem("value", NS_DATA, NS_MAM));
            form.append_child(form_type);
            for (var, t) in [("start", q.start), ("end", q.end)] {
                if let Some(t) = t {
                    let mut field = elem("field", NS_DATA, &[("var", var)]);
                    field.append_child(text_elem("value", NS_DATA, &mam::xep82(t)));
                    form.append_child(field);
                }
            }
            query.append_child(form);
        }
        query.append_child(set);
        let res = self
            .session
            .iq(self.archive.clone().map(Jid::from), true, query)
            .await;
        lock(&self.session.shared.mam).remove(&queryid);
        let fin = res?.ok_or_else(|| XmppError::Protocol("MAM result without fin".into()))?;
        let fin = Fin::try_from(fin).map_err(|e| XmppError::Protocol(format!("bad fin: {e}")))?;
        let mut items = Vec::new();
        while let Ok(m) = rx.try_recv() {
            items.push(m);
        }
        Ok(Page {
            items,
            last: fin.set.last,
            complete: fin.complete,
        })
    }
}

impl mam::PageSource for MamSource<'_> {
    type Item = ArchivedMessage;

    async fn page(&self, query: PageQuery) -> Result<Page<ArchivedMessage>, XmppError> {
        self.fetch(&query).await
    }

    /// Extended MAM's `<metadata/>`; an archive that does not answer it (Prosody 0.12's room
    /// archives) is asked for its last result instead (XEP-0059 `<before/>`, base MAM).
    async fn newest(&self) -> Result<Option<DateTime<Utc>>, XmppError> {
        let answer = self
            .session
            .iq(
                self.archive.clone().map(Jid::from),
                false,
                elem("metadata", NS_MAM, &[]),
            )
            .await;
        if let Some(t) = answer
            .ok()
            .flatten()
            .as_ref()
            .filter(|m| m.is("metadata", NS_MAM))
            .and_then(mam::metadata_newest)
        {
            return Ok(Some(t));
        }
        let last = self.fetch_with(&PageQuery::default(), 1, true).await?;
        Ok(last.items.last().and_then(mam::ArchiveItem::archived_at))
    }
}

impl mam::ArchiveItem for ArchivedMessage {
    fn archive_id(&self) -> &str {
        &self.archive_id
    }

    fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.delay.as_ref().filter(|d| !d.clamped).map(|d| d.stamp)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn fresh_identity(jid: &BareJid) -> Result<Jid, XmppError> {
    jid.with_resource_str(&random_resource())
        .map(Jid::from)
        .map_err(|e| XmppError::InvalidJid(e.to_string()))
}

fn blocking_elem(name: &str, jids: &[BareJid]) -> Element {
    let mut e = elem(name, NS_BLOCKING, &[]);
    for j in jids {
        e.append_child(elem("item", NS_BLOCKING, &[("jid", j.as_str())]));
    }
    e
}

/// Builds a chat-type message with a body (no xml:lang) and extra payloads.
pub fn build_chat(to: Jid, body: &str, kind: MessageType, extra: Vec<Element>) -> Message {
    let mut m = Message::new_with_type(kind, Some(to));
    m.bodies.insert(Lang::new(), body.to_owned());
    m.payloads.extend(extra);
    m
}

/// A 1:1 correction (XEP-0308) of the own message `original_id` (its id/origin-id): the
/// stanza [`Session::send_correction`] sends, for a caller that sets its id first.
pub fn correction(to: Jid, original_id: &str, new_body: &str) -> Message {
    let extra = vec![elem("replace", NS_CORRECT, &[("id", original_id)])];
    build_chat(to, new_body, MessageType::Chat, extra)
}

/// Gives the stanza a random id unless it has one; returns the id.
fn ensure_id(stanza: &mut Stanza) -> String {
    match stanza {
        Stanza::Message(m) => m.id.get_or_insert_with(|| MessageId(random_id())).0.clone(),
        Stanza::Presence(p) => p.id.get_or_insert_with(random_id).clone(),
        Stanza::Iq(iq) => {
            if iq.id().is_empty() {
                *iq.id_mut() = random_id();
            }
            iq.id().to_owned()
        }
    }
}

trait SetAttrStr {
    fn set_attr_str(&mut self, name: &str, value: &str);
}

impl SetAttrStr for Element {
    fn set_attr_str(&mut self, name: &str, value: &str) {
        if let Ok(n) = tokio_xmpp::minidom::rxml::NcName::try_from(name) {
            self.set_attr(
                tokio_xmpp::minidom::rxml::Namespace::NONE,
                n,
                value.to_owned(),
            );
        }
    }
}

/// Reconnection for XEP-0198: hands out the first, already authenticated connection, then
/// logs in again through the opener (same TLS/SASL policy, fresh random resource).
struct Reconnector {
    first: Option<Connection>,
    connector: TalpaConnector,
    jid: BareJid,
    password: Zeroizing<String>,
    require_channel_binding: bool,
    timeouts: Timeouts,
    trips: GuardTrips,
}

impl Reconnector {
    fn into_fn(mut self) -> impl FnMut(Option<String>, oneshot::Sender<Connection>) + Send {
        move |_location, slot| {
            if let Some(first) = self.first.take() {
                let _ = slot.send(first);
                return;
            }
            let connector = self.connector.clone();
            let jid = self.jid.clone();
            let password = self.password.clone();
            let require = self.require_channel_binding;
            let timeouts = self.timeouts;
            let trips = self.trips.clone();
            tokio::spawn(async move {
                // Several tries: a new Tor circuit may take a few (a dead relay is still in
                // the consensus), and resuming the stream within the server's hibernation time
                // loses nothing. After the last, the session ends and the core logs in anew.
                for attempt in 0..RECONNECT_ATTEMPTS {
                    if trips.persistent() {
                        // The server sends the refused element after every reconnect: ending
                        // the session lets the core stop and say so.
                        tracing::warn!(
                            refusals = trips.consecutive(),
                            "the stanza guard refused the server's input on every recent \
                             connection; not reconnecting"
                        );
                        return;
                    }
                    // A little random delay so reconnections of several accounts do not line
                    // up; connections the guard ended back off further.
                    let jitter = rand::random::<u64>() % 4000;
                    let backoff =
                        1000 * u64::from(attempt.saturating_add(trips.consecutive()).min(5));
                    tokio::time::sleep(Duration::from_millis(backoff + jitter)).await;
                    let params = LoginParams {
                        jid: &jid,
                        password: &password,
                        require_channel_binding: require,
                        timeouts,
                    };
                    match login(&connector, &params).await {
                        Ok(outcome) => {
                            let Ok(identity) = fresh_identity(&jid) else {
                                return;
                            };
                            let _ = slot.send(Connection {
                                stream: outcome.stream.box_stream(),
                                features: outcome.features,
                                identity,
                            });
                            return;
                        }
                        Err(
                            e @ (XmppError::AuthFailed(_)
                            | XmppError::Downgrade
                            | XmppError::NoAcceptableMechanism { .. }
                            | XmppError::NoStartTls),
                        ) => {
                            tracing::warn!(error = %e, "reconnect refused by policy");
                            return; // dropping the slot ends the session
                        }
                        Err(e) => tracing::debug!(error = %e, "reconnect attempt failed"),
                    }
                }
            });
        }
    }
}

struct Actor {
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<SessionEvent>,
    bound: Option<FullJid>,
}

async fn run_actor(
    mut stream: StanzaStream,
    mut cmd_rx: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<SessionEvent>,
) {
    let mut actor = Actor {
        shared,
        events,
        bound: None,
    };
    loop {
        tokio::select! {
            cmd = cmd_rx.recv() => match cmd {
                Some(Command::Send(stanza, reply)) => {
                    let token = stream.send(stanza).await;
                    let _ = reply.send(token);
                }
                Some(Command::Close(done)) => {
                    stream.close().await;
                    actor.finish("closed");
                    let _ = done.send(());
                    return;
                }
                None => {
                    stream.close().await;
                    actor.finish("session dropped");
                    return;
                }
            },
            item = stream.next() => match item {
                None => {
                    actor.finish("stream ended");
                    return;
                }
                Some(item) => {
                    for reply in actor.handle(item) {
                        let _ = stream.send(Box::new(reply)).await;
                    }
                }
            },
        }
    }
}

impl Actor {
    fn emit(&self, ev: SessionEvent) {
        let _ = self.events.send(ev);
    }

    fn finish(&self, reason: &str) {
        lock(&self.shared.pending).clear();
        lock(&self.shared.mam).clear();
        self.emit(SessionEvent::Disconnected {
            reason: reason.to_owned(),
        });
    }

    fn handle(&mut self, item: StreamItem) -> Vec<Stanza> {
        match item {
            StreamItem::Stream(StreamEvent::Reset { bound_jid, .. }) => {
                match bound_jid.try_into_full() {
                    Ok(full) => {
                        self.bound = Some(full.clone());
                        *lock(&self.shared.bound) = Some(full.clone());
                        self.emit(SessionEvent::Online {
                            bound_jid: full,
                            resumed: false,
                        });
                    }
                    Err(_) => self.emit(SessionEvent::Rejected(Rejection::InvalidJid)),
                }
                Vec::new()
            }
            StreamItem::Stream(StreamEvent::Resumed) => {
                if let Some(b) = &self.bound {
                    self.emit(SessionEvent::Online {
                        bound_jid: b.clone(),
                        resumed: true,
                    });
                }
                Vec::new()
            }
            StreamItem::Stream(StreamEvent::Suspended) => {
                self.emit(SessionEvent::Suspended);
                Vec::new()
            }
            StreamItem::Stanza(Stanza::Iq(iq)) => self.handle_iq(iq),
            StreamItem::Stanza(Stanza::Message(m)) => {
                self.handle_message(m);
                Vec::new()
            }
            StreamItem::Stanza(Stanza::Presence(p)) => {
                let kind = match p.type_ {
                    PresenceType::None => PresenceKind::Available,
                    PresenceType::Unavailable => PresenceKind::Unavailable,
                    PresenceType::Subscribe => PresenceKind::Subscribe,
                    PresenceType::Subscribed => PresenceKind::Subscribed,
                    PresenceType::Unsubscribe => PresenceKind::Unsubscribe,
                    PresenceType::Unsubscribed => PresenceKind::Unsubscribed,
                    PresenceType::Error => PresenceKind::Error,
                    PresenceType::Probe => PresenceKind::Probe,
                };
                self.emit(SessionEvent::Presence {
                    from: p.from.clone(),
                    kind,
                    raw: Box::new(p),
                });
                Vec::new()
            }
        }
    }

    fn handle_iq(&mut self, iq: Iq) -> Vec<Stanza> {
        let own = self.shared.own.clone();
        match iq {
            Iq::Result {
                from, id, payload, ..
            } => {
                self.deliver_response(&id, from.as_ref(), Ok(payload));
                Vec::new()
            }
            Iq::Error {
                from, id, error, ..
            } => {
                let cond = format!("{:?}", error.defined_condition);
                self.deliver_response(&id, from.as_ref(), Err(XmppError::IqError(cond)));
                Vec::new()
            }
            Iq::Get {
                from, id, payload, ..
            } => {
                let ns = payload.ns();
                if payload.is("query", NS_DISCO_INFO) {
                    match disco_info_for_node(payload.attr("node")) {
                        Some(info) => vec![result(from, id, Some(info.into()))],
                        None => vec![error(from, id, DefinedCondition::ItemNotFound)],
                    }
                } else if payload.is("ping", NS_PING) {
                    vec![result(from, id, None)]
                } else {
                    // Version (XEP-0092), time (XEP-0202), last activity (XEP-0012) and
                    // anything unknown get the same bare service-unavailable, so a refused
                    // feature is indistinguishable from an absent one.
                    debug_assert!(is_refused_namespace(&ns) || !ns.is_empty());
                    vec![error(from, id, DefinedCondition::ServiceUnavailable)]
                }
            }
            Iq::Set {
                from, id, payload, ..
            } => {
                if payload.is("query", NS_ROSTER) {
                    if let Err(r) = check_roster_push(from.as_ref(), &own) {
                        self.emit(SessionEvent::Rejected(r));
                        return vec![error(from, id, DefinedCondition::ServiceUnavailable)];
                    }
                    match Roster::try_from(payload) {
                        Ok(r) => {
                            self.emit(SessionEvent::RosterPush(r.items));
                            vec![result(from, id, None)]
                        }
                        Err(_) => vec![error(from, id, DefinedCondition::BadRequest)],
                    }
                } else if payload.is("block", NS_BLOCKING) || payload.is("unblock", NS_BLOCKING) {
                    if let Err(r) = check_roster_push(from.as_ref(), &own) {
                        self.emit(SessionEvent::Rejected(r));
                        return vec![error(from, id, DefinedCondition::ServiceUnavailable)];
                    }
                    let jids = payload
                        .children()
                        .filter(|c| c.is("item", NS_BLOCKING))
                        .filter_map(|c| c.attr("jid").and_then(|j| Jid::new(j).ok()))
                        .collect();
                    self.emit(SessionEvent::BlockListPush {
                        blocked: payload.name() == "block",
                        jids,
                    });
                    vec![result(from, id, None)]
                } else {
                    vec![error(from, id, DefinedCondition::ServiceUnavailable)]
                }
            }
        }
    }

    fn deliver_response(
        &self,
        id: &str,
        from: Option<&Jid>,
        result: Result<Option<Element>, XmppError>,
    ) {
        let mut pending = lock(&self.shared.pending);
        let Some(p) = pending.remove(id) else {
            return;
        };
        if let Err(r) = check_iq_response(p.to.as_ref(), from, &self.shared.own) {
            // Keep waiting for the genuine answer.
            pending.insert(id.to_owned(), p);
            drop(pending);
            self.emit(SessionEvent::Rejected(r));
            return;
        }
        let _ = p.reply.send(result);
    }

    fn handle_message(&mut self, m: Message) {
        let own = self.shared.own.clone();
        let now = Utc::now();
        if String::from(&Element::from(m.clone())).len() > super::origin::MAX_STANZA_BYTES {
            self.emit(SessionEvent::Rejected(Rejection::TooLarge));
            return;
        }
        // MAM result?
        if let Some(res) = m.payloads.iter().find(|p| p.is("result", NS_MAM)) {
            let queryid = res.attr("queryid").unwrap_or("");
            let mam = lock(&self.shared.mam);
            let collector = mam.get(queryid);
            let check = check_mam_result(
                m.from.as_ref(),
                &own,
                collector.and_then(|c| c.archive.as_ref()),
                collector.is_some(),
            );
            let (Ok(()), Some(c)) = (check.clone(), collector) else {
                drop(mam);
                self.emit(SessionEvent::Rejected(
                    check.err().unwrap_or(Rejection::UnknownMamQuery),
                ));
                return;
            };
            let archive_id = res.attr("id").unwrap_or("").to_owned();
            if let Some(fwd) = res.get_child("forwarded", super::stanza::NS_FORWARD)
                && let Some((inner, delay)) = unwrap_forwarded(fwd, now)
            {
                let mut message = parse_inbound(inner, &own, now);
                // The archive's own id is the stanza-id it stamped (own account or room).
                if message.stanza_id.is_none() {
                    message.stanza_id = Some(archive_id.clone());
                }
                let _ = c.tx.send(ArchivedMessage {
                    archive_id,
                    message,
                    delay,
                });
            }
            return;
        }
        // Carbon?
        for (name, direction) in [
            ("received", CarbonDirection::Received),
            ("sent", CarbonDirection::Sent),
        ] {
            if let Some(c) = m.payloads.iter().find(|p| p.is(name, NS_CARBONS)) {
                if let Err(r) = check_carbon(m.from.as_ref(), &own) {
                    self.emit(SessionEvent::Rejected(r));
                    return;
                }
                if let Some(fwd) = c.get_child("forwarded", super::stanza::NS_FORWARD)
                    && let Some((inner, _)) = unwrap_forwarded(fwd, now)
                {
                    self.emit(SessionEvent::Carbon {
                        direction,
                        message: parse_inbound(inner, &own, now),
                    });
                }
                return;
            }
        }
        // PubSub event?
        if let Some(ev) = m.payloads.iter().find(|p| p.is("event", NS_PUBSUB_EVENT)) {
            let about_own_bookmarks = ev.children().any(|c| {
                c.attr("node")
                    .is_some_and(|n| n == NODE_BOOKMARKS || n == "storage:bookmarks")
            });
            if about_own_bookmarks && let Err(r) = check_own_pep_event(m.from.as_ref(), &own) {
                self.emit(SessionEvent::Rejected(r));
                return;
            }
            self.emit(SessionEvent::PubSubEvent {
                from: m.from.clone(),
                event: ev.clone(),
            });
            return;
        }
        self.emit(SessionEvent::Message(parse_inbound(m, &own, now)));
    }
}

fn result(to: Option<Jid>, id: String, payload: Option<Element>) -> Stanza {
    Iq::Result {
        from: None,
        to,
        id,
        payload,
    }
    .into()
}

/// An error reply with only the condition: no text, no xml:lang.
fn error(to: Option<Jid>, id: String, condition: DefinedCondition) -> Stanza {
    Iq::Error {
        from: None,
        to,
        id,
        payload: None,
        error: StanzaError {
            type_: ErrorType::Cancel,
            by: None,
            defined_condition: condition,
            texts: std::collections::BTreeMap::new(),
            other: None,
        },
    }
    .into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn outgoing_chat_has_no_xml_lang() {
        let m = build_chat(
            Jid::new("bob@talpa.test").unwrap(),
            "hi",
            MessageType::Chat,
            Vec::new(),
        );
        let xml = String::from(&Element::from(m));
        assert!(xml.contains("<body>hi</body>"), "{xml}");
        assert!(!xml.contains("lang"), "{xml}");
    }

    #[test]
    fn refusal_is_a_bare_service_unavailable_without_text() {
        let st = error(
            Some(Jid::new("bob@talpa.test/x").unwrap()),
            "q1".to_owned(),
            DefinedCondition::ServiceUnavailable,
        );
        let Stanza::Iq(iq) = st else {
            panic!("not an iq")
        };
        let xml = String::from(&Element::from(iq));
        assert!(xml.contains("service-unavailable"), "{xml}");
        assert!(!xml.contains("<text"), "{xml}");
        assert!(!xml.contains("lang"), "{xml}");
    }

    #[test]
    fn stanzas_without_id_get_a_random_one() {
        let mut st: Stanza = Presence::available().into();
        let id = ensure_id(&mut st);
        assert_eq!(id.len(), 32);
        let mut st2: Stanza = Presence::available().into();
        assert_ne!(ensure_id(&mut st2), id);
    }
}
