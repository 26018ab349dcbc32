#!/usr/bin/env python3
"""python-omemo (twomemo) side of `tests/bench/omemo.rs`: the same work as Talpa's benchmark.

    bench_omemo.py DEVICES ENCRYPTS DECRYPTS ROUNDS

A worker driven over stdin/stdout, so both sides run round by round, interleaved, in one run
(load on the machine hits both alike). Setup (not timed): a sender with sessions to DEVICES
devices, and a stream of ROUNDS * DECRYPTS messages of one session, encrypted before any of the
encryption rounds (so the receiver never skips keys). Prints {"ready": true}; then answers each
line of stdin:

- `encrypt`: ENCRYPTS times, one OMEMO 2 message (an SCE envelope of the same shape as Talpa's)
  to all DEVICES devices, serialized to XML;
- `decrypt`: the next DECRYPTS messages of the stream, decrypted by device 0 (key material,
  payload, envelope parsed and its from/to checked, the body read);

with one JSON line {"wall_s": ..., "cpu_s": ...} (the batch's wall-clock and thread CPU time).
Sessions live in memory, as on the Rust side (no storage I/O is timed on either side).
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
SCE = "{urn:xmpp:sce:1}"
FROM = "alice@talpa.test"
TO = "room@rooms.talpa.test"
ENVELOPE = ("<envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>{}</body>"
            "</content><rpad>q9X2abcdQ</rpad><time stamp='2026-11-28T19:00:00Z'/>"
            "<to jid='" + TO + "'/><from jid='" + FROM + "'/></envelope>")
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


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(devices, encrypts, decrypts, rounds):
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

    # Device 0 accepts the key exchange, then the stream of its messages is made up front.
    r0 = receivers[0][0]
    ekm0, kex0, content0 = first
    rsession, rpkm = await r0.build_session_passive(FROM, 1, kex0, ekm0)
    await r0.decrypt_plaintext(content0, rpkm)
    stream = []
    for _ in range(decrypts * rounds):
        content, pkm = await sender.encrypt_plaintext(plaintext)
        ekm = await sender.encrypt_key_material(sessions[0], pkm)
        stream.append((content, ekm))
    stream.reverse()

    async def encrypt_batch():
        for _ in range(encrypts):
            content, pkm = await sender.encrypt_plaintext(plaintext)
            keys = []
            for s in sessions:
                keys.append((await sender.encrypt_key_material(s, pkm), None))
            msg = Message(NS, FROM, 1, content, frozenset(keys))
            ET.tostring(twomemo.etree.serialize_message(msg))

    async def decrypt_batch():
        for _ in range(decrypts):
            content, ekm = stream.pop()
            pkm = await r0.decrypt_key_material(rsession, ekm)
            envelope = ET.fromstring(await r0.decrypt_plaintext(content, pkm))
            # The same checks as Talpa's: the affixes match the stanza, the body is read.
            if (envelope.find(SCE + "from").get("jid") != FROM
                    or envelope.find(SCE + "to").get("jid") != TO):
                raise ValueError("envelope from/to mismatch")
            if not envelope.find(SCE + "content").find("{jabber:client}body").text:
                raise ValueError("no body")

    reply({"ready": True})
    for line in sys.stdin:
        batch = {"encrypt": encrypt_batch, "decrypt": decrypt_batch}[line.strip()]
        wall, cpu = time.perf_counter(), time.thread_time()
        await batch()
        reply({"wall_s": time.perf_counter() - wall, "cpu_s": time.thread_time() - cpu})


if __name__ == "__main__":
    asyncio.run(main(*(int(a) for a in sys.argv[1:5])))
