//! Device trust: blind trust before verification (default) or strict, manual verification, and
//! detection of identity keys that change under a known device id.

use serde::{Deserialize, Serialize};

use super::OmemoError;
use super::keys::CurvePublic;
use super::x3dh::IdentityKey;

/// How unverified devices are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrustPolicy {
    /// New devices of a contact are trusted until one of that contact's devices is verified;
    /// from then on only verified devices are.
    BlindTrustBeforeVerification,
    /// Only manually verified devices are trusted.
    Strict,
}

/// The user's decision about one device identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrustLevel {
    /// Not decided; trusted only under blind trust.
    Undecided,
    /// Fingerprint verified by the user.
    Verified,
    /// Explicitly distrusted by the user.
    Distrusted,
    /// The device id showed a different identity key than the one on record: needs the user.
    Changed,
}

/// What observing a device's identity key revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityEvent {
    /// First time this device is seen.
    New {
        /// Its fingerprint (8 groups of 8 hex digits).
        fingerprint: String,
    },
    /// The identity on record.
    Known,
    /// A different identity key under a known device id. The new key is never trusted silently:
    /// its level is [`TrustLevel::Changed`] until the user decides.
    Changed {
        /// Fingerprint on record.
        old_fingerprint: String,
        /// Fingerprint now presented.
        new_fingerprint: String,
        /// Whether the old identity had been verified.
        old_was_verified: bool,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    jid: String,
    device_id: u32,
    identity: CurvePublic,
    level: TrustLevel,
}

/// Trust decisions for all known peer devices; serializable for the encrypted store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustStore {
    policy: TrustPolicy,
    entries: Vec<Entry>,
}

fn fp(c: &CurvePublic) -> String {
    IdentityKey::Curve(*c).fingerprint().unwrap_or_default()
}

impl TrustStore {
    /// An empty store with the given policy.
    pub fn new(policy: TrustPolicy) -> Self {
        Self {
            policy,
            entries: Vec::new(),
        }
    }

    /// The current policy.
    pub fn policy(&self) -> TrustPolicy {
        self.policy
    }

    /// Changes the policy.
    pub fn set_policy(&mut self, policy: TrustPolicy) {
        self.policy = policy;
    }

    /// Records the identity key a device presented and reports what that means.
    pub fn observe(
        &mut self,
        jid: &str,
        device_id: u32,
        identity: &IdentityKey,
    ) -> Result<IdentityEvent, OmemoError> {
        let curve = identity.curve()?;
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.device_id == device_id && e.jid == jid)
        {
            if e.identity == curve {
                return Ok(IdentityEvent::Known);
            }
            let event = IdentityEvent::Changed {
                old_fingerprint: fp(&e.identity),
                new_fingerprint: fp(&curve),
                old_was_verified: e.level == TrustLevel::Verified,
            };
            e.identity = curve;
            e.level = TrustLevel::Changed;
            return Ok(event);
        }
        self.entries.push(Entry {
            jid: jid.to_owned(),
            device_id,
            identity: curve,
            level: TrustLevel::Undecided,
        });
        Ok(IdentityEvent::New {
            fingerprint: fp(&curve),
        })
    }

    /// The recorded level of a device, if known.
    pub fn level(&self, jid: &str, device_id: u32) -> Option<TrustLevel> {
        self.entries
            .iter()
            .find(|e| e.device_id == device_id && e.jid == jid)
            .map(|e| e.level)
    }

    /// The recorded fingerprint of a device, if known.
    pub fn fingerprint(&self, jid: &str, device_id: u32) -> Option<String> {
        self.entries
            .iter()
            .find(|e| e.device_id == device_id && e.jid == jid)
            .map(|e| fp(&e.identity))
    }

    /// Sets the user's decision for the identity of a device, but only if `fingerprint` is the
    /// one on record (so a decision is never applied to a key the user did not see).
    pub fn set_level(
        &mut self,
        jid: &str,
        device_id: u32,
        fingerprint: &str,
        level: TrustLevel,
    ) -> bool {
        match self
            .entries
            .iter_mut()
            .find(|e| e.device_id == device_id && e.jid == jid)
        {
            Some(e) if fp(&e.identity) == fingerprint => {
                e.level = level;
                true
            }
            _ => false,
        }
    }

    /// Whether messages may be encrypted to this device under the current policy.
    pub fn is_trusted(&self, jid: &str, device_id: u32) -> bool {
        match self.level(jid, device_id) {
            Some(TrustLevel::Verified) => true,
            Some(TrustLevel::Undecided) => {
                self.policy == TrustPolicy::BlindTrustBeforeVerification
                    && !self
                        .entries
                        .iter()
                        .any(|e| e.level == TrustLevel::Verified && e.jid == jid)
            }
            _ => false,
        }
    }
}
