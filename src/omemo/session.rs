//! The session manager: pure (no network), one per account. Owns the device identity, the
//! signed prekey and one-time prekeys of each version, the sessions with peer devices and the
//! trust store. The whole state serializes to one blob for the encrypted store.

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keys::{CurveSecret, IdentityKeyPair};
use super::ratchet::DoubleRatchet;
use super::trust::{IdentityEvent, TrustPolicy, TrustStore};
use super::wire::{self, EncryptedElement, EncryptedKey};
use super::x3dh::{self, IdentityKey, KeyExchangeHeader, PreKeyBundle};
use super::{OmemoError, OmemoVersion, payload};

/// Number of one-time prekeys kept available in each bundle.
pub const PREKEY_COUNT: usize = 100;

/// A signed prekey and the one-time prekeys of one version.
#[derive(Clone, Serialize, Deserialize)]
pub struct PreKeyStore {
    version: OmemoVersion,
    signed_prekey_id: u32,
    signed_prekey: CurveSecret,
    signature: Vec<u8>,
    prekeys: Vec<(u32, CurveSecret)>,
    next_prekey_id: u32,
    /// The previous signed prekey, kept for one rotation period for key exchanges in flight.
    #[serde(default)]
    previous_signed_prekey: Option<(u32, CurveSecret)>,
    /// One-time prekeys already used: out of the bundle, kept for decryption until
    /// [`SessionManager::delete_used_prekeys`] (after the offline/MAM catch-up, XEP-0384).
    #[serde(default)]
    used_prekeys: Vec<(u32, CurveSecret)>,
}

impl PreKeyStore {
    /// Fresh keys: signed prekey id 1 and [`PREKEY_COUNT`] one-time prekeys.
    pub fn generate<R: RngCore + CryptoRng>(
        version: OmemoVersion,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) -> Self {
        let spk = CurveSecret::generate(rng);
        let mut store = Self::from_parts(version, identity, 1, spk, Vec::new());
        store.replenish(rng);
        store
    }

    /// Existing keys (e.g. restored, or imported for known-answer tests); the signature is made here.
    pub fn from_parts(
        version: OmemoVersion,
        identity: &IdentityKeyPair,
        signed_prekey_id: u32,
        signed_prekey: CurveSecret,
        prekeys: Vec<(u32, CurveSecret)>,
    ) -> Self {
        let signature =
            x3dh::sign_signed_prekey(identity, version, &signed_prekey.public()).to_vec();
        let next_prekey_id = prekeys.iter().map(|(id, _)| *id).max().unwrap_or(0) + 1;
        Self {
            version,
            signed_prekey_id,
            signed_prekey,
            signature,
            prekeys,
            next_prekey_id,
            previous_signed_prekey: None,
            used_prekeys: Vec::new(),
        }
    }

    /// Replaces the signed prekey (id + 1), keeping the previous one for one more rotation.
    pub fn rotate_signed_prekey<R: RngCore + CryptoRng>(
        &mut self,
        identity: &IdentityKeyPair,
        rng: &mut R,
    ) {
        let new = CurveSecret::generate(rng);
        self.signature = x3dh::sign_signed_prekey(identity, self.version, &new.public()).to_vec();
        let old = std::mem::replace(&mut self.signed_prekey, new);
        self.previous_signed_prekey = Some((self.signed_prekey_id, old));
        self.signed_prekey_id = self.signed_prekey_id.wrapping_add(1).max(1);
    }

    fn signed_prekey_by_id(&self, id: u32) -> Option<&CurveSecret> {
        if id == self.signed_prekey_id {
            return Some(&self.signed_prekey);
        }
        self.previous_signed_prekey
            .as_ref()
            .filter(|(old, _)| *old == id)
            .map(|(_, k)| k)
    }

    fn replenish<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> bool {
        let mut changed = false;
        while self.prekeys.len() < PREKEY_COUNT {
            self.prekeys
                .push((self.next_prekey_id, CurveSecret::generate(rng)));
            self.next_prekey_id += 1;
            changed = true;
        }
        changed
    }

    /// Number of one-time prekeys available.
    pub fn prekey_count(&self) -> usize {
        self.prekeys.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Role {
    Initiator,
    Responder,
}

#[derive(Clone, Serialize, Deserialize)]
struct PeerSession {
    version: OmemoVersion,
    jid: String,
    device_id: u32,
    role: Role,
    associated_data: Vec<u8>,
    ratchet: DoubleRatchet,
    /// Initiator: the key exchange to repeat until the peer answers. Responder: the key exchange
    /// that built this session (to recognise it when it arrives again).
    key_exchange: KeyExchangeHeaderState,
    confirmed: bool,
    /// An empty message is owed to this device (its key exchange, or a long receiving chain,
    /// went unanswered); cleared by anything we encrypt to it.
    #[serde(default)]
    heartbeat_due: bool,
}

#[derive(Clone, Serialize, Deserialize)]
struct KeyExchangeHeaderState {
    identity: IdentityKey,
    ephemeral: [u8; 32],
    prekey_id: u32,
    signed_prekey_id: u32,
}

impl From<&KeyExchangeHeader> for KeyExchangeHeaderState {
    fn from(h: &KeyExchangeHeader) -> Self {
        Self {
            identity: h.identity,
            ephemeral: h.ephemeral.0,
            prekey_id: h.prekey_id,
            signed_prekey_id: h.signed_prekey_id,
        }
    }
}

impl KeyExchangeHeaderState {
    fn to_header(&self) -> KeyExchangeHeader {
        KeyExchangeHeader {
            identity: self.identity,
            ephemeral: super::keys::CurvePublic(self.ephemeral),
            prekey_id: self.prekey_id,
            signed_prekey_id: self.signed_prekey_id,
        }
    }

    fn same_as(&self, h: &KeyExchangeHeader) -> bool {
        self.identity == h.identity
            && self.ephemeral == h.ephemeral.0
            && self.prekey_id == h.prekey_id
            && self.signed_prekey_id == h.signed_prekey_id
    }
}

/// Legacy MACs cover sender ‖ receiver identity; OMEMO 2 always initiator ‖ responder.
/// Borrowed (no copy per device and message); a free function so the ratchet beside it can be
/// borrowed mutably at the same time.
fn associated_data(
    version: OmemoVersion,
    role: Role,
    stored: &[u8],
    sending: bool,
) -> std::borrow::Cow<'_, [u8]> {
    let swap = version == OmemoVersion::Legacy && (sending == (role == Role::Responder));
    if swap {
        let half = stored.len() / 2;
        std::borrow::Cow::Owned([&stored[half..], &stored[..half]].concat())
    } else {
        std::borrow::Cow::Borrowed(stored)
    }
}

/// A peer device addressed by an outgoing message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceAddress {
    /// Bare JID.
    pub jid: String,
    /// Device id.
    pub device_id: u32,
}

/// Result of [`SessionManager::encrypt`].
pub struct Encrypted {
    /// The `<encrypted/>` content, for the devices that could be served.
    pub element: EncryptedElement,
    /// Devices that were left out, and why (no session, untrusted). Shown to the user.
    pub skipped: Vec<(DeviceAddress, OmemoError)>,
}

/// Result of [`SessionManager::decrypt`].
pub struct Decrypted {
    /// The plaintext; `None` for an empty (key transport / heartbeat) message.
    pub plaintext: Option<Zeroizing<Vec<u8>>>,
    /// What the sender's identity key told the trust store, for a new session.
    pub identity_event: Option<IdentityEvent>,
    /// Whether the sender is trusted under the current policy.
    pub trusted: bool,
    /// A one-time prekey was consumed: the own bundle must be republished.
    pub bundle_changed: bool,
    /// A new session was built from the sender's key exchange, or more than
    /// [`STALENESS_LIMIT`] messages arrived on one chain without an answer: unless a reply is
    /// sent soon, answer with [`SessionManager::heartbeat`] so the sender stops repeating its
    /// key exchange / its ratchet moves on (XEP-0384). The session remembers it (see
    /// [`SessionManager::due_heartbeats`]) until something is encrypted to that device.
    pub needs_heartbeat: bool,
}

/// The OMEMO state of one account's device.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionManager {
    device_id: u32,
    identity: IdentityKeyPair,
    legacy: PreKeyStore,
    v2: PreKeyStore,
    sessions: Vec<PeerSession>,
    trust: TrustStore,
    /// Ephemeral keys of the key exchanges accepted (bounded): a replayed key exchange is
    /// refused even while its prekey is still kept.
    #[serde(default)]
    seen_key_exchanges: Vec<[u8; 32]>,
}

/// More messages than this received on one chain without an answer make a heartbeat due
/// (python-omemo's `STALENESS_MAGIC_NUMBER`): the ratchet only moves on when we send.
pub const STALENESS_LIMIT: u32 = 53;

/// Most accepted key exchanges remembered for replay detection.
const SEEN_KEY_EXCHANGES: usize = 2000;

impl SessionManager {
    /// A new device: random device id (1 ..= 2^31 − 1), identity, signed prekeys and prekeys.
    pub fn generate<R: RngCore + CryptoRng>(policy: TrustPolicy, rng: &mut R) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let device_id = (rng.next_u32() & 0x7fff_ffff).max(1);
        let legacy = PreKeyStore::generate(OmemoVersion::Legacy, &identity, rng);
        let v2 = PreKeyStore::generate(OmemoVersion::V2, &identity, rng);
        Self::from_parts(device_id, identity, legacy, v2, policy)
    }

    /// A device from existing keys.
    pub fn from_parts(
        device_id: u32,
        identity: IdentityKeyPair,
        legacy: PreKeyStore,
        v2: PreKeyStore,
        policy: TrustPolicy,
    ) -> Self {
        Self {
            device_id,
            identity,
            legacy,
            v2,
            sessions: Vec::new(),
            trust: TrustStore::new(policy),
            seen_key_exchanges: Vec::new(),
        }
    }

    /// This device's id.
    pub fn device_id(&self) -> u32 {
        self.device_id
    }

    /// This device's identity key as `version` publishes it.
    pub fn identity_key(&self, version: OmemoVersion) -> IdentityKey {
        IdentityKey::own(&self.identity, version)
    }

    /// Own fingerprint (8 groups of 8 hex digits).
    pub fn own_fingerprint(&self) -> String {
        IdentityKey::own(&self.identity, OmemoVersion::V2)
            .fingerprint()
            .unwrap_or_default()
    }

    /// The trust store (read).
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// The trust store (manual verification, policy).
    pub fn trust_mut(&mut self) -> &mut TrustStore {
        &mut self.trust
    }

    fn prekeys(&self, version: OmemoVersion) -> &PreKeyStore {
        match version {
            OmemoVersion::Legacy => &self.legacy,
            OmemoVersion::V2 => &self.v2,
        }
    }

    fn prekeys_mut(&mut self, version: OmemoVersion) -> &mut PreKeyStore {
        match version {
            OmemoVersion::Legacy => &mut self.legacy,
            OmemoVersion::V2 => &mut self.v2,
        }
    }

    /// The own bundle to publish for `version`.
    pub fn bundle(&self, version: OmemoVersion) -> PreKeyBundle {
        let store = self.prekeys(version);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&store.signature);
        PreKeyBundle {
            identity: self.identity_key(version),
            signed_prekey_id: store.signed_prekey_id,
            signed_prekey: store.signed_prekey.public(),
            signed_prekey_signature: sig,
            prekeys: store
                .prekeys
                .iter()
                .map(|(id, k)| (*id, k.public()))
                .collect(),
        }
    }

    /// Number of one-time prekeys available for `version`.
    pub fn prekey_count(&self, version: OmemoVersion) -> usize {
        self.prekeys(version).prekey_count()
    }

    fn session_index(&self, version: OmemoVersion, jid: &str, device_id: u32) -> Option<usize> {
        self.sessions
            .iter()
            // The random device id first: it rules out nearly every other session at once.
            .position(|s| s.device_id == device_id && s.version == version && s.jid == jid)
    }

    /// Whether a session exists with that device.
    pub fn has_session(&self, version: OmemoVersion, jid: &str, device_id: u32) -> bool {
        self.session_index(version, jid, device_id).is_some()
    }

    /// Starts a session from a peer's bundle (verifies its signed prekey). The first message to
    /// the device will carry the key exchange.
    pub fn start_session<R: RngCore + CryptoRng>(
        &mut self,
        version: OmemoVersion,
        jid: &str,
        device_id: u32,
        bundle: &PreKeyBundle,
        rng: &mut R,
    ) -> Result<IdentityEvent, OmemoError> {
        let (secret, header) = x3dh::initiate(version, &self.identity, bundle, rng)?;
        let ratchet = DoubleRatchet::initiate(version, &secret.secret, bundle.signed_prekey, rng)?;
        let event = self.trust.observe(jid, device_id, &bundle.identity)?;
        let session = PeerSession {
            version,
            jid: jid.to_owned(),
            device_id,
            role: Role::Initiator,
            associated_data: secret.associated_data,
            ratchet,
            key_exchange: (&header).into(),
            confirmed: false,
            heartbeat_due: false,
        };
        match self.session_index(version, jid, device_id) {
            Some(i) => self.sessions[i] = session,
            None => self.sessions.push(session),
        }
        Ok(event)
    }

    /// Encrypts `plaintext` (legacy: the body; OMEMO 2: an SCE envelope) for each recipient
    /// device that has a session and is trusted. Devices left out are listed, never silently.
    pub fn encrypt<R: RngCore + CryptoRng>(
        &mut self,
        version: OmemoVersion,
        plaintext: &[u8],
        recipients: &[DeviceAddress],
        rng: &mut R,
    ) -> Result<Encrypted, OmemoError> {
        let sealed = payload::seal(version, plaintext, rng);
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for r in recipients {
            let Some(i) = self.session_index(version, &r.jid, r.device_id) else {
                skipped.push((r.clone(), OmemoError::NoSession(r.device_id)));
                continue;
            };
            if !self.trust.is_trusted(&r.jid, r.device_id) {
                skipped.push((r.clone(), OmemoError::Untrusted(r.device_id)));
                continue;
            }
            let s = &mut self.sessions[i];
            s.heartbeat_due = false;
            let ad = associated_data(s.version, s.role, &s.associated_data, true);
            let message = s.ratchet.encrypt(&sealed.key_material, &ad);
            let (data, key_exchange) = if s.role == Role::Initiator && !s.confirmed {
                (
                    wire::encode_key_exchange(version, &s.key_exchange.to_header(), message)?,
                    true,
                )
            } else {
                (message, false)
            };
            let jid = (version == OmemoVersion::V2).then(|| r.jid.clone());
            keys.push(EncryptedKey {
                jid,
                rid: r.device_id,
                key_exchange,
                data,
            });
        }
        Ok(Encrypted {
            element: EncryptedElement {
                sid: self.device_id,
                keys,
                iv: sealed.iv.clone(),
                payload: Some(sealed.ciphertext.clone()),
            },
            skipped,
        })
    }

    /// An empty OMEMO message (no payload) to one device: it advances the ratchet and confirms a
    /// session the peer initiated. Trust is not required: it carries no content.
    pub fn heartbeat<R: RngCore + CryptoRng>(
        &mut self,
        version: OmemoVersion,
        to: &DeviceAddress,
        rng: &mut R,
    ) -> Result<EncryptedElement, OmemoError> {
        let i = self
            .session_index(version, &to.jid, to.device_id)
            .ok_or(OmemoError::NoSession(to.device_id))?;
        let sealed = payload::seal(version, b"", rng);
        let s = &mut self.sessions[i];
        s.heartbeat_due = false;
        let ad = associated_data(s.version, s.role, &s.associated_data, true);
        let message = s.ratchet.encrypt(&sealed.key_material, &ad);
        let (data, key_exchange) = if s.role == Role::Initiator && !s.confirmed {
            (
                wire::encode_key_exchange(version, &s.key_exchange.to_header(), message)?,
                true,
            )
        } else {
            (message, false)
        };
        let jid = (version == OmemoVersion::V2).then(|| to.jid.clone());
        Ok(EncryptedElement {
            sid: self.device_id,
            keys: vec![EncryptedKey {
                jid,
                rid: to.device_id,
                key_exchange,
                data,
            }],
            iv: sealed.iv.clone(),
            payload: None,
        })
    }

    /// The devices owed a heartbeat (see [`Decrypted::needs_heartbeat`]) — after an offline
    /// (MAM) catch-up, one empty message each, unless a message to them went out meanwhile.
    pub fn due_heartbeats(&self) -> Vec<(OmemoVersion, DeviceAddress)> {
        self.sessions
            .iter()
            .filter(|s| s.heartbeat_due)
            .map(|s| {
                (
                    s.version,
                    DeviceAddress {
                        jid: s.jid.clone(),
                        device_id: s.device_id,
                    },
                )
            })
            .collect()
    }

    /// Deletes the private keys of used one-time prekeys. Call once the offline catch-up (MAM)
    /// is done, so key exchanges that were in flight could still be read (XEP-0384).
    pub fn delete_used_prekeys(&mut self) {
        self.legacy.used_prekeys.clear();
        self.v2.used_prekeys.clear();
    }

    /// Rotates the signed prekey of `version` (the previous one stays usable for one period).
    pub fn rotate_signed_prekey<R: RngCore + CryptoRng>(
        &mut self,
        version: OmemoVersion,
        rng: &mut R,
    ) {
        let identity = self.identity.clone();
        self.prekeys_mut(version)
            .rotate_signed_prekey(&identity, rng);
    }

    /// Decrypts an `<encrypted/>` element sent by `sender_jid`, addressed to this device of
    /// `own_jid`. Replays and duplicates fail with [`OmemoError::Duplicate`] (or an
    /// authentication error) and leave all state unchanged.
    pub fn decrypt<R: RngCore + CryptoRng>(
        &mut self,
        version: OmemoVersion,
        sender_jid: &str,
        own_jid: &str,
        element: &EncryptedElement,
        rng: &mut R,
    ) -> Result<Decrypted, OmemoError> {
        let key = element
            .key_for(Some(own_jid), self.device_id)
            .ok_or(OmemoError::NotForThisDevice)?;
        let sid = element.sid;
        let mut identity_event = None;
        let mut bundle_changed = false;
        let key_material = if key.key_exchange {
            let (header, message) = wire::decode_key_exchange(version, &key.data)?;
            let existing = self.session_index(version, sender_jid, sid).filter(|&i| {
                self.sessions[i].role == Role::Responder
                    && self.sessions[i].key_exchange.same_as(&header)
            });
            if let Some(i) = existing {
                // The same key exchange again (XEP-0384: the sender repeats it until answered):
                // continue the session it built.
                let s = &mut self.sessions[i];
                let ad = associated_data(s.version, s.role, &s.associated_data, false);
                s.ratchet.decrypt(&message, &ad, rng)?
            } else {
                if self.seen_key_exchanges.contains(&header.ephemeral.0) {
                    return Err(OmemoError::Duplicate);
                }
                let (session, km) =
                    self.accept_key_exchange(version, sender_jid, sid, &header, &message, rng)?;
                identity_event = Some(self.trust.observe(sender_jid, sid, &header.identity)?);
                self.seen_key_exchanges.push(header.ephemeral.0);
                if self.seen_key_exchanges.len() > SEEN_KEY_EXCHANGES {
                    self.seen_key_exchanges.remove(0);
                }
                let store = self.prekeys_mut(version);
                if let Some(pos) = store
                    .prekeys
                    .iter()
                    .position(|(id, _)| *id == header.prekey_id)
                {
                    let used = store.prekeys.remove(pos);
                    store.used_prekeys.push(used);
                }
                store.replenish(rng);
                bundle_changed = true;
                match self.session_index(version, sender_jid, sid) {
                    Some(i) => self.sessions[i] = session,
                    None => self.sessions.push(session),
                }
                km
            }
        } else {
            let i = self
                .session_index(version, sender_jid, sid)
                .ok_or(OmemoError::NoSession(sid))?;
            let s = &mut self.sessions[i];
            let ad = associated_data(s.version, s.role, &s.associated_data, false);
            let km = s.ratchet.decrypt(&key.data, &ad, rng)?;
            s.confirmed = true;
            km
        };
        let plaintext = match &element.payload {
            Some(p) => Some(payload::open(version, &key_material, &element.iv, p)?),
            None => None,
        };
        // Any key exchange (also one repeated because our answer was lost) is answered.
        let mut needs_heartbeat = key.key_exchange;
        if let Some(i) = self.session_index(version, sender_jid, sid) {
            let s = &mut self.sessions[i];
            needs_heartbeat |= s
                .ratchet
                .receiving_chain_length()
                .is_some_and(|n| n > STALENESS_LIMIT);
            s.heartbeat_due |= needs_heartbeat;
        }
        Ok(Decrypted {
            plaintext,
            identity_event,
            trusted: self.trust.is_trusted(sender_jid, sid),
            needs_heartbeat,
            bundle_changed,
        })
    }

    fn accept_key_exchange<R: RngCore + CryptoRng>(
        &self,
        version: OmemoVersion,
        jid: &str,
        device_id: u32,
        header: &KeyExchangeHeader,
        message: &[u8],
        rng: &mut R,
    ) -> Result<(PeerSession, Zeroizing<Vec<u8>>), OmemoError> {
        let store = self.prekeys(version);
        let signed_prekey = store
            .signed_prekey_by_id(header.signed_prekey_id)
            .ok_or(OmemoError::UnknownPreKey(header.signed_prekey_id))?;
        let (_, prekey) = store
            .prekeys
            .iter()
            .chain(&store.used_prekeys)
            .find(|(id, _)| *id == header.prekey_id)
            .ok_or(OmemoError::UnknownPreKey(header.prekey_id))?;
        let secret = x3dh::respond(
            version,
            &self.identity,
            signed_prekey,
            prekey,
            &header.identity,
            &header.ephemeral,
        )?;
        // The responder receives: legacy MACs sender ‖ receiver = initiator ‖ responder, as stored.
        let (ratchet, km) = DoubleRatchet::respond(
            version,
            &secret.secret,
            signed_prekey,
            message,
            &secret.associated_data,
            rng,
        )?;
        let session = PeerSession {
            version,
            jid: jid.to_owned(),
            device_id,
            role: Role::Responder,
            associated_data: secret.associated_data,
            ratchet,
            key_exchange: header.into(),
            confirmed: true,
            heartbeat_due: false,
        };
        Ok((session, km))
    }

    /// Serializes the whole state (secrets included) for the encrypted store.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, OmemoError> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|_| OmemoError::State)
    }

    /// Restores a state written by [`SessionManager::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OmemoError> {
        serde_json::from_slice(bytes).map_err(|_| OmemoError::State)
    }
}
