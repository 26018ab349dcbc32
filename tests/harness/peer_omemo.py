"""OMEMO for peer.py: legacy OMEMO via slixmpp-omemo, OMEMO 2 via python-omemo's twomemo.

slixmpp-omemo 2.2 only encrypts/decrypts legacy OMEMO (eu.siacs.conversations.axolotl)
itself; for OMEMO 2 (urn:xmpp:omemo:2) this module builds and parses the Stanza Content
Encryption (XEP-0420) envelope by hand and drives the session manager directly.
Trust: blind trust before verification (BTBV) — every new device is trusted.
"""

import base64
import json
import os
import secrets
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any, Dict, FrozenSet, Optional

from omemo.storage import Just, Maybe, Nothing, Storage
from omemo.types import DeviceInformation, JSONType
import oldmemo
import oldmemo.etree
import twomemo
import twomemo.etree
from slixmpp import JID
from slixmpp.plugins import register_plugin
from slixmpp_omemo import TrustLevel, XEP_0384

OLD_NS = oldmemo.oldmemo.NAMESPACE
TWO_NS = twomemo.twomemo.NAMESPACE
SCE_NS = "urn:xmpp:sce:1"
FALLBACK = "This message is OMEMO encrypted."
LEGACY_ONLY = False


async def _refresh(plugin: Any, jids: Any) -> None:
    """Force-refreshes the device lists of jids."""
    await plugin.refresh_device_lists(jids, force_download=True)


class JsonStorage(Storage):
    """OMEMO state in one JSON file (rewritten atomically on every change)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.data: Dict[str, JSONType] = {}
        try:
            with open(path, encoding="utf-8") as f:
                self.data = json.load(f)
        except FileNotFoundError:
            pass

    def _flush(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)

    async def _load(self, key: str) -> Maybe[JSONType]:
        if key in self.data:
            return Just(self.data[key])
        return Nothing()

    async def _store(self, key: str, value: JSONType) -> None:
        self.data[key] = value
        self._flush()

    async def _delete(self, key: str) -> None:
        self.data.pop(key, None)
        self._flush()


class XEP_0384Impl(XEP_0384):  # pylint: disable=invalid-name
    """slixmpp-omemo plugin with JSON storage and blind trust before verification."""

    default_config = {"fallback_message": FALLBACK, "json_file_path": None}

    def plugin_init(self) -> None:
        if not self.json_file_path:
            raise ValueError("json_file_path is required")
        self._storage_impl = JsonStorage(self.json_file_path)
        super().plugin_init()

    async def refresh_device_lists(self, jids: Any, force_download: bool = False) -> None:
        if not LEGACY_ONLY:
            await super().refresh_device_lists(jids, force_download)
            return
        # Only the legacy backend is loaded: refresh only its lists.
        sm = await self.get_session_manager()
        for jid in jids:
            if JID(jid).bare != self.xmpp.boundjid.bare:
                await sm.refresh_device_list(OLD_NS, JID(jid).bare)

    @property
    def storage(self) -> Storage:
        return self._storage_impl

    @property
    def _btbv_enabled(self) -> bool:
        return True

    async def _devices_blindly_trusted(
        self, blindly_trusted: FrozenSet[DeviceInformation], identifier: Optional[str]
    ) -> None:
        pass

    async def _prompt_manual_trust(
        self, manually_trusted: FrozenSet[DeviceInformation], identifier: Optional[str]
    ) -> None:
        session_manager = await self.get_session_manager()
        for device in manually_trusted:
            await session_manager.set_trust(device.bare_jid, device.identity_key,
                                            TrustLevel.TRUSTED.value)


register_plugin(XEP_0384Impl)


def _legacy_only() -> None:
    """Makes slixmpp-omemo create its session manager with the oldmemo backend only."""
    import slixmpp_omemo.xep_0384 as impl

    original = impl._make_session_manager  # pylint: disable=protected-access

    def make(xmpp: Any, plugin: Any) -> Any:
        base = original(xmpp, plugin)

        class LegacyOnly(base):  # type: ignore[misc, valid-type]
            @classmethod
            async def create(cls, backends, *args, **kwargs):  # type: ignore[override]
                backends = [b for b in backends if b.namespace == OLD_NS]
                return await super().create(backends, *args, **kwargs)

        return LegacyOnly

    impl._make_session_manager = make  # pylint: disable=protected-access


def setup(xmpp: Any, storage_path: str, legacy_only: bool = False) -> Any:
    """Registers the OMEMO plugin on xmpp (legacy OMEMO only if asked); returns the plugin."""
    global LEGACY_ONLY  # pylint: disable=global-statement
    LEGACY_ONLY = legacy_only
    if legacy_only:
        _legacy_only()
    for p in ("xep_0004", "xep_0060", "xep_0163", "xep_0280", "xep_0334"):
        xmpp.register_plugin(p)
    xmpp.register_plugin("xep_0384", {"json_file_path": storage_path},
                         module=sys.modules[__name__])
    return xmpp["xep_0384"]


async def on_start(xmpp: Any) -> None:
    """Waits until our device list and bundles are published."""
    await xmpp["xep_0384"].get_session_manager()


def device_json(d: DeviceInformation) -> Dict[str, Any]:
    return {"id": d.device_id, "jid": d.bare_jid,
            "identity_key": d.identity_key.hex(),
            "namespaces": sorted(d.namespaces),
            "trust": d.trust_level_name,
            "active": {ns: bool(a) for ns, a in d.active},
            "label": d.label}


async def own_info(xmpp: Any) -> Dict[str, Any]:
    sm = await xmpp["xep_0384"].get_session_manager()
    own, others = await sm.get_own_device_information()
    return {"device": device_json(own), "other_devices": [device_json(d) for d in others]}


async def devices(xmpp: Any, jid: str) -> Any:
    """Force-refreshes jid's device lists and returns what is known about its devices."""
    plugin = xmpp["xep_0384"]
    await _refresh(plugin, {JID(jid)})
    sm = await plugin.get_session_manager()
    return [device_json(d) for d in await sm.get_device_information(JID(jid).bare)]


def _sce_envelope(body: str, to: str, from_: str) -> bytes:
    env = ET.Element(f"{{{SCE_NS}}}envelope")
    content = ET.SubElement(env, f"{{{SCE_NS}}}content")
    b = ET.SubElement(content, "{jabber:client}body")
    b.text = body
    rpad = ET.SubElement(env, f"{{{SCE_NS}}}rpad")
    rpad.text = base64.b64encode(secrets.token_bytes(secrets.randbelow(32) + 1)).decode()
    ET.SubElement(env, f"{{{SCE_NS}}}time",
                  stamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    ET.SubElement(env, f"{{{SCE_NS}}}to", jid=to)
    ET.SubElement(env, f"{{{SCE_NS}}}from", jid=from_)
    ET.register_namespace("", SCE_NS)
    return ET.tostring(env, encoding="utf-8")


def _parse_envelope(data: bytes) -> Dict[str, Any]:
    env = ET.fromstring(data)
    if env.tag != f"{{{SCE_NS}}}envelope":
        raise ValueError(f"not an SCE envelope: {env.tag}")
    body = None
    content = env.find(f"{{{SCE_NS}}}content")
    if content is not None:
        for child in content:
            if child.tag.endswith("}body"):
                body = child.text or ""
    frm = env.find(f"{{{SCE_NS}}}from")
    to = env.find(f"{{{SCE_NS}}}to")
    return {"body": body,
            "sce_from": frm.get("jid") if frm is not None else None,
            "sce_to": to.get("jid") if to is not None else None}


async def encrypt_and_send(xmpp: Any, msg: Any, to: str, body: str, kind: str,
                           sce_to: Optional[str] = None) -> Dict[str, Any]:
    """Encrypts body for `to` with `kind` ("oldmemo" or "twomemo") and sends msg. `sce_to`
    forges the OMEMO 2 envelope's <to/> (hostile-peer tests)."""
    plugin = xmpp["xep_0384"]
    bare = JID(to).bare
    # Force a device-list refresh: PEP notifications may not have arrived yet.
    await _refresh(plugin, {JID(bare)})
    if kind == "oldmemo":
        msg["body"] = body
        encrypted, errors = await plugin.encrypt_message(msg, JID(bare))
        if encrypted is None:
            raise RuntimeError("nothing to send (no devices?)")
        encrypted.send()
        return {"errors": [repr(e) for e in errors]}
    if kind == "twomemo":
        sm = await plugin.get_session_manager()
        envelope = _sce_envelope(body, sce_to or bare, xmpp.boundjid.bare)
        messages, errors = await sm.encrypt(frozenset({bare}), {TWO_NS: envelope},
                                            backend_priority_order=[TWO_NS])
        out = xmpp.make_message(mto=bare, mtype="chat")
        out["id"] = msg["id"]
        out["body"] = FALLBACK
        out.enable("store")
        n = 0
        for m in messages:
            if m.namespace != TWO_NS:
                raise RuntimeError(f"unexpected namespace {m.namespace}")
            out.append(twomemo.etree.serialize_message(m))
            n += 1
        if n == 0:
            raise RuntimeError(f"no OMEMO 2 message produced: {errors!r}")
        out.send()
        return {"errors": [repr(e) for e in errors]}
    raise ValueError(f"unknown encryption {kind!r}")


async def encrypt_and_send_group(xmpp: Any, msg: Any, room: str, recipients: Any, body: str,
                                 kind: str) -> Dict[str, Any]:
    """Encrypts a groupchat message for the recipients' devices and sends it to the room."""
    plugin = xmpp["xep_0384"]
    jids = {JID(j) for j in recipients}
    if not jids:
        raise RuntimeError("no recipients with a known real JID in the room")
    await _refresh(plugin, jids)
    if kind == "oldmemo":
        msg["body"] = body
        encrypted, errors = await plugin.encrypt_message(msg, jids)
        if encrypted is None:
            raise RuntimeError("nothing to send")
        encrypted.send()
        return {"errors": [repr(e) for e in errors]}
    if kind == "twomemo":
        sm = await plugin.get_session_manager()
        envelope = _sce_envelope(body, JID(room).bare, xmpp.boundjid.bare)
        messages, errors = await sm.encrypt(frozenset(j.bare for j in jids), {TWO_NS: envelope},
                                            backend_priority_order=[TWO_NS])
        msg["body"] = FALLBACK
        msg.enable("store")
        for m in messages:
            msg.append(twomemo.etree.serialize_message(m))
        if not messages:
            raise RuntimeError(f"no OMEMO 2 message produced: {errors!r}")
        msg.send()
        return {"errors": [repr(e) for e in errors]}
    raise ValueError(f"unknown encryption {kind!r}")


async def try_decrypt(xmpp: Any, msg: Any) -> Optional[Dict[str, Any]]:
    """None if msg is not OMEMO; else a dict with body, encrypted kind, sender device (or error)."""
    plugin = xmpp["xep_0384"]
    namespaces = plugin.is_encrypted(msg)
    if not namespaces:
        return None
    sender = msg["from"].bare
    if msg["type"] == "groupchat":
        real = xmpp["xep_0045"].get_jid_property(JID(sender), msg["from"].resource, "jid")
        if real is None:
            raise ValueError(f"no real JID for {msg['from']}")
        if JID(real).bare == xmpp.boundjid.bare:
            # Our own message reflected by the room: not encrypted for this device.
            return {"encrypted": "own-reflection", "body": None}
        sender = JID(real).bare
    if TWO_NS in namespaces:
        sm = await plugin.get_session_manager()
        elt = msg.xml.find(f"{{{TWO_NS}}}encrypted")
        message = twomemo.etree.parse_message(elt, sender)
        plaintext, device = (await sm.decrypt(message))[:2]
        res = {"encrypted": "twomemo", "sender_device": device.device_id, "body": None}
        if plaintext is not None:
            res.update(_parse_envelope(plaintext))
        return res
    decrypted, device = await plugin.decrypt_message(msg)
    return {"encrypted": "oldmemo", "sender_device": device.device_id,
            "body": decrypted["body"] or None}
