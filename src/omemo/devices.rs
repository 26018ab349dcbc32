//! Device lists: the latest published list of each contact, our own entry in our list, and
//! the recipients of a message (with the contacts who cannot read it, shown, never hidden).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::OmemoVersion;
use super::session::{DeviceAddress, SessionManager};

/// The most devices kept for one JID and version. Each listed device without a session costs
/// a bundle query through Tor when a message is sealed, so a contact (or a server) listing
/// 10,000 ids — 220 KB, within one stanza — made sealing a message to them 10,000 queries one
/// after the other (read from the code, not measured). Real lists have a handful, a few dozen
/// after many reinstalls.
pub const MAX_DEVICES_PER_LIST: usize = 64;

/// The latest device list of every known JID, per version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeviceRegistry {
    legacy: BTreeMap<String, Vec<u32>>,
    v2: BTreeMap<String, Vec<u32>>,
}

/// Who a message goes to, and who it cannot reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipients {
    /// Devices to encrypt to.
    pub devices: Vec<DeviceAddress>,
    /// JIDs with no published device in this version: they cannot read the message.
    pub unreachable: Vec<String>,
}

impl DeviceRegistry {
    fn map(&self, version: OmemoVersion) -> &BTreeMap<String, Vec<u32>> {
        match version {
            OmemoVersion::Legacy => &self.legacy,
            OmemoVersion::V2 => &self.v2,
        }
    }

    /// Records a device list received for `jid` (a PEP notification replaces the previous one).
    /// Duplicates and the invalid id 0 are dropped. An empty list removes `jid`: the registry
    /// (which is persisted) never records who has no keys. A list longer than
    /// [`MAX_DEVICES_PER_LIST`] keeps its last entries (clients add their own id at the end).
    pub fn update(&mut self, version: OmemoVersion, jid: &str, mut ids: Vec<u32>) {
        ids.retain(|&id| id != 0);
        if ids.len() > MAX_DEVICES_PER_LIST {
            let mut seen = std::collections::BTreeSet::new();
            let mut kept: Vec<u32> = ids
                .iter()
                .rev()
                .copied()
                .filter(|&id| seen.insert(id))
                .take(MAX_DEVICES_PER_LIST)
                .collect();
            tracing::warn!(
                listed = ids.len(),
                kept = kept.len(),
                "a device list of more than {MAX_DEVICES_PER_LIST} entries was cut"
            );
            std::mem::swap(&mut ids, &mut kept);
        }
        ids.sort_unstable();
        ids.dedup();
        let map = match version {
            OmemoVersion::Legacy => &mut self.legacy,
            OmemoVersion::V2 => &mut self.v2,
        };
        if ids.is_empty() {
            map.remove(jid);
        } else {
            map.insert(jid.to_owned(), ids);
        }
    }

    /// Drops the empty lists an older registry may hold (see [`DeviceRegistry::update`]).
    pub fn drop_empty(&mut self) {
        self.legacy.retain(|_, ids| !ids.is_empty());
        self.v2.retain(|_, ids| !ids.is_empty());
    }

    /// The known devices of `jid`.
    pub fn devices(&self, version: OmemoVersion, jid: &str) -> &[u32] {
        self.map(version).get(jid).map_or(&[], Vec::as_slice)
    }

    /// The devices to encrypt to for a conversation with `jids` (contact or room members) plus
    /// our own other devices; our own device is left out.
    pub fn recipients(
        &self,
        version: OmemoVersion,
        own_jid: &str,
        own_device: u32,
        jids: &[&str],
    ) -> Recipients {
        let mut devices = Vec::new();
        let mut unreachable = Vec::new();
        for jid in jids {
            let ids = self.devices(version, jid);
            if ids.is_empty() {
                unreachable.push((*jid).to_owned());
            }
            devices.extend(ids.iter().map(|&device_id| DeviceAddress {
                jid: (*jid).to_owned(),
                device_id,
            }));
        }
        if jids.contains(&own_jid) {
            devices.retain(|d| !(d.jid == own_jid && d.device_id == own_device));
        } else {
            devices.extend(
                self.devices(version, own_jid)
                    .iter()
                    .filter(|&&id| id != own_device)
                    .map(|&device_id| DeviceAddress {
                        jid: own_jid.to_owned(),
                        device_id,
                    }),
            );
        }
        Recipients {
            devices,
            unreachable,
        }
    }
}

/// If our device is missing from our own published list, the list to publish instead.
pub fn own_list_to_publish(published: &[u32], own: &SessionManager) -> Option<Vec<u32>> {
    if published.contains(&own.device_id()) {
        return None;
    }
    let mut list = published.to_vec();
    list.push(own.device_id());
    Some(list)
}

#[cfg(test)]
mod list_bound_tests {
    use super::*;

    #[test]
    fn a_list_of_ten_thousand_devices_keeps_its_last_sixty_four() {
        let mut r = DeviceRegistry::default();
        let ids: Vec<u32> = (1..=10_000).chain([0, 10_000, u32::MAX]).collect();
        r.update(OmemoVersion::V2, "many@example.org", ids);
        let kept = r.devices(OmemoVersion::V2, "many@example.org");
        assert_eq!(kept.len(), MAX_DEVICES_PER_LIST);
        assert!(kept.contains(&u32::MAX) && kept.contains(&10_000) && !kept.contains(&1));
        // A list within the bound is kept whole.
        r.update(OmemoVersion::V2, "few@example.org", vec![3, 1, 2, 2]);
        assert_eq!(r.devices(OmemoVersion::V2, "few@example.org"), [1, 2, 3]);
    }
}
