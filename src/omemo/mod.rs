//! OMEMO end-to-end encryption: X3DH, Double Ratchet, XEdDSA, legacy and OMEMO 2 wire formats, SCE.
//!
//! Built on audited primitives (x25519-dalek, ed25519-dalek, curve25519-dalek, aes-gcm, aes + cbc,
//! hmac, sha2, hkdf, prost). Interoperability is proven against python-omemo (oldmemo/twomemo) with
//! known-answer vectors under `tests/data/omemo/`.
//!
//! Modules, one concern each:
//! - [`keys`]: typed key material and the Ed25519 ↔ X25519 conversions;
//! - [`xeddsa`]: XEdDSA signatures (legacy identity keys are X25519);
//! - [`x3dh`]: the initial key agreement, per protocol version;
//! - [`ratchet`]: the Double Ratchet (header encryption off), bounded skipped-key cache;
//! - [`payload`]: the per-message payload encryption of each version;
//! - [`wire`]: protobuf and XML encodings of each version;
//! - [`sce`]: Stanza Content Encryption envelopes (XEP-0420);
//! - [`message`]: message-level encrypt/decrypt for the core (SCE for OMEMO 2, body for legacy);
//! - [`devices`]: device lists, recipients and who cannot read;
//! - [`session`]: the pure session manager (own keys, peer sessions);
//! - [`trust`]: blind trust before verification / strict, verification, changed identities.
//!
//! How the core uses it (all pure; the xmpp layer moves the elements):
//!
//! ```text
//! let mut omemo = SessionManager::generate(TrustPolicy::BlindTrustBeforeVerification, &mut rng);
//! publish wire::v2::build_device_list(..) / build_bundle(&omemo.bundle(OmemoVersion::V2))
//!         (and wire::legacy::… for eu.siacs.conversations.axolotl), open access model
//! on a peer bundle:   omemo.start_session(version, jid, device_id, &wire::v2::parse_bundle(el)?, rng)
//! to send:            let r = registry.recipients(version, own_jid, omemo.device_id(), &[peer]);
//!                     let enc = omemo.encrypt_message(version, &content, own_jid, peer, stamp, &r.devices, rng)?;
//!                     wire::v2::build_encrypted(&enc.element); show enc.skipped + r.unreachable
//! on receipt:         let m = omemo.decrypt_message(version, sender, stanza_from, stanza_to, own_jid,
//!                                                   &wire::v2::parse_encrypted(el)?, rng)?;
//!                     m.details.bundle_changed → republish; needs_heartbeat → omemo.heartbeat(..)
//! after MAM catch-up: omemo.delete_used_prekeys()
//! persist:            omemo.to_bytes() (a secret blob for the encrypted store) / from_bytes
//! ```

pub mod devices;
pub mod error;
pub mod keys;
pub mod message;
pub mod payload;
pub mod ratchet;
pub mod sce;
pub mod session;
pub mod trust;
pub mod version;
pub mod wire;
pub mod x3dh;
pub mod xeddsa;

mod kdf;

pub use error::OmemoError;
pub use version::OmemoVersion;
