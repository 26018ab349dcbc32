//! The core actor and the handle front ends hold.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use zeroize::{Zeroize, Zeroizing};

use crate::core::accounts::{self, OpOutcome, SessionOp, Supervisors};
use crate::core::commands::{AccountChanges, Command, NewAccount, Reply, Secret};
use crate::core::error::CoreError;
use crate::core::events::{
    AccountSummary, CircuitSummary, Event, RelaySummary, StoredMessage, TorStatusInfo,
};
use crate::core::shared::{Ephemeral, Shared, SharedRef, lock};
use crate::core::store_cell::StoreCell;
use crate::core::tor_settings::{self, TorRunner, TorSettings};
use crate::privacy::jitter::ConnectSchedule;
use crate::store::{self, HistoryScope, Passphrase, Profile, RetentionPolicy, Store};
use crate::tor::{TorState, TorStatus};

/// How the core is started: where the profile lives and how it reaches Tor.
#[derive(Debug, Clone)]
pub struct CoreOptions {
    /// The profile directory (created 0700 on first use).
    pub profile_dir: PathBuf,
    /// A private Tor network description (authorities + fallbacks), for test networks.
    pub tor_network: Option<PathBuf>,
    /// Upper bound of the random delay before each account's first connection.
    pub startup_jitter: Duration,
    /// Use the bound stored in the profile's Tor settings instead of `startup_jitter` (the
    /// binary sets this unless `--startup-jitter` is given).
    pub use_stored_startup_jitter: bool,
    /// Lock the profile after this long without a command.
    pub idle_lock: Duration,
}

impl CoreOptions {
    /// Options with Talpa's defaults for the given profile directory.
    pub fn new(profile_dir: PathBuf) -> Self {
        CoreOptions {
            profile_dir,
            tor_network: None,
            startup_jitter: Duration::from_secs(120),
            use_stored_startup_jitter: false,
            idle_lock: Duration::from_secs(15 * 60),
        }
    }
}

struct Request {
    command: Command,
    reply: oneshot::Sender<Result<Reply, CoreError>>,
}

/// A cheap, cloneable handle on the running core. `Send + Sync`: usable from the GTK main loop
/// (tokio's channels need no tokio runtime to be awaited) and from tokio tasks alike.
#[derive(Clone)]
pub struct CoreHandle {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<Event>,
}

impl CoreHandle {
    /// Starts the core on the current tokio runtime and returns its handle.
    ///
    /// When the profile cannot be locked for this process ([`CoreHandle::try_spawn`]), the
    /// core touches nothing in the profile and answers every command with that error
    /// ([`CoreError::ProfileInUse`] when another process has the profile open).
    pub fn spawn(options: CoreOptions) -> CoreHandle {
        match CoreHandle::try_spawn(options) {
            Ok(handle) => handle,
            Err(error) => CoreHandle::refusing(&error),
        }
    }

    /// Takes the profile's lock ([`store::ProfileLock`]) — before any unlock, before Tor —
    /// then starts the core on the current tokio runtime. The lock is held until the core
    /// stops (the end of the process for the binary); the kernel releases it if the process
    /// dies.
    ///
    /// # Errors
    /// [`CoreError::ProfileInUse`] when another process (or another core in this one) has the
    /// profile open; [`CoreError::Store`] when the lock file cannot be made.
    pub fn try_spawn(options: CoreOptions) -> Result<CoreHandle, CoreError> {
        let profile_lock = store::ProfileLock::acquire(&options.profile_dir)?;
        Ok(CoreHandle::spawn_locked(options, profile_lock))
    }

    /// A core that could not lock its profile: every command gets `error` (the profile is
    /// never touched); it stops after `quit` or when the last handle is dropped.
    fn refusing(error: &CoreError) -> CoreHandle {
        let (requests, mut rx) = mpsc::channel::<Request>(64);
        let (events, _) = broadcast::channel(16);
        let refusal = match error {
            CoreError::ProfileInUse => CoreError::ProfileInUse,
            other => CoreError::Store(other.to_string()),
        };
        let message = refusal.to_string();
        let in_use = matches!(refusal, CoreError::ProfileInUse);
        tokio::spawn(async move {
            while let Some(Request { command, reply }) = rx.recv().await {
                let quit = matches!(command, Command::Quit);
                let error = if in_use {
                    CoreError::ProfileInUse
                } else {
                    CoreError::Store(message.clone())
                };
                let _ = reply.send(Err(error));
                if quit {
                    break;
                }
            }
        });
        CoreHandle { requests, events }
    }

    fn spawn_locked(options: CoreOptions, profile_lock: store::ProfileLock) -> CoreHandle {
        let (requests, rx) = mpsc::channel(64);
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            store: StoreCell::default(),
            events: events.clone(),
            ephemeral: Mutex::new(Ephemeral::default()),
            tor: Mutex::new(None),
            states: Mutex::new(std::collections::HashMap::new()),
            rooms: crate::core::rooms::RoomRegistry::default(),
            omemo: Mutex::new(crate::core::omemo::OmemoStates::default()),
            isolations: Mutex::new(std::collections::HashMap::new()),
            activity: crate::core::activity::ActivityRegistry::default(),
            roster_names: crate::core::contact_names::RosterNames::default(),
        });
        let schedule = ConnectSchedule::with_startup_max(options.startup_jitter);
        let actor = Actor {
            options,
            store: shared.store.clone(),
            supervisors: Supervisors::new(shared.clone(), schedule),
            shared,
            last_activity: Instant::now(),
            tor_runner: TorRunner::default(),
            _profile_lock: profile_lock,
        };
        tokio::spawn(actor.run(rx));
        CoreHandle { requests, events }
    }

    /// Sends a command and waits for its reply.
    pub async fn call(&self, command: Command) -> Result<Reply, CoreError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { command, reply })
            .await
            .map_err(|_| CoreError::Stopped)?;
        answer.await.map_err(|_| CoreError::Stopped)?
    }

    /// Subscribes to the event stream (events from now on).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// How often expiry runs (and the idle lock is checked) while unlocked.
const HOUSEKEEPING: Duration = Duration::from_secs(60);

struct Actor {
    options: CoreOptions,
    shared: SharedRef,
    store: StoreCell,
    supervisors: Supervisors,
    last_activity: Instant,
    tor_runner: TorRunner,
    /// Last field, so dropped last: the profile stays locked until the store is closed.
    _profile_lock: store::ProfileLock,
}

/// Overwrites every regular file under `dir` with zeros, then removes the tree.
fn erase_tree(dir: &std::path::Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            erase_tree(&path)?;
        } else if kind.is_file() {
            let len = entry.metadata()?.len();
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&path) {
                use std::io::Write;
                let zeros = vec![0u8; 64 * 1024];
                let mut left = len;
                while left > 0 {
                    let n = left.min(zeros.len() as u64) as usize;
                    f.write_all(&zeros[..n])?;
                    left -= n as u64;
                }
                f.sync_all()?;
            }
            std::fs::remove_file(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    std::fs::remove_dir_all(dir)
}

/// The front ends' view of a tor status.
pub(crate) fn tor_info(status: &TorStatus) -> TorStatusInfo {
    let (state, percent) = match &status.state {
        TorState::Starting => ("starting", 0),
        TorState::Bootstrapping { percent } => ("bootstrapping", *percent),
        TorState::Ready => ("ready", 100),
        TorState::Blocked { .. } => ("blocked", 0),
        TorState::Failed { .. } => ("failed", 0),
    };
    TorStatusInfo {
        state: state.into(),
        percent,
        text: status.text.clone(),
    }
}

fn passphrase(secret: &Secret) -> Passphrase {
    Passphrase::new(secret.expose().to_owned())
}

fn bare_jid(s: &str, what: &str) -> Result<String, CoreError> {
    let jid = xmpp_parsers::jid::BareJid::new(s.trim())
        .map_err(|e| CoreError::InvalidInput(format!("{what} is not a valid JID: {e}")))?;
    if jid.node().is_none() && what == "account" {
        return Err(CoreError::InvalidInput(format!(
            "{what} must look like name@server"
        )));
    }
    Ok(jid.to_string())
}

/// The account's conversation with `peer`, if there is one.
fn find_conversation(
    s: &Store,
    account: &str,
    peer: &str,
) -> Result<Option<store::Conversation>, CoreError> {
    let a = find_account(s, account)?;
    Ok(s.list_conversations(a.id)?
        .into_iter()
        .find(|c| c.peer_jid == peer))
}

fn room_jid(s: &str) -> Result<xmpp_parsers::jid::BareJid, CoreError> {
    let jid = bare_jid(s, "room")?;
    let jid = xmpp_parsers::jid::BareJid::new(&jid)
        .map_err(|e| CoreError::InvalidInput(format!("room is not a valid JID: {e}")))?;
    if jid.node().is_none() {
        return Err(CoreError::InvalidInput(
            "a room JID looks like name@rooms.server".into(),
        ));
    }
    Ok(jid)
}

fn valid_nick(nick: &str) -> Result<String, CoreError> {
    let nick = nick.trim().to_owned();
    if nick.is_empty() || nick.chars().count() > 64 || nick.chars().any(char::is_control) {
        return Err(CoreError::InvalidInput(
            "choose a nickname of 1–64 characters".into(),
        ));
    }
    Ok(nick)
}

fn policy(s: &str) -> Result<RetentionPolicy, CoreError> {
    s.parse::<RetentionPolicy>()
        .map_err(|_| CoreError::InvalidInput(format!("unknown retention policy {s:?}")))
}

fn summary(a: &store::Account) -> AccountSummary {
    AccountSummary {
        jid: a.jid.clone(),
        enabled: a.enabled,
        state: if a.enabled { "offline" } else { "disabled" }.to_owned(),
        retention: a.retention.as_str().to_owned(),
    }
}

/// The stored account with this JID.
pub(crate) fn find_account(s: &Store, jid: &str) -> Result<store::Account, CoreError> {
    s.list_accounts()?
        .into_iter()
        .find(|a| a.jid == jid)
        .ok_or_else(|| CoreError::NotFound(format!("account {jid}")))
}

/// An own message about to be queued (see [`store_outgoing`]).
pub(crate) struct Outgoing<'a> {
    /// The sending account's JID.
    pub account: &'a str,
    /// The conversation's JID.
    pub with: &'a str,
    /// The message's origin-id, also its outbox id.
    pub origin_id: &'a str,
    /// The outbox entry (JSON).
    pub payload: &'a [u8],
    /// The text shown for it.
    pub body: String,
    /// Whether it goes without OMEMO.
    pub plaintext: bool,
}

/// Queues an own message in the outbox and stores it, in one store call: pending until the
/// flush encrypts it (`mark_encrypted`) unless it goes in plaintext, so a queued or held
/// message is never shown as if it had gone in plaintext. Its attachment (if any) is stored
/// with it and its bytes are wiped from memory afterwards. The stored message as an event, or
/// `None` in a "don't store" conversation (the caller keeps it in memory).
pub(crate) fn store_outgoing(
    s: &mut Store,
    out: &Outgoing<'_>,
    attachment: Option<store::NewAttachment>,
    now: chrono::DateTime<Utc>,
) -> Result<Option<StoredMessage>, CoreError> {
    let a = find_account(s, out.account)?;
    let conv = s.upsert_conversation(a.id, out.with, store::ConversationKind::Chat, now)?;
    s.outbox_enqueue(a.id, conv, out.origin_id, out.payload, now)?;
    let mut m = store::NewMessage::new(
        conv,
        store::Direction::Outgoing,
        out.account.to_owned(),
        Some(out.body.clone()),
        now,
    );
    m.origin_id = Some(out.origin_id.to_owned());
    if !out.plaintext {
        m.encryption = store::MessageEncryption::Pending;
    }
    m.attachments.extend(attachment);
    let outcome = s.insert_message(&m, now);
    for a in &mut m.attachments {
        a.data.zeroize();
    }
    Ok(match outcome? {
        store::InsertOutcome::Stored(id) | store::InsertOutcome::Duplicate(id) => s
            .message(id)?
            .map(|m| to_event_message(out.account, out.with, &m)),
        store::InsertOutcome::NotStored => None,
    })
}

pub(crate) fn to_event_message(
    account: &str,
    with: &str,
    m: &store::StoredMessage,
) -> StoredMessage {
    StoredMessage {
        id: m.id.0,
        account: account.to_owned(),
        with: with.to_owned(),
        direction: match m.direction {
            store::Direction::Incoming => "in",
            store::Direction::Outgoing => "out",
        }
        .to_owned(),
        from: m.sender.clone(),
        body: m.body.clone().unwrap_or_default(),
        timestamp_ms: m.server_ts.unwrap_or(m.local_ts).timestamp_millis(),
        encryption: match m.encryption {
            store::MessageEncryption::None => "none",
            store::MessageEncryption::OmemoLegacy => "omemo",
            store::MessageEncryption::Omemo2 => "omemo2",
            store::MessageEncryption::Pending => "pending",
        }
        .to_owned(),
        corrected: m.edited,
        retracted: m.retracted,
        origin_id: match m.direction {
            store::Direction::Outgoing => m.origin_id.clone(),
            store::Direction::Incoming => None,
        },
        notes: crate::core::events::MessageNotes {
            // Shown only while it waits: a sent message is not held, whatever a stale row says.
            held: m
                .held_cause
                .as_deref()
                .filter(|_| m.encryption == store::MessageEncryption::Pending)
                .and_then(crate::core::events::HeldCause::parse),
            not_readable_by: m.unreadable_by.clone(),
            delivery: match m.delivery {
                store::Delivery::None => None,
                store::Delivery::Delivered => Some(crate::core::events::DeliveryMark::Delivered),
                store::Delivery::Read => Some(crate::core::events::DeliveryMark::Read),
            },
            attachment: crate::core::files::attachment_of(
                m.body.as_deref(),
                m.file_link,
                &m.attachments,
            ),
        },
    }
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        // Check often enough that a short idle lock fires close to its time.
        let period = HOUSEKEEPING
            .min(self.options.idle_lock / 4)
            .max(Duration::from_millis(250));
        let mut housekeeping = tokio::time::interval(period);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                request = rx.recv() => {
                    let Some(Request { command, reply }) = request else { break };
                    self.last_activity = Instant::now();
                    let quit = matches!(command, Command::Quit);
                    let result = self.handle(command).await;
                    // A front end that stopped waiting for its answer is not the core's problem.
                    let _ = reply.send(result);
                    if quit {
                        break;
                    }
                }
                _ = housekeeping.tick() => self.housekeeping().await,
            }
        }
        self.lock_now_reporting().await;
    }

    fn emit(&self, event: Event) {
        self.shared.emit(event);
    }

    /// Starts the supervisors of every enabled account of the open profile.
    async fn start_accounts(&mut self) {
        match self.store.with(|s| Ok(s.list_accounts()?)).await {
            Ok(accounts) => {
                for a in accounts.into_iter().filter(|a| a.enabled) {
                    self.supervisors.start(a);
                }
            }
            Err(e) => self.emit(Event::Error {
                kind: e.kind().into(),
                message: e.to_string(),
                account: None,
            }),
        }
    }

    async fn housekeeping(&mut self) {
        if !self.store.is_open() {
            return;
        }
        if self.last_activity.elapsed() >= self.options.idle_lock {
            self.lock_now_reporting().await;
            return;
        }
        if let Err(e) = self.store.with(|s| Ok(s.expire(Utc::now())?)).await {
            self.emit(Event::Error {
                kind: e.kind().into(),
                message: e.to_string(),
                account: None,
            });
        }
    }

    /// Closes the store (wiping its keys) and forgets everything held in memory; emits
    /// `locked` when a store was open.
    ///
    /// # Errors
    /// [`CoreError::WalKept`] when the store was locked but its write-ahead log could not be
    /// folded in; other store errors when closing failed (the store is dropped all the same).
    async fn lock_now(&mut self) -> Result<(), CoreError> {
        self.supervisors.stop_all().await;
        lock(&self.shared.ephemeral).forget(|_, _| true);
        self.shared.rooms.clear();
        lock(&self.shared.omemo).clear();
        lock(&self.shared.isolations).clear();
        self.shared.activity.clear();
        self.shared.roster_names.clear();
        let closed = self
            .store
            .with_slot(|slot| {
                Ok(slot
                    .take()
                    .map(|store| store.lock().map_err(CoreError::from)))
            })
            .await?;
        match closed {
            Some(result) => {
                // The store is gone either way: its keys are wiped.
                self.emit(Event::Locked);
                result
            }
            None => Ok(()),
        }
    }

    /// [`Actor::lock_now`] where no command waits for the answer: a failure becomes an `error`
    /// event.
    async fn lock_now_reporting(&mut self) {
        if let Err(e) = self.lock_now().await {
            self.emit(Event::Error {
                kind: e.kind().into(),
                message: e.to_string(),
                account: None,
            });
        }
    }

    async fn accounts(&self) -> Result<Vec<AccountSummary>, CoreError> {
        let mut list: Vec<AccountSummary> = self
            .store
            .with(|s| Ok(s.list_accounts()?.iter().map(summary).collect()))
            .await?;
        for a in list.iter_mut().filter(|a| a.enabled) {
            a.state = self.shared.state_of(&a.jid);
        }
        Ok(list)
    }

    async fn handle(&mut self, command: Command) -> Result<Reply, CoreError> {
        tracing::debug!(command = command.name(), "command");
        // Text XML cannot carry would make the stanza writer fail (or worse) much later, after
        // the message was stored and queued: refuse it now, with the text left to the caller.
        for (what, text) in command.stanza_texts() {
            if text.len() > crate::core::commands::MAX_TEXT_BYTES {
                return Err(CoreError::InvalidInput(format!(
                    "the {what} is too long ({} bytes; at most {} bytes fit in a message other \
                     clients accept); split it and try again",
                    text.len(),
                    crate::core::commands::MAX_TEXT_BYTES
                )));
            }
            if let Some(c) = crate::xmpp::xml_text::first_invalid(text) {
                return Err(CoreError::InvalidInput(format!(
                    "the {what} contains {}, a control character or non-character that XMPP \
                     cannot carry; remove it and try again",
                    crate::xmpp::xml_text::describe(c)
                )));
            }
        }
        match command {
            Command::CreateProfile { passphrase: p } => self.create_profile(&p).await,
            Command::Unlock { passphrase: p } => self.unlock(&p).await,
            Command::ProfileExists => {
                let dir = self.options.profile_dir.clone();
                let exists = self
                    .store
                    .with_slot(move |slot| Ok(slot.is_some() || Profile::exists(&dir)))
                    .await?;
                Ok(Reply::ProfileExists { exists })
            }
            Command::Lock | Command::Quit => {
                self.lock_now().await?;
                Ok(Reply::Done {})
            }
            Command::ChangePassphrase { old, new } => {
                if new.is_empty() {
                    return Err(CoreError::InvalidInput(
                        "the new passphrase is empty".into(),
                    ));
                }
                let (old, new) = (passphrase(&old), passphrase(&new));
                self.store
                    .with(move |s| Ok(s.change_passphrase(&old, &new)?))
                    .await?;
                Ok(Reply::Done {})
            }
            Command::SetDuressPassphrase { passphrase: p } => {
                let p = p.filter(|p| !p.is_empty()).map(|p| passphrase(&p));
                self.store
                    .with(move |s| Ok(s.set_duress_passphrase(p.as_ref())?))
                    .await?;
                Ok(Reply::Done {})
            }
            Command::AddAccount(new) => self.add_account(new).await,
            Command::RemoveAccount { account } => {
                let jid = bare_jid(&account, "account")?;
                // An unknown account is named in no event (stopping it would report it).
                let known = jid.clone();
                self.store
                    .with(move |s| find_account(s, &known).map(|_| ()))
                    .await?;
                self.supervisors.stop(&jid).await;
                lock(&self.shared.ephemeral).forget(|a, _| a == jid);
                lock(&self.shared.isolations).remove(&jid);
                let removed = self
                    .store
                    .with(move |s| {
                        let a = find_account(s, &jid)?;
                        s.remove_account(a.id)?;
                        Ok(a.id)
                    })
                    .await?;
                lock(&self.shared.omemo).remove(removed);
                crate::core::activity::forget_account(
                    &self.shared,
                    &bare_jid(&account, "account")?,
                )
                .await?;
                let gone = bare_jid(&account, "account")?;
                self.store
                    .with(move |s| Ok(s.forget_contact_names(&gone)?))
                    .await?;
                Ok(Reply::Done {})
            }
            Command::SetAccountEnabled { account, enabled } => {
                let jid = bare_jid(&account, "account")?;
                let j = jid.clone();
                let updated = self
                    .store
                    .with(move |s| {
                        let mut a = find_account(s, &j)?;
                        a.enabled = enabled;
                        s.update_account(&a)?;
                        Ok(a)
                    })
                    .await?;
                if enabled {
                    self.supervisors.start(updated);
                } else {
                    self.supervisors.stop(&jid).await;
                }
                Ok(Reply::Done {})
            }
            Command::ListAccounts => Ok(Reply::Accounts {
                accounts: self.accounts().await?,
            }),
            Command::Conversations { account } => {
                let jid = bare_jid(&account, "account")?;
                let conversations = self
                    .store
                    .with(move |s| {
                        let a = find_account(s, &jid)?;
                        Ok(s.list_conversations(a.id)?
                            .into_iter()
                            .map(|c| crate::core::commands::ConversationSummary {
                                is_room: c.kind == store::ConversationKind::GroupChat,
                                with: c.peer_jid,
                                destroyed: c.destroyed.map(|d| {
                                    crate::core::commands::RoomDestroyedSummary {
                                        reason: d.reason,
                                        alternate: d.alternate,
                                        nick: d.nick,
                                    }
                                }),
                            })
                            .collect())
                    })
                    .await?;
                Ok(Reply::Conversations { conversations })
            }
            Command::UpdateAccount(changes) => self.update_account(changes).await,
            Command::AccountSettings { account } => {
                let jid = bare_jid(&account, "account")?;
                let a = self.store.with(move |s| find_account(s, &jid)).await?;
                Ok(crate::core::accounts::settings_reply(&a))
            }
            Command::Send { account, to, body } => self.send(&account, &to, body).await,
            Command::History {
                account,
                with,
                before,
                limit,
            } => self.history(&account, &with, before, limit).await,
            Command::SetContactName { account, jid, name } => {
                let account = bare_jid(&account, "account")?;
                let jid = bare_jid(&jid, "contact")?;
                crate::core::contact_names::set(&self.shared, account, jid, name).await
            }
            Command::ContactNames { account } => {
                let account = bare_jid(&account, "account")?;
                crate::core::contact_names::get(&self.shared, account).await
            }
            Command::Search {
                account,
                query,
                with,
                before,
                limit,
            } => {
                let req = crate::core::search::SearchRequest {
                    account: bare_jid(&account, "account")?,
                    with: with.map(|w| bare_jid(&w, "conversation")).transpose()?,
                    before,
                    limit,
                };
                let query = crate::core::search::parse_query(&query)?;
                self.store
                    .with(move |s| crate::core::search::run(s, &req, &query, Utc::now()))
                    .await
            }
            Command::SetRetention {
                account,
                with,
                policy: p,
            } => {
                let jid = bare_jid(&account, "account")?;
                let with = with.map(|w| bare_jid(&w, "conversation")).transpose()?;
                let p = policy(&p)?;
                let erased = self
                    .store
                    .with(move |s| {
                        let a = find_account(s, &jid)?;
                        let now = Utc::now();
                        Ok(match with {
                            None => s.set_account_retention(a.id, p, now)?,
                            Some(w) => {
                                let c = s.upsert_conversation(
                                    a.id,
                                    &w,
                                    store::ConversationKind::Chat,
                                    now,
                                )?;
                                s.set_conversation_retention(c, Some(p), now)?
                            }
                        })
                    })
                    .await?;
                Ok(Reply::Erased {
                    erased: erased as u64,
                })
            }
            Command::ClearHistory { account, with } => self.clear_history(account, with).await,
            Command::JoinRoom {
                account,
                room,
                nick,
                password,
                force,
            } => {
                self.join_room(&account, &room, &nick, password, false, force)
                    .await
            }
            Command::CreateRoom {
                account,
                room,
                nick,
                password,
                force,
            } => {
                let password = password.filter(|p| !p.is_empty());
                self.join_room(&account, &room, &nick, password, true, force)
                    .await
            }
            Command::SetNick {
                account,
                room,
                nick,
            } => {
                let nick = valid_nick(&nick)?;
                self.room_op(&account, &room, |room| SessionOp::SetNick { room, nick })
                    .await
            }
            Command::SetSubject {
                account,
                room,
                subject,
            } => {
                self.room_op(&account, &room, |room| SessionOp::SetSubject {
                    room,
                    subject,
                })
                .await
            }
            Command::SetAffiliation {
                account,
                room,
                jid,
                affiliation,
            } => {
                let affiliation =
                    crate::xmpp::muc::Affiliation::parse(&affiliation).ok_or_else(|| {
                        CoreError::InvalidInput(format!("unknown affiliation {affiliation:?}"))
                    })?;
                let jid = xmpp_parsers::jid::BareJid::new(&bare_jid(&jid, "jid")?)
                    .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
                self.room_op(&account, &room, |room| SessionOp::SetAffiliation {
                    room,
                    jid,
                    affiliation,
                })
                .await
            }
            Command::Ban { account, room, jid } => {
                let jid = xmpp_parsers::jid::BareJid::new(&bare_jid(&jid, "jid")?)
                    .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
                self.room_op(&account, &room, |room| SessionOp::SetAffiliation {
                    room,
                    jid,
                    affiliation: crate::xmpp::muc::Affiliation::Outcast,
                })
                .await
            }
            Command::Kick {
                account,
                room,
                nick,
                reason,
            } => {
                self.room_op(&account, &room, |room| SessionOp::Kick {
                    room,
                    nick,
                    reason,
                })
                .await
            }
            Command::AcceptInvite {
                account,
                room,
                nick,
                force,
            } => {
                let acc = bare_jid(&account, "account")?;
                let r = room_jid(&room)?;
                let Some(invite) = self.shared.rooms.take_invite(&acc, r.as_str()) else {
                    return Err(CoreError::NotFound(format!("an invitation to {r}")));
                };
                let password = invite.password.clone();
                let joined = self
                    .join_room(&acc, &room, &nick, password, false, force)
                    .await;
                if joined.is_err() {
                    // Keep it for another try (e.g. with `force`).
                    self.shared.rooms.add_invite(&acc, r.as_str(), invite);
                }
                joined
            }
            Command::DeclineInvite { account, room } => {
                let acc = bare_jid(&account, "account")?;
                let r = room_jid(&room)?;
                let Some(invite) = self.shared.rooms.take_invite(&acc, r.as_str()) else {
                    return Err(CoreError::NotFound(format!("an invitation to {r}")));
                };
                let inviter = invite
                    .from
                    .as_deref()
                    .and_then(|f| xmpp_parsers::jid::BareJid::new(f).ok());
                if let (false, Some(inviter)) = (invite.direct, inviter) {
                    self.room_op(&acc, &room, |room| SessionOp::Decline { room, inviter })
                        .await?;
                }
                Ok(Reply::Done {})
            }
            Command::RoomMembers { account, room } => {
                let account = bare_jid(&account, "account")?;
                let room = room_jid(&room)?;
                let members = self
                    .shared
                    .rooms
                    .members(&account, room.as_str())
                    .ok_or_else(|| CoreError::NotFound(format!("{account} in {room}")))?;
                Ok(Reply::RoomMembers {
                    recipients: members.recipients(&account),
                    affiliations: members.affiliated,
                    occupants: members.occupants,
                })
            }
            Command::CheckRooms { account } => {
                let account = bare_jid(&account, "account")?;
                self.supervisors
                    .session_op(&account, SessionOp::CheckRooms)
                    .await?;
                Ok(Reply::Done {})
            }
            Command::LeaveRoom { account, room } => {
                let account = bare_jid(&account, "account")?;
                let room = room_jid(&room)?;
                let (acc, r) = (account.clone(), room.to_string());
                self.store
                    .with(move |s| {
                        let a = find_account(s, &acc)?;
                        s.remove_room(a.id, &r)?;
                        Ok(())
                    })
                    .await?;
                self.supervisors
                    .session_op(&account, SessionOp::Leave { room })
                    .await?;
                Ok(Reply::Done {})
            }
            Command::Invite { account, room, jid } => {
                let account = bare_jid(&account, "account")?;
                let room = room_jid(&room)?;
                let invitee = bare_jid(&jid, "invitee")?;
                let accounts = self.store.with(|s| Ok(s.list_accounts()?)).await?;
                if invitee != account && accounts.iter().any(|a| a.jid == invitee) {
                    return Err(CoreError::WouldLinkAccounts(format!(
                        "{invitee} is another of your accounts; inviting it from {account} \
                         would tell the server and the room that the two belong together. Use \
                         direct_invite with force: true to invite anyway."
                    )));
                }
                let jid = xmpp_parsers::jid::BareJid::new(&invitee)
                    .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
                self.supervisors
                    .session_op(&account, SessionOp::Invite { room, jid })
                    .await?;
                Ok(Reply::Done {})
            }
            Command::DirectInvite {
                account,
                room,
                jid,
                reason,
                force,
            } => {
                let account = bare_jid(&account, "account")?;
                let room = room_jid(&room)?;
                let invitee = bare_jid(&jid, "invitee")?;
                let accounts = self.store.with(|s| Ok(s.list_accounts()?)).await?;
                if !force && invitee != account && accounts.iter().any(|a| a.jid == invitee) {
                    return Err(CoreError::WouldLinkAccounts(format!(
                        "{invitee} is another of your accounts; inviting it from {account} \
                         would tell the server (and the room, once it joins) that the two \
                         belong together. Repeat with force: true to invite anyway."
                    )));
                }
                let jid = xmpp_parsers::jid::BareJid::new(&invitee)
                    .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
                self.supervisors
                    .session_op(&account, SessionOp::DirectInvite { room, jid, reason })
                    .await?;
                Ok(Reply::Done {})
            }
            Command::AddContact { account, jid } => {
                self.contact_op(&account, &jid, SessionOp::AddContact).await
            }
            Command::RemoveContact { account, jid } => {
                self.contact_op(&account, &jid, SessionOp::RemoveContact)
                    .await
            }
            Command::ApproveContact { account, jid } => {
                self.contact_op(&account, &jid, SessionOp::ApproveContact)
                    .await
            }
            Command::DenyContact { account, jid } => {
                self.contact_op(&account, &jid, SessionOp::DenyContact)
                    .await
            }
            Command::Block { account, jid } => {
                self.contact_op(&account, &jid, SessionOp::Block).await
            }
            Command::Unblock { account, jid } => {
                self.contact_op(&account, &jid, SessionOp::Unblock).await
            }
            Command::Archiving { account } => self.archiving(&account, None).await,
            Command::SetArchiving { account, default } => {
                self.archiving(&account, Some(default)).await
            }
            Command::Correct {
                account,
                with,
                message,
                body,
            } => {
                if body.trim().is_empty() {
                    return Err(CoreError::InvalidInput("the correction is empty".into()));
                }
                self.edit_own(&account, &with, message, Some(body)).await
            }
            Command::Retract {
                account,
                with,
                message,
            } => self.edit_own(&account, &with, message, None).await,
            Command::Devices { account, jid } => self.devices(&account, jid).await,
            Command::CheckKeys {
                account,
                with,
                jids,
            } => self.check_keys(&account, &with, jids).await,
            Command::Trust {
                account,
                jid,
                device,
                level,
                fingerprint,
            } => {
                let jid = bare_jid(&jid, "contact")?;
                let st = self.omemo_of(&account).await?;
                crate::core::omemo::set_trust(&st.1, &jid, device, &level, fingerprint.as_deref())?;
                crate::core::omemo::save(&self.shared, st.0, &st.1).await;
                Ok(Reply::Done {})
            }
            Command::SetKeyAccess { account, access } => {
                let (id, _) = self.omemo_of(&account).await?;
                crate::core::omemo::set_access(&self.shared, id, &access).await?;
                let account = bare_jid(&account, "account")?;
                if let Err(e) = self
                    .supervisors
                    .session_op(&account, SessionOp::RepublishKeys)
                    .await
                {
                    tracing::debug!(error = %e, "keys republished at the next login");
                }
                Ok(Reply::Done {})
            }
            Command::OmemoSettings { account } => {
                let (id, st) = self.omemo_of(&account).await?;
                Ok(Reply::OmemoSettings {
                    strict: crate::core::omemo::is_strict(&st),
                    key_access: crate::core::omemo::key_access(&self.shared, id).await,
                })
            }
            Command::SetTrustPolicy { account, strict } => {
                let st = self.omemo_of(&account).await?;
                crate::core::omemo::set_policy(&st.1, strict);
                crate::core::omemo::save(&self.shared, st.0, &st.1).await;
                Ok(Reply::Done {})
            }
            Command::SetEncryption {
                account,
                conversation,
                enabled,
                version,
            } => {
                self.set_encryption(&account, &conversation, enabled, version.as_deref())
                    .await
            }
            Command::TorStatus => Ok(Reply::Tor(match self.shared.tor() {
                Some(tor) => tor_info(&tor.status().borrow()),
                None => tor_settings::not_running(self.store.is_open()),
            })),
            Command::TorSettings => {
                let settings = self.store.with(|s| TorSettings::load(s)).await?;
                Ok(Reply::TorSettings(settings))
            }
            Command::SetTorSettings(settings) => self.set_tor_settings(settings).await,
            Command::Circuit { account } => Ok(self.circuit(&account)),
            Command::SetIdleLock { minutes } => self.set_idle_lock(minutes).await,
            Command::SetPreference { key, value } => self.set_preference(key, value).await,
            Command::Preferences => self.preferences().await,
            Command::ConversationRetention { account, with } => {
                self.conversation_retention(&account, &with).await
            }
            Command::SetConversationPrivacy {
                account,
                with,
                share_activity,
            } => {
                let account = bare_jid(&account, "account")?;
                let with = with.map(|w| bare_jid(&w, "conversation")).transpose()?;
                crate::core::activity::set(&self.shared, &account, with.as_deref(), share_activity)
                    .await?;
                Ok(Reply::Done {})
            }
            Command::ConversationPrivacy { account, with } => {
                let account = bare_jid(&account, "account")?;
                let with = with.map(|w| bare_jid(&w, "conversation")).transpose()?;
                let (share_activity, account_default) =
                    crate::core::activity::get(&self.shared, &account, with.as_deref()).await?;
                Ok(Reply::ConversationPrivacy {
                    share_activity,
                    account_default,
                })
            }
            Command::ChatState {
                account,
                with,
                state,
            } => {
                let state =
                    crate::xmpp::chat_states::ChatState::from_name(&state).ok_or_else(|| {
                        CoreError::InvalidInput(format!(
                            "unknown chat state {state:?} (active, composing, paused, inactive \
                             or gone)"
                        ))
                    })?;
                self.activity_op(
                    &account,
                    &with,
                    crate::core::activity::Outgoing::State(state),
                )
                .await
            }
            Command::MarkDisplayed {
                account,
                with,
                message,
            } => {
                self.activity_op(
                    &account,
                    &with,
                    crate::core::activity::Outgoing::Displayed(message),
                )
                .await
            }
            Command::SendFile { account, to, path } => {
                let account = bare_jid(&account, "account")?;
                let transfer = crate::core::files::send_file(
                    &self.shared,
                    &self.supervisors,
                    account,
                    to,
                    path,
                )
                .await?;
                Ok(Reply::Transfer { transfer })
            }
            Command::DownloadAttachment { message } => Ok(
                match crate::core::files::download(&self.shared, message).await? {
                    Some(transfer) => Reply::Transfer { transfer },
                    None => Reply::Done {},
                },
            ),
            Command::SaveAttachment { message, path } => {
                crate::core::files::save(&self.shared, message, path).await?;
                Ok(Reply::Done {})
            }
            Command::Wipe => {
                // The profile is erased next: a write-ahead log that could not be folded goes too.
                let _ = self.lock_now().await;
                let dir = self.options.profile_dir.clone();
                tokio::task::spawn_blocking(move || {
                    Profile::wipe(&dir)?;
                    // Arti's state (guards, directory cache) says Talpa was used here.
                    erase_tree(&dir.join("tor"))?;
                    let _ = std::fs::remove_dir(&dir);
                    Ok::<(), store::StoreError>(())
                })
                .await
                .map_err(|e| CoreError::Store(e.to_string()))??;
                self.tor_runner.reset();
                *lock(&self.shared.tor) = None;
                Ok(Reply::Done {})
            }
        }
    }

    /// Starts or adjusts the tor layer from the settings in the (unlocked) profile. A failure
    /// leaves the accounts without Tor — so without any connection — and says why.
    async fn start_tor(&mut self) {
        let settings = match self.store.with(|s| TorSettings::load(s)).await {
            Ok(s) => s,
            Err(e) => return self.tor_failed(&e.to_string()),
        };
        self.apply_startup_jitter(&settings);
        let network = self.options.tor_network.clone();
        match self.tor_runner.apply(
            settings,
            &self.options.profile_dir,
            network.as_deref(),
            &self.shared,
        ) {
            Ok(_) => {}
            Err(e) => self.tor_failed(&e.to_string()),
        }
    }

    /// Takes the stored start-up delay bound, unless the command line fixed one.
    fn apply_startup_jitter(&mut self, settings: &TorSettings) {
        if self.options.use_stored_startup_jitter {
            let max = settings.startup_jitter_secs.map_or(
                crate::privacy::jitter::DEFAULT_STARTUP_MAX,
                Duration::from_secs,
            );
            self.supervisors
                .set_schedule(ConnectSchedule::with_startup_max(max));
        }
    }

    fn tor_failed(&mut self, why: &str) {
        *lock(&self.shared.tor) = None;
        self.emit(Event::TorStatus(TorStatusInfo {
            state: "failed".into(),
            percent: 0,
            text: format!("Tor could not start: {why}"),
        }));
    }

    /// Checks, stores and applies new Tor settings; the accounts reconnect through the new
    /// client when it changed. Invalid settings are refused and nothing is stored.
    async fn set_tor_settings(&mut self, mut settings: TorSettings) -> Result<Reply, CoreError> {
        settings.normalize_into_config(
            &self.options.profile_dir,
            self.options.tor_network.as_deref(),
        )?;
        let saved = settings.clone();
        self.store.with(move |s| saved.save(s)).await?;
        self.apply_startup_jitter(&settings);
        let before = self.shared.tor();
        let network = self.options.tor_network.clone();
        self.tor_runner.apply(
            settings.clone(),
            &self.options.profile_dir,
            network.as_deref(),
            &self.shared,
        )?;
        let replaced = match (before, self.shared.tor()) {
            (Some(old), Some(new)) => !old.is_same(&new),
            _ => true,
        };
        if replaced || settings.use_bridges {
            // New circuits everywhere: a new client, or the same Arti now behind bridges.
            self.supervisors.stop_all().await;
            self.start_accounts().await;
        }
        Ok(Reply::TorSettings(settings))
    }

    async fn create_profile(&mut self, p: &Secret) -> Result<Reply, CoreError> {
        if p.is_empty() {
            return Err(CoreError::InvalidInput("the passphrase is empty".into()));
        }
        let dir = self.options.profile_dir.clone();
        let pass = passphrase(p);
        self.store
            .with_slot(move |slot| {
                if slot.is_some() {
                    return Err(CoreError::ProfileExists);
                }
                *slot = Some(Profile::create(&dir, &pass)?);
                Ok(())
            })
            .await?;
        self.emit(Event::Unlocked);
        self.start_tor().await;
        Ok(Reply::Done {})
    }

    async fn unlock(&mut self, p: &Secret) -> Result<Reply, CoreError> {
        let dir = self.options.profile_dir.clone();
        let pass = passphrase(p);
        let opened = self
            .store
            .with_slot(move |slot| {
                if let Some(open) = slot {
                    // Already open: still an answer about this passphrase, not a blanket ok.
                    open.check_passphrase(&pass)?;
                    return Ok(None);
                }
                if !Profile::exists(&dir) {
                    return Err(CoreError::NoProfile);
                }
                let unlocked = Profile::unlock(&dir, &pass)?;
                if unlocked.is_duress() {
                    // Arti's state (guards sampled long ago) would betray that this "fresh"
                    // profile is not: it goes with the wiped one, as in a panic wipe. Best
                    // effort and silent: the unlock must look like any other.
                    let _ = erase_tree(&dir.join("tor"));
                }
                let duress = unlocked.is_duress();
                let mut store = unlocked.into_store();
                store.expire(Utc::now())?;
                *slot = Some(store);
                Ok(Some(duress))
            })
            .await?;
        if opened == Some(true) {
            self.tor_runner.reset();
            *lock(&self.shared.tor) = None;
        }
        if opened.is_some() {
            self.apply_stored_idle_lock().await;
            self.emit(Event::Unlocked);
            self.start_tor().await;
            self.start_accounts().await;
        }
        Ok(Reply::Unlocked {
            accounts: self.accounts().await?,
        })
    }

    async fn add_account(&mut self, new: NewAccount) -> Result<Reply, CoreError> {
        let jid = bare_jid(&new.jid, "account")?;
        if new.password.is_empty() {
            return Err(CoreError::InvalidInput("the password is empty".into()));
        }
        if let Some(host) = &new.host
            && !crate::core::accounts::is_host_name_shaped(host)
        {
            return Err(CoreError::InvalidInput(format!(
                "{host:?} is not a host name"
            )));
        }
        if new.port == Some(0) {
            return Err(CoreError::InvalidInput("port 0 is not a port".into()));
        }
        if let Some(resolver) = &new.dot_resolver {
            resolver
                .parse::<crate::xmpp::srv::DotResolver>()
                .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
        }
        if let Some(pem) = &new.trust_anchor_pem {
            crate::core::accounts::check_trust_anchor(pem)?;
        }
        let retention = new
            .retention
            .as_deref()
            .map(policy)
            .transpose()?
            .unwrap_or_default();
        let mut account =
            store::NewAccount::new(jid, Zeroizing::new(new.password.expose().to_owned()));
        account.host = new.host.clone();
        account.port = new.port;
        account.trust_anchor_pem = new.trust_anchor_pem.clone();
        account.retention = retention;
        account.options = serde_json::json!({
            "direct_tls": new.direct_tls,
            "local_only_contacts": new.local_only_contacts,
        });
        if let Some(resolver) = &new.dot_resolver {
            account.options["dot_resolver"] = serde_json::Value::from(resolver.as_str());
        }
        let added = self
            .store
            .with(move |s| {
                let id = s.add_account(&account, Utc::now()).map_err(|e| match e {
                    store::StoreError::Duplicate(_) => {
                        CoreError::InvalidInput(format!("{} is already an account", account.jid))
                    }
                    other => other.into(),
                })?;
                s.account(id)?
                    .ok_or_else(|| CoreError::NotFound("the new account".into()))
            })
            .await?;
        self.supervisors.start(added);
        Ok(Reply::Accounts {
            accounts: self.accounts().await?,
        })
    }

    /// Checks and stores an account's new connection settings, then reconnects that account
    /// alone (if enabled). Nothing is stored when any value is refused.
    async fn update_account(&mut self, changes: AccountChanges) -> Result<Reply, CoreError> {
        let jid = bare_jid(&changes.account, "account")?;
        crate::core::accounts::check_changes(&changes)?;
        let j = jid.clone();
        let updated = self
            .store
            .with(move |s| {
                let mut a = find_account(s, &j)?;
                crate::core::accounts::apply_changes(&mut a, &changes);
                s.update_account(&a)?;
                Ok(a)
            })
            .await?;
        self.supervisors.stop(&jid).await;
        if updated.enabled {
            self.supervisors.start(updated);
        }
        Ok(Reply::Accounts {
            accounts: self.accounts().await?,
        })
    }

    /// Sends a room operation built from the room's JID to the account's session.
    async fn room_op(
        &mut self,
        account: &str,
        room: &str,
        op: impl FnOnce(xmpp_parsers::jid::BareJid) -> SessionOp,
    ) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let room = room_jid(room)?;
        self.supervisors.session_op(&account, op(room)).await?;
        Ok(Reply::Done {})
    }

    /// Another of the profile's accounts that is in `room` (joined now, or remembered to be
    /// joined), if any.
    async fn other_account_in(
        &self,
        account: &str,
        room: &str,
    ) -> Result<Option<String>, CoreError> {
        let (acc, r) = (account.to_owned(), room.to_owned());
        let remembered = self
            .store
            .with(move |s| {
                for a in s.list_accounts()? {
                    if a.jid != acc && s.list_rooms(a.id)?.iter().any(|x| x.jid == r) {
                        return Ok(Some(a.jid));
                    }
                }
                Ok(None)
            })
            .await?;
        if remembered.is_some() {
            return Ok(remembered);
        }
        let accounts = self.store.with(|s| Ok(s.list_accounts()?)).await?;
        Ok(accounts
            .into_iter()
            .map(|a| a.jid)
            .find(|j| j != account && self.shared.rooms.joined_rooms(j).iter().any(|x| x == room)))
    }

    /// The password the encrypted store keeps for `room` (the one it was last joined with),
    /// so joining again without one (the window's *Rejoin*) neither fails nor forgets it.
    async fn stored_room_password(&self, account: &str, room: &str) -> Option<Secret> {
        let (acc, r) = (account.to_owned(), room.to_owned());
        self.store
            .with(move |s| {
                let a = find_account(s, &acc)?;
                Ok(s.list_rooms(a.id)?
                    .into_iter()
                    .find(|b| b.jid == r)
                    .and_then(|b| b.password)
                    .map(|p| Secret::new(p.as_str())))
            })
            .await
            .ok()
            .flatten()
    }

    async fn join_room(
        &mut self,
        account: &str,
        room: &str,
        nick: &str,
        password: Option<Secret>,
        create: bool,
        force: bool,
    ) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let room = room_jid(room)?;
        let nick = valid_nick(nick)?;
        if !force && let Some(other) = self.other_account_in(&account, room.as_str()).await? {
            return Err(CoreError::WouldLinkAccounts(format!(
                "your account {other} is already in {room}; joining as {account} too would let \
                 the server and the room's members link the two accounts (same room, same \
                 times). Repeat with force: true to join anyway."
            )));
        }
        let password = match password {
            Some(p) => Some(p),
            None => self.stored_room_password(&account, room.as_str()).await,
        };
        let (acc, r, n, pw) = (
            account.clone(),
            room.to_string(),
            nick.clone(),
            password
                .as_ref()
                .map(|p| Zeroizing::new(p.expose().to_owned())),
        );
        self.store
            .with(move |s| {
                let a = find_account(s, &acc)?;
                s.upsert_conversation(a.id, &r, store::ConversationKind::GroupChat, Utc::now())?;
                s.upsert_room(
                    a.id,
                    &store::RoomBookmark {
                        jid: r,
                        name: None,
                        nick: Some(n),
                        password: pw,
                        autojoin: true,
                    },
                )?;
                Ok(())
            })
            .await?;
        self.supervisors
            .session_op(
                &account,
                SessionOp::Join {
                    room,
                    nick,
                    password,
                    create,
                },
            )
            .await?;
        Ok(Reply::Done {})
    }

    /// A contact operation. Accounts with local-only contacts keep adds and removals in the
    /// encrypted store and never touch the server roster (nor approve subscriptions, which
    /// would create a server roster entry).
    async fn contact_op(
        &mut self,
        account: &str,
        jid: &str,
        op: fn(xmpp_parsers::jid::BareJid) -> SessionOp,
    ) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let jid = xmpp_parsers::jid::BareJid::new(&bare_jid(jid, "contact")?)
            .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
        let acc = account.clone();
        let stored = self.store.with(move |s| find_account(s, &acc)).await?;
        if accounts::local_only_contacts(&stored) {
            let contact = jid.to_string();
            let id = stored.id;
            match op(jid.clone()) {
                SessionOp::AddContact(_) => {
                    self.store
                        .with(move |s| {
                            let c = store::Contact {
                                jid: contact,
                                name: None,
                                subscription: "none".into(),
                                groups: Vec::new(),
                            };
                            Ok(s.upsert_contact(id, &c)?)
                        })
                        .await?;
                    return self.local_roster_changed(&account, id).await;
                }
                SessionOp::RemoveContact(_) => {
                    self.store
                        .with(move |s| Ok(s.remove_contact(id, &contact)?))
                        .await?;
                    return self.local_roster_changed(&account, id).await;
                }
                SessionOp::ApproveContact(_) => {
                    return Err(CoreError::InvalidInput(
                        "this account keeps its contacts on this device only; approving would \
                         put the contact in the server's roster"
                            .into(),
                    ));
                }
                _ => {}
            }
        }
        self.supervisors.session_op(&account, op(jid)).await?;
        Ok(Reply::Done {})
    }

    async fn local_roster_changed(
        &mut self,
        account: &str,
        id: store::AccountId,
    ) -> Result<Reply, CoreError> {
        let contacts = accounts::local_contacts(&self.shared, id).await;
        self.emit(Event::Roster {
            account: account.to_owned(),
            contacts,
        });
        Ok(Reply::Done {})
    }

    /// Reads (`None`) or sets the server's archiving preference (XEP-0441).
    async fn archiving(
        &mut self,
        account: &str,
        default: Option<String>,
    ) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let op = match default {
            None => SessionOp::Archiving,
            Some(d) if matches!(d.as_str(), "always" | "roster" | "never") => {
                SessionOp::SetArchiving(d)
            }
            Some(d) => {
                return Err(CoreError::InvalidInput(format!(
                    "archiving is always, roster or never, not {d:?}"
                )));
            }
        };
        match self.supervisors.session_op(&account, op).await? {
            OpOutcome::Archiving(archiving) => Ok(Reply::Archiving { archiving }),
            OpOutcome::Done | OpOutcome::UploadSlot(_) => Err(CoreError::Xmpp(
                "the server did not report its archiving preference".into(),
            )),
        }
    }

    /// Corrects (`Some(body)`) or retracts (`None`) one of our own messages: first on the
    /// wire, then in the store, so an offline account changes nothing.
    async fn edit_own(
        &mut self,
        account: &str,
        with: &str,
        origin_id: String,
        body: Option<String>,
    ) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let with = bare_jid(with, "conversation")?;
        let (acc, w, oid) = (account.clone(), with.clone(), origin_id.clone());
        let retract = body.is_none();
        let (target, encryption) = self
            .store
            .with(move |s| {
                let conv = find_conversation(s, &acc, &w)?
                    .ok_or_else(|| CoreError::NotFound(format!("conversation with {w}")))?;
                let id = s
                    .find_by_origin_id(conv.id, &oid)?
                    .ok_or_else(|| CoreError::NotFound(format!("message {oid}")))?;
                let m = s
                    .message(id)?
                    .ok_or_else(|| CoreError::NotFound("message".into()))?;
                if m.direction != store::Direction::Outgoing {
                    return Err(CoreError::InvalidInput(
                        "only your own messages can be corrected or retracted".into(),
                    ));
                }
                // A correction of an encrypted message, or in an encrypted conversation, is
                // encrypted too (never a plaintext copy of the new text).
                let encrypted = conv.encryption != store::EncryptionChoice::Plaintext
                    || m.encryption != store::MessageEncryption::None;
                let encryption = match (encrypted, conv.encryption) {
                    (false, _) => store::EncryptionChoice::Plaintext,
                    // Legacy OMEMO cannot carry a retraction: only inside an OMEMO 2 envelope.
                    (true, _) if retract => store::EncryptionChoice::Omemo2,
                    (true, store::EncryptionChoice::Plaintext) => store::EncryptionChoice::Omemo,
                    (true, c) => c,
                };
                Ok(((conv.id, id), encryption))
            })
            .await?;
        let to = xmpp_parsers::jid::BareJid::new(&with)
            .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
        let correction_id = crate::privacy::ids::random_id();
        let op = match &body {
            Some(b) => SessionOp::Correct {
                to,
                original: origin_id,
                body: b.clone(),
                encryption,
                id: correction_id.clone(),
            },
            None => SessionOp::Retract {
                to,
                original: origin_id,
                encryption,
            },
        };
        self.supervisors.session_op(&account, op).await?;
        let (acc, w) = (account.clone(), with.clone());
        let updated = self
            .store
            .with(move |s| {
                let (conv, id) = target;
                let now = Utc::now();
                if let Some(text) = body {
                    let mut m = store::NewMessage::new(
                        conv,
                        store::Direction::Outgoing,
                        acc.clone(),
                        Some(text),
                        now,
                    );
                    m.origin_id = Some(correction_id);
                    s.apply_correction(id, &m, now)?;
                } else {
                    let by = store::Retractor::Sender {
                        sender: acc.clone(),
                        occupant_id: None,
                    };
                    s.apply_retraction(id, &by)?;
                }
                Ok(s.message(id)?.map(|m| to_event_message(&acc, &w, &m)))
            })
            .await?;
        if let Some(m) = updated {
            self.emit(Event::MessageUpdated(m));
        }
        Ok(Reply::Done {})
    }

    /// A message recipient: a bare JID (contact or room), or a room occupant (`room/nick`,
    /// for private messages) in a room the account has joined.
    async fn recipient(&self, account: &str, to: &str) -> Result<String, CoreError> {
        let jid = xmpp_parsers::jid::Jid::new(to.trim())
            .map_err(|e| CoreError::InvalidInput(format!("recipient is not a valid JID: {e}")))?;
        let Ok(full) = jid.try_into_full() else {
            return bare_jid(to, "recipient");
        };
        let room = full.to_bare().to_string();
        let (acc, r) = (account.to_owned(), room.clone());
        let is_room = self
            .store
            .with(move |s| {
                Ok(find_conversation(s, &acc, &r)?
                    .is_some_and(|c| c.kind == store::ConversationKind::GroupChat))
            })
            .await?;
        if !is_room {
            return Err(CoreError::InvalidInput(format!(
                "{room} is not a room of this account; write to a bare JID"
            )));
        }
        Ok(full.to_string())
    }

    async fn send(&mut self, account: &str, to: &str, body: String) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let to = self.recipient(&account, to).await?;
        if body.trim().is_empty() {
            return Err(CoreError::InvalidInput("the message is empty".into()));
        }
        let origin_id = crate::privacy::ids::random_id();
        let (acc, peer) = (account.clone(), to.clone());
        let (is_room, plaintext) = self
            .store
            .with(move |s| {
                let c = find_conversation(s, &acc, &peer)?;
                Ok((
                    c.as_ref()
                        .is_some_and(|c| c.kind == store::ConversationKind::GroupChat),
                    c.is_some_and(|c| c.encryption == store::EncryptionChoice::Plaintext),
                ))
            })
            .await?;
        let kind = if is_room { "groupchat" } else { "chat" };
        // Whether the message may go in plaintext is decided now, by the user's setting at the
        // time of writing: a message queued encrypted is never sent in plaintext later.
        let payload = serde_json::to_vec(&serde_json::json!({
            "to": to, "body": body, "kind": kind, "plaintext": plaintext,
        }))
        .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
        let (acc, with, oid) = (account.clone(), to.clone(), origin_id.clone());
        let stored = self
            .store
            .with(move |s| {
                let now = Utc::now();
                let outgoing = Outgoing {
                    account: &acc,
                    with: &with,
                    origin_id: &oid,
                    payload: &payload,
                    body: body.clone(),
                    plaintext,
                };
                Ok(store_outgoing(s, &outgoing, None, now)?.ok_or((acc, with, body, now)))
            })
            .await?;
        let message = match stored {
            Ok(m) => m,
            Err((acc, with, body, now)) => {
                let mut ephemeral = lock(&self.shared.ephemeral);
                let m = ephemeral.remember(StoredMessage {
                    id: 0,
                    account: acc.clone(),
                    with,
                    direction: "out".into(),
                    from: acc,
                    body,
                    timestamp_ms: now.timestamp_millis(),
                    encryption: if plaintext { "none" } else { "pending" }.into(),
                    corrected: false,
                    retracted: false,
                    origin_id: None,
                    notes: crate::core::events::MessageNotes::default(),
                });
                if !plaintext {
                    ephemeral.await_encryption(&origin_id, &m);
                }
                m
            }
        };
        self.emit(Event::Message(message));
        self.supervisors.flush(&account);
        Ok(Reply::Queued { origin_id })
    }

    /// The account's id and OMEMO state.
    async fn omemo_of(
        &self,
        account: &str,
    ) -> Result<(store::AccountId, crate::core::omemo::OmemoRef), CoreError> {
        let account = bare_jid(account, "account")?;
        let id = self
            .store
            .with(move |s| Ok(find_account(s, &account)?.id))
            .await?;
        Ok((id, crate::core::omemo::load(&self.shared, id).await?))
    }

    async fn devices(&mut self, account: &str, jid: Option<String>) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let jid = jid.map(|j| bare_jid(&j, "contact")).transpose()?;
        let (_, st) = self.omemo_of(&account).await?;
        let target = jid.clone().unwrap_or_else(|| account.clone());
        // Fresh lists and fingerprints when online; what is known otherwise.
        if let Err(e) = self
            .supervisors
            .session_op(&account, SessionOp::RefreshDevices(target))
            .await
        {
            tracing::debug!(error = %e, "devices: showing what is known");
        }
        Ok(Reply::Devices {
            devices: crate::core::omemo::devices(&st, &account, jid.as_deref()),
        })
    }

    /// `check_keys`: the cached "no list" answers about `jids` are forgotten and their lists
    /// fetched now (`RefreshDevices`), then the outbox is flushed.
    async fn check_keys(
        &mut self,
        account: &str,
        with: &str,
        jids: Vec<String>,
    ) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let with = bare_jid(with, "conversation")?;
        let mut jids = jids
            .iter()
            .map(|j| bare_jid(j, "contact"))
            .collect::<Result<Vec<_>, _>>()?;
        let members = self.shared.rooms.recipients(&account, &with);
        if jids.is_empty() {
            jids.clone_from(&members);
        }
        if jids.is_empty() {
            jids.push(with.clone());
        }
        let (_, st) = self.omemo_of(&account).await?;
        for jid in &jids {
            self.supervisors
                .session_op(&account, SessionOp::RefreshDevices(jid.clone()))
                .await?;
        }
        self.supervisors.flush(&account);
        let (with_keys, without_keys) = crate::core::omemo::who_has_keys(&st, jids);
        if !members.is_empty() {
            self.room_keys_checked(&account, &with, &members, &with_keys, &without_keys);
        }
        Ok(Reply::KeysChecked {
            with_keys,
            without_keys,
        })
    }

    /// The room audit's members without keys follow what `check_keys` found about `members`.
    fn room_keys_checked(
        &self,
        account: &str,
        room: &str,
        members: &[String],
        with_keys: &[String],
        without_keys: &[String],
    ) {
        let rooms = &self.shared.rooms;
        let before = rooms.keys_missing(account, room);
        let mut after: Vec<String> = before
            .iter()
            .filter(|j| !with_keys.contains(j))
            .chain(without_keys.iter().filter(|j| members.contains(j)))
            .cloned()
            .collect();
        after.sort();
        after.dedup();
        if after == before {
            return;
        }
        if let Some(audit) = rooms.set_keys_missing(account, room, after) {
            self.emit(Event::RoomAudit(audit));
        }
    }

    /// Sends a chat state or marker through the account's session when the conversation
    /// shares activity; nothing (and no error, not even offline) when it does not.
    async fn activity_op(
        &mut self,
        account: &str,
        with: &str,
        what: crate::core::activity::Outgoing,
    ) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let with = bare_jid(with, "conversation")?;
        if !crate::core::activity::shares(&self.shared, &account, &with).await {
            return Ok(Reply::Done {});
        }
        let peer = xmpp_parsers::jid::BareJid::new(&with)
            .map_err(|e| CoreError::InvalidInput(format!("conversation: {e}")))?;
        self.supervisors
            .session_op(&account, SessionOp::Activity(peer, what))
            .await?;
        Ok(Reply::Done {})
    }

    async fn set_encryption(
        &mut self,
        account: &str,
        conversation: &str,
        enabled: bool,
        version: Option<&str>,
    ) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        // A contact, a room, or a room occupant (private messages).
        let with = self.recipient(&account, conversation).await?;
        let choice = match (enabled, version) {
            (false, _) => store::EncryptionChoice::Plaintext,
            (true, None | Some("auto")) => store::EncryptionChoice::Omemo,
            (true, Some("omemo2")) => store::EncryptionChoice::Omemo2,
            (true, Some("omemo" | "legacy")) => store::EncryptionChoice::OmemoLegacy,
            (true, Some(other)) => {
                return Err(CoreError::InvalidInput(format!(
                    "unknown OMEMO version {other:?} (omemo2, omemo or auto)"
                )));
            }
        };
        let w = with.clone();
        self.store
            .with(move |s| {
                let a = find_account(s, &account)?;
                // A room not yet written to keeps its kind (rooms are remembered when joined).
                let kind = if s.list_rooms(a.id)?.iter().any(|r| r.jid == w) {
                    store::ConversationKind::GroupChat
                } else {
                    store::ConversationKind::Chat
                };
                let c = s.upsert_conversation(a.id, &w, kind, Utc::now())?;
                s.set_conversation_encryption(c, choice)?;
                Ok(())
            })
            .await?;
        if enabled {
            Ok(Reply::Done {})
        } else {
            Ok(Reply::Warning {
                warning: format!(
                    "End-to-end encryption is OFF for {with}: new messages go in plaintext, \
                     readable by both servers (still inside TLS and Tor). Messages already queued \
                     stay encrypted."
                ),
            })
        }
    }

    async fn history(
        &mut self,
        account: &str,
        with: &str,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Reply, CoreError> {
        let account = bare_jid(account, "account")?;
        let with = bare_jid(with, "conversation")?;
        let limit = limit.unwrap_or(50).min(10_000) as usize;
        if limit == 0 {
            return Ok(Reply::History {
                messages: Vec::new(),
            });
        }
        let (acc, w) = (account.clone(), with.clone());
        let mut messages = self
            .store
            .with(move |s| {
                let Some(conv) = find_conversation(s, &acc, &w)? else {
                    return Ok(Vec::new());
                };
                let before = before.filter(|b| *b > 0).map(store::MessageId);
                Ok(s.history(conv.id, before, limit)?
                    .iter()
                    .map(|m| to_event_message(&acc, &w, m))
                    .collect::<Vec<_>>())
            })
            .await?;
        let mem = lock(&self.shared.ephemeral).of(&account, &with);
        if !mem.is_empty() {
            messages.extend(mem);
            messages.sort_by_key(|m| m.timestamp_ms);
            let excess = messages.len().saturating_sub(limit);
            messages.drain(..excess);
        }
        Ok(Reply::History { messages })
    }

    async fn clear_history(
        &mut self,
        account: Option<String>,
        with: Option<String>,
    ) -> Result<Reply, CoreError> {
        let account = account.map(|a| bare_jid(&a, "account")).transpose()?;
        let with = with.map(|w| bare_jid(&w, "conversation")).transpose()?;
        if account.is_none() && with.is_some() {
            return Err(CoreError::InvalidInput(
                "a conversation needs its account".into(),
            ));
        }
        lock(&self.shared.ephemeral).forget(|a, w| match (&account, &with) {
            (None, _) => true,
            (Some(acc), None) => a == acc,
            (Some(acc), Some(wi)) => a == acc && w == wi,
        });
        let erased = self
            .store
            .with(move |s| {
                let scope = match (account, with) {
                    (None, _) => HistoryScope::All,
                    (Some(acc), None) => HistoryScope::Account(find_account(s, &acc)?.id),
                    (Some(acc), Some(w)) => match find_conversation(s, &acc, &w)? {
                        Some(c) => HistoryScope::Conversation(c.id),
                        None => return Ok(0),
                    },
                };
                Ok(s.clear_history(scope)?)
            })
            .await?;
        Ok(Reply::Erased {
            erased: erased as u64,
        })
    }
}

/// Front ends' preferences live under this prefix in the store's settings.
const UI_PREFERENCE_PREFIX: &str = "ui.";

/// Refuses a preference key that is not `ui.` followed by a name (at most 512 bytes in all) or
/// that holds a control character, and a value holding a control character (tab and newline
/// included: preferences are single-line values) or a non-character.
fn check_preference(key: &str, value: Option<&str>) -> Result<(), CoreError> {
    let name = key.strip_prefix(UI_PREFERENCE_PREFIX).unwrap_or_default();
    if name.is_empty() || key.len() > 512 {
        return Err(CoreError::InvalidInput(format!(
            "preference keys are {UI_PREFERENCE_PREFIX:?} followed by a name, at most 512 bytes"
        )));
    }
    let bad = |t: &str| {
        t.chars()
            .find(|&c| c.is_control() || !crate::xmpp::xml_text::is_xml_char(c))
    };
    for (what, text) in [("key", Some(key)), ("value", value)] {
        if let Some(c) = text.and_then(bad) {
            return Err(CoreError::InvalidInput(format!(
                "the preference {what} contains {}, a control character or non-character; remove it and try again",
                crate::xmpp::xml_text::describe(c)
            )));
        }
    }
    Ok(())
}

/// Preferences a front end may read, and the commands that set them.
impl Actor {
    fn circuit(&self, account: &str) -> Reply {
        let circuit = self.shared.tor().and_then(|tor| {
            let iso = lock(&self.shared.isolations).get(account).cloned()?;
            tor.circuit_of(&iso)
        });
        Reply::Circuit {
            circuit: circuit.map(|c| CircuitSummary {
                id: c.id,
                hops: c
                    .hops
                    .into_iter()
                    .map(|h| RelaySummary {
                        rsa_identity: h.rsa_identity,
                        addrs: h.addrs.iter().map(ToString::to_string).collect(),
                    })
                    .collect(),
            }),
        }
    }

    async fn set_idle_lock(&mut self, minutes: u32) -> Result<Reply, CoreError> {
        if !(1..=1440).contains(&minutes) {
            return Err(CoreError::InvalidInput(
                "the idle lock must be 1 to 1440 minutes".into(),
            ));
        }
        let value = minutes.to_string();
        self.store
            .with(move |s| Ok(s.set_setting(store::keys::LOCK_IDLE_MINUTES, Some(&value))?))
            .await?;
        self.options.idle_lock = Duration::from_secs(u64::from(minutes) * 60);
        Ok(Reply::Done {})
    }

    /// Applies the idle lock kept in the store (the command-line value is the default).
    async fn apply_stored_idle_lock(&mut self) {
        let stored = self
            .store
            .with(|s| Ok(s.setting(store::keys::LOCK_IDLE_MINUTES)?))
            .await;
        if let Ok(Some(minutes)) = stored
            && let Ok(minutes) = minutes.parse::<u64>()
            && (1..=1440).contains(&minutes)
        {
            self.options.idle_lock = Duration::from_secs(minutes * 60);
        }
    }

    async fn set_preference(
        &mut self,
        key: String,
        value: Option<String>,
    ) -> Result<Reply, CoreError> {
        check_preference(&key, value.as_deref())?;
        self.store
            .with(move |s| Ok(s.set_setting(&key, value.as_deref())?))
            .await?;
        Ok(Reply::Done {})
    }

    async fn preferences(&self) -> Result<Reply, CoreError> {
        let idle_minutes = (self.options.idle_lock.as_secs() / 60).max(1).to_string();
        let mut preferences = self
            .store
            .with(|s| Ok(s.settings_with_prefix(UI_PREFERENCE_PREFIX)?))
            .await?;
        preferences.insert(store::keys::LOCK_IDLE_MINUTES.to_owned(), idle_minutes);
        Ok(Reply::Preferences { preferences })
    }

    async fn conversation_retention(&self, account: &str, with: &str) -> Result<Reply, CoreError> {
        let (account, with) = (
            bare_jid(account, "account")?,
            bare_jid(with, "conversation")?,
        );
        self.store
            .with(move |s| {
                let found = find_conversation(s, &account, &with)?;
                let effective = match &found {
                    Some(c) => s.effective_retention(c.id)?,
                    None => find_account(s, &account)?.retention,
                };
                Ok(Reply::ConversationRetention {
                    retention_override: found
                        .and_then(|c| c.retention)
                        .map(|r| r.as_str().to_owned()),
                    effective: effective.as_str().to_owned(),
                })
            })
            .await
    }
}
