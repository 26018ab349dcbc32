//! The Double Ratchet as OMEMO uses it: header encryption off, HKDF root chain, HMAC message
//! chain (`0x02` → next chain key, `0x01` → message key), AES-256-CBC + truncated HMAC-SHA-256
//! per message, with each version's framing and info strings.
//!
//! Decryption is transactional: it works on a copy of the state and commits only after the
//! message authenticated, so forged, duplicated or replayed messages leave the state untouched.

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::keys::{CurvePublic, CurveSecret};
use super::wire::{self, RatchetHeader};
use super::{OmemoError, OmemoVersion, kdf};

/// Most message keys one message may make us skip, and most skipped keys kept per receiving
/// chain (python-omemo's default, Signal's MAX_SKIP).
pub const MAX_SKIP: u32 = 1000;
/// Most skipped message keys kept per session; the oldest are forgotten first.
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// A 32-byte ratchet secret. Wiped through `zeroize`'s slice path (one fill and one
/// optimisation barrier; the derived array wipe writes each byte volatilely, and several keys
/// are dropped per decrypted message).
#[derive(Clone, Serialize, Deserialize)]
struct Key32([u8; 32]);

impl Zeroize for Key32 {
    fn zeroize(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

impl Drop for Key32 {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for Key32 {}

#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
struct Chain {
    key: Key32,
    length: u32,
}

impl Chain {
    /// One symmetric ratchet step: returns the message key.
    fn step(&mut self) -> Key32 {
        let (mk, next) = kdf::hmac_pair(&self.key.0, &[0x01], &[0x02]);
        self.key = Key32(next);
        self.length += 1;
        Key32(mk)
    }
}

#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
struct SkippedKey {
    #[zeroize(skip)]
    ratchet: CurvePublic,
    n: u32,
    key: Key32,
}

/// One Double Ratchet session state. Secrets are zeroized on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub struct DoubleRatchet {
    #[zeroize(skip)]
    version: OmemoVersion,
    root_key: Key32,
    own_ratchet: CurveSecret,
    /// The public half of `own_ratchet`, computed once per ratchet step (a scalar
    /// multiplication per message would dominate encryption to many devices).
    #[zeroize(skip)]
    #[serde(skip)]
    own_ratchet_public: Option<CurvePublic>,
    #[zeroize(skip)]
    other_ratchet: CurvePublic,
    sending: Chain,
    receiving: Option<Chain>,
    previous_sending_length: u32,
    skipped: Vec<SkippedKey>,
}

impl std::fmt::Debug for DoubleRatchet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoubleRatchet")
            .field("version", &self.version)
            .field("sending_length", &self.sending.length)
            .field(
                "receiving_length",
                &self.receiving.as_ref().map(|c| c.length),
            )
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

/// Root chain step: HKDF(salt = root key, ikm = DH output) → new root key ‖ chain key.
fn root_step(version: OmemoVersion, root: &Key32, dh: &[u8; 32]) -> (Key32, Chain) {
    let okm = kdf::hkdf::<64>(Some(&root.0), dh, version.root_info());
    let mut rk = [0u8; 32];
    let mut ck = [0u8; 32];
    rk.copy_from_slice(&okm[..32]);
    ck.copy_from_slice(&okm[32..]);
    (
        Key32(rk),
        Chain {
            key: Key32(ck),
            length: 0,
        },
    )
}

impl DoubleRatchet {
    /// Starts the initiator's ratchet from the X3DH secret and the responder's signed prekey.
    pub fn initiate<R: RngCore + CryptoRng>(
        version: OmemoVersion,
        shared_secret: &[u8; 32],
        responder_signed_prekey: CurvePublic,
        rng: &mut R,
    ) -> Result<Self, OmemoError> {
        let own = CurveSecret::generate(rng);
        let dh = own.diffie_hellman(&responder_signed_prekey)?;
        let (root_key, sending) = root_step(version, &Key32(*shared_secret), &dh);
        Ok(Self {
            version,
            root_key,
            own_ratchet: own,
            own_ratchet_public: None,
            other_ratchet: responder_signed_prekey,
            sending,
            receiving: None,
            previous_sending_length: 0,
            skipped: Vec::new(),
        })
    }

    /// Starts the responder's ratchet from the X3DH secret, our signed prekey and the first
    /// message (which carries the initiator's ratchet key), and decrypts that message.
    pub fn respond<R: RngCore + CryptoRng>(
        version: OmemoVersion,
        shared_secret: &[u8; 32],
        signed_prekey: &CurveSecret,
        first_message: &[u8],
        associated_data: &[u8],
        rng: &mut R,
    ) -> Result<(Self, Zeroizing<Vec<u8>>), OmemoError> {
        let parsed = wire::parse_ratchet_message(version, first_message)?;
        let mut state = Self {
            version,
            root_key: Key32(*shared_secret),
            own_ratchet: signed_prekey.clone(),
            own_ratchet_public: None,
            other_ratchet: parsed.header.ratchet,
            // Placeholder, replaced by the DH step below before any use.
            sending: Chain {
                key: Key32([0; 32]),
                length: 0,
            },
            receiving: None,
            previous_sending_length: 0,
            skipped: Vec::new(),
        };
        state.dh_step(parsed.header.ratchet, rng)?;
        let plaintext = state.decrypt(first_message, associated_data, rng)?;
        Ok((state, plaintext))
    }

    /// The protocol version this ratchet speaks.
    pub fn version(&self) -> OmemoVersion {
        self.version
    }

    /// Number of messages sent in the current sending chain.
    pub fn sending_chain_length(&self) -> u32 {
        self.sending.length
    }

    /// Number of messages received in the current receiving chain, if one exists.
    pub fn receiving_chain_length(&self) -> Option<u32> {
        self.receiving.as_ref().map(|c| c.length)
    }

    /// Number of skipped message keys currently kept.
    pub fn skipped_keys(&self) -> usize {
        self.skipped.len()
    }

    fn dh_step<R: RngCore + CryptoRng>(
        &mut self,
        their: CurvePublic,
        rng: &mut R,
    ) -> Result<(), OmemoError> {
        self.previous_sending_length = self.sending.length;
        self.other_ratchet = their;
        let dh = self.own_ratchet.diffie_hellman(&their)?;
        let (rk, recv) = root_step(self.version, &self.root_key, &dh);
        self.root_key = rk;
        self.receiving = Some(recv);
        self.own_ratchet = CurveSecret::generate(rng);
        self.own_ratchet_public = None;
        let dh = self.own_ratchet.diffie_hellman(&their)?;
        let (rk, send) = root_step(self.version, &self.root_key, &dh);
        self.root_key = rk;
        self.sending = send;
        Ok(())
    }

    /// Encrypts `plaintext` (OMEMO: the payload key material) into a framed, authenticated
    /// ratchet message of this version.
    pub fn encrypt(&mut self, plaintext: &[u8], associated_data: &[u8]) -> Vec<u8> {
        let own_public = match self.own_ratchet_public {
            Some(p) => p,
            None => *self.own_ratchet_public.insert(self.own_ratchet.public()),
        };
        let header = RatchetHeader {
            ratchet: own_public,
            n: self.sending.length,
            pn: self.previous_sending_length,
        };
        let mk = self.sending.step();
        let keys = kdf::cbc_hmac_keys(&mk.0, self.version.message_key_info());
        let ciphertext = kdf::aes256_cbc_encrypt(&keys.enc, &keys.iv, plaintext);
        let message = wire::encode_ratchet_message(self.version, &header, &ciphertext);
        let mac = kdf::hmac(&keys.auth[..], &[associated_data, &message]);
        wire::frame_authenticated(self.version, message, &mac[..self.version.mac_len()])
    }

    /// Decrypts a framed ratchet message. On any error the state is unchanged.
    pub fn decrypt<R: RngCore + CryptoRng>(
        &mut self,
        bytes: &[u8],
        associated_data: &[u8],
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, OmemoError> {
        let parsed = wire::parse_ratchet_message(self.version, bytes)?;
        let h = parsed.header;
        if let Some(pos) = self
            .skipped
            .iter()
            .position(|s| s.ratchet == h.ratchet && s.n == h.n)
        {
            let plaintext = open(
                self.version,
                &self.skipped[pos].key,
                associated_data,
                &parsed,
            )?;
            self.skipped.remove(pos);
            return Ok(plaintext);
        }
        // The usual case — the next message of the current receiving chain — touches only that
        // chain: work on a copy of it, not of the whole state (skipped keys included).
        if h.ratchet == self.other_ratchet
            && let Some(recv) = self.receiving.as_ref()
            && h.n == recv.length
        {
            let mut chain = recv.clone();
            let mk = chain.step();
            let plaintext = open(self.version, &mk, associated_data, &parsed)?;
            self.receiving = Some(chain);
            return Ok(plaintext);
        }
        let mut next = self.clone();
        if h.ratchet != next.other_ratchet {
            if let Some(recv) = next.receiving.as_ref() {
                next.skip_to(h.pn.max(recv.length))?;
            }
            next.dh_step(h.ratchet, rng)?;
        }
        let recv_len = next.receiving.as_ref().map_or(0, |c| c.length);
        if next.receiving.is_none() || h.n < recv_len {
            return Err(OmemoError::Duplicate);
        }
        next.skip_to(h.n)?;
        let mk = next.receiving.as_mut().ok_or(OmemoError::Duplicate)?.step();
        let plaintext = open(self.version, &mk, associated_data, &parsed)?;
        *self = next;
        Ok(plaintext)
    }

    /// Advances the receiving chain to `until`, keeping the skipped keys (bounded).
    fn skip_to(&mut self, until: u32) -> Result<(), OmemoError> {
        let ratchet = self.other_ratchet;
        let Some(recv) = self.receiving.as_mut() else {
            return Ok(());
        };
        let count = until.saturating_sub(recv.length);
        if count > MAX_SKIP {
            return Err(OmemoError::TooManySkipped(count));
        }
        while recv.length < until {
            let n = recv.length;
            let key = recv.step();
            self.skipped.push(SkippedKey { ratchet, n, key });
        }
        // Per chain: keep the newest MAX_SKIP keys of this chain (the vector is oldest first).
        let in_chain = self.skipped.iter().filter(|s| s.ratchet == ratchet).count();
        if in_chain > MAX_SKIP as usize {
            let mut excess = in_chain - MAX_SKIP as usize;
            self.skipped.retain(|s| {
                if excess > 0 && s.ratchet == ratchet {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
        }
        // Per session: forget the oldest beyond the global cap.
        if self.skipped.len() > MAX_SKIPPED_KEYS {
            let excess = self.skipped.len() - MAX_SKIPPED_KEYS;
            self.skipped.drain(..excess);
        }
        Ok(())
    }

    /// Serializes the whole state (secrets included) for the encrypted store.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, OmemoError> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|_| OmemoError::State)
    }

    /// Restores a state written by [`DoubleRatchet::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OmemoError> {
        serde_json::from_slice(bytes).map_err(|_| OmemoError::State)
    }
}

fn open(
    version: OmemoVersion,
    mk: &Key32,
    associated_data: &[u8],
    parsed: &wire::ParsedRatchetMessage<'_>,
) -> Result<Zeroizing<Vec<u8>>, OmemoError> {
    let keys = kdf::cbc_hmac_keys(&mk.0, version.message_key_info());
    let mac = kdf::hmac(
        &keys.auth[..],
        &[associated_data, &parsed.authenticated_bytes],
    );
    if !kdf::mac_eq(&mac[..version.mac_len()], &parsed.mac) {
        return Err(OmemoError::AuthenticationFailed);
    }
    kdf::aes256_cbc_decrypt(&keys.enc, &keys.iv, &parsed.ciphertext)
}
