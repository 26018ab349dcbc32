#!/usr/bin/env python3
"""python-omemo (twomemo) side of `tests/bench/omemo.rs`: the same work as Talpa's benchmark.

    bench_omemo.py DEVICES ROUNDS DECRYPTS

Encrypt: one OMEMO 2 message (an SCE envelope of the same size as Talpa's) to DEVICES devices
with established sessions, serialized to XML, ROUNDS times. Decrypt: one device decrypts
DECRYPTS messages of an established session (payload + envelope parsed). Prints one JSON line:
{"encrypt_ms": mean per message, "decrypt_per_s": messages per second}. Sessions live in
memory, as on the Rust side (no storage I/O is timed on either side).
"""

import asyncio
import json
import sys
import time
import xml.etree.ElementTree as ET

from omemo.message import Message
from omemo.storage import Just, Nothing, Storage
import twomemo
import twomemo.etree
from twomemo.twomemo import Twomemo

NS = twomemo.twomemo.NAMESPACE
ENVELOPE = ("<envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>{}</body>"
            "</content><rpad>q9X2abcdQ</rpad><time stamp='2026-11-28T19:00:00Z'/>"
            "<to jid='room@rooms.talpa.test'/><from jid='alice@talpa.test'/></envelope>")
BODY = "The quick brown mole digs under the fence at midnight." * 2


class MemoryStorage(Storage):
    def __init__(self):
        super().__init__(True)
        self.data = {}

    async def _load(self, key):
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key, value):
        self.data[key] = value

    async def _delete(self, key):
        self.data.pop(key, None)


async def main(devices, rounds, decrypts):
    sender = Twomemo(MemoryStorage())
    await sender.generate_pre_keys(1)
    plaintext = ENVELOPE.format(BODY).encode()
    receivers, sessions = [], []
    content, pkm = await sender.encrypt_plaintext(b"setup")
    first = None
    for i in range(devices):
        r = Twomemo(MemoryStorage())
        await r.generate_pre_keys(1)
        jid = f"member{i}@talpa.test"
        bundle = await r.get_bundle(jid, 1000 + i)
        session, ekm = await sender.build_session_active(jid, 1000 + i, bundle, pkm)
        sessions.append(session)
        receivers.append((r, jid, 1000 + i))
        if i == 0:
            first = (ekm, session.key_exchange, content)

    start = time.perf_counter()
    for _ in range(rounds):
        content, pkm = await sender.encrypt_plaintext(plaintext)
        keys = []
        for s in sessions:
            keys.append((await sender.encrypt_key_material(s, pkm), None))
        msg = Message(NS, "alice@talpa.test", 1, content, frozenset(keys))
        ET.tostring(twomemo.etree.serialize_message(msg))
    encrypt_ms = (time.perf_counter() - start) * 1000 / rounds

    # Decrypt: device 0 accepts the key exchange, then reads a stream of messages.
    r0 = receivers[0][0]
    ekm0, kex0, content0 = first
    rsession, rpkm = await r0.build_session_passive("alice@talpa.test", 1, kex0, ekm0)
    await r0.decrypt_plaintext(content0, rpkm)
    stream = []
    for _ in range(decrypts):
        content, pkm = await sender.encrypt_plaintext(plaintext)
        ekm = await sender.encrypt_key_material(sessions[0], pkm)
        stream.append((content, ekm))
    start = time.perf_counter()
    for content, ekm in stream:
        pkm = await r0.decrypt_key_material(rsession, ekm)
        ET.fromstring(await r0.decrypt_plaintext(content, pkm))
    decrypt_per_s = decrypts / (time.perf_counter() - start)
    print(json.dumps({"encrypt_ms": encrypt_ms, "decrypt_per_s": decrypt_per_s}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
