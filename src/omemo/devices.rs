//! Device lists: the latest published list of each contact, our own entry in our list, and
//! the recipients of a message (with the contacts who cannot read it, shown, never hidden).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::OmemoVersion;
use super::session::{DeviceAddress, SessionManager};

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
    /// (which is persisted) never records who has no keys.
    pub fn update(&mut self, version: OmemoVersion, jid: &str, mut ids: Vec<u32>) {
        ids.retain(|&id| id != 0);
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
