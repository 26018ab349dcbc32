#!/usr/bin/env python3
"""Known-answer / interop vectors for Talpa's OMEMO, made by python-omemo (oldmemo, twomemo, xeddsa).

Run with a venv that has `oldmemo twomemo x3dh doubleratchet xeddsa omemo` installed:

    /root/.cache/talpa/venv-kat/bin/python tests/harness/omemo_kat.py generate tests/data/omemo

`generate` writes:
- xeddsa.json   key conversions of python seeds and XEdDSA signatures made by libxeddsa;
- oldmemo.json  a python-made legacy bundle (with its private keys, so Rust can act as that device)
                and python-made key-exchange + follow-up messages addressed to it;
- twomemo.json  the same for OMEMO 2.

Full regeneration (the Rust-made messages depend on the python-made bundles):

    python tests/harness/omemo_kat.py generate tests/data/omemo
    TALPA_OMEMO_KAT_WRITE=1 cargo test --test omemo_interop rust_made
    python tests/harness/omemo_kat.py check-rust tests/data/omemo
    cargo test --test omemo_interop

`check-rust DIR` decrypts the Rust-made messages recorded in DIR/rust_to_python.json with
python-omemo, acting as the python-made device of the vectors, and records the plaintexts
python obtained back into that file (the Rust test re-creates those exact bytes from a fixed
seed and checks python's recorded plaintexts). Python then answers twice (in Talpa's session,
and in a new session built from Talpa's published bundle, verifying its signature); the Rust
test decrypts those answers.
"""

import asyncio
import base64
import json
import os
import secrets
import sys
import xml.etree.ElementTree as ET

import xeddsa
from omemo.message import Message
from omemo.storage import Just, Nothing, Storage

import oldmemo
import oldmemo.etree
import twomemo
import twomemo.etree
from oldmemo.oldmemo import Oldmemo, KeyExchangeImpl as OldKex, EncryptedKeyMaterialImpl as OldEkm
from oldmemo.oldmemo import ContentImpl as OldContent
from twomemo.twomemo import Twomemo

B64 = lambda b: base64.b64encode(b).decode("ascii")


class MemoryStorage(Storage):
    """python-omemo storage kept in a dict (so it can be exported into the vectors)."""

    def __init__(self, data=None):
        super().__init__(True)
        self.data = dict(data or {})

    async def _load(self, key):
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key, value):
        self.data[key] = value

    async def _delete(self, key):
        self.data.pop(key, None)


def latin1(s):
    """pydantic dumps bytes as latin-1 strings."""
    return s.encode("latin-1")


def device_secrets(storage, ns):
    """The private keys of a python-omemo device, with the ids its bundle uses."""
    st = storage.data[f"/{ns}/x3dh"]
    spk_priv = latin1(st["signed_pre_key"]["priv"])
    spk_ids = {base64.b64decode(k): v for k, v in storage.data[f"/{ns}/signed_pre_key_ids"].items()}
    pk_ids = {base64.b64decode(k): v for k, v in storage.data[f"/{ns}/pre_key_ids"].items()}
    assert st["identity_key"]["secret_type"] == "SEED"
    return {
        "identity_seed": B64(latin1(st["identity_key"]["secret"])),
        "signed_prekey": {"id": spk_ids[xeddsa.priv_to_curve25519_pub(spk_priv)], "private": B64(spk_priv)},
        "prekeys": [
            {"id": pk_ids[xeddsa.priv_to_curve25519_pub(latin1(p))], "private": B64(latin1(p))}
            for p in st["pre_keys"]
        ],
    }


def xml_string(elt, ns):
    ET.register_namespace("", ns)
    return ET.tostring(elt, encoding="unicode")


def gen_xeddsa():
    conversions = []
    for _ in range(8):
        seed = secrets.token_bytes(32)
        priv = xeddsa.seed_to_priv(seed)
        conversions.append({
            "seed": B64(seed),
            "ed25519_public": B64(xeddsa.seed_to_ed25519_pub(seed)),
            "curve25519_public": B64(xeddsa.priv_to_curve25519_pub(priv)),
        })
    signatures = []
    for i in range(8):
        priv = secrets.token_bytes(32)
        msg = secrets.token_bytes(i * 7)
        sig = xeddsa.ed25519_priv_sign(xeddsa.priv_force_sign(priv, False), msg)
        signatures.append({"curve25519_public": B64(xeddsa.priv_to_curve25519_pub(priv)), "message": B64(msg),
                           "signature": B64(sig), "valid": True})
        bad = bytearray(sig)
        bad[i] ^= 0x01
        signatures.append({"curve25519_public": B64(xeddsa.priv_to_curve25519_pub(priv)), "message": B64(msg),
                           "signature": B64(bytes(bad)), "valid": False})
    # Signed-prekey signatures the way python-oldmemo puts them in legacy bundles: an Ed25519
    # signature by the identity's private key, with the Ed25519 public key's sign bit in the top
    # bit of the last signature byte (libsignal convention). Cover both sign bits.
    seen = {0: 0, 1: 0}
    while min(seen.values()) < 3:
        priv = xeddsa.seed_to_priv(secrets.token_bytes(32))
        ed = xeddsa.priv_to_ed25519_pub(priv)
        bit = ed[31] >> 7
        if seen[bit] >= 3:
            continue
        seen[bit] += 1
        msg = b"\x05" + secrets.token_bytes(32)
        sig = bytearray(xeddsa.ed25519_priv_sign(priv, msg))
        sig[63] |= ed[31] & 0x80
        signatures.append({"curve25519_public": B64(xeddsa.priv_to_curve25519_pub(priv)), "message": B64(msg),
                           "signature": B64(bytes(sig)), "valid": True, "sign_bit": bit})
        wrong = bytearray(sig)
        wrong[63] ^= 0x80
        signatures.append({"curve25519_public": B64(xeddsa.priv_to_curve25519_pub(priv)), "message": B64(msg),
                           "signature": B64(bytes(wrong)), "valid": False, "sign_bit": bit ^ 1})
    return {"generator": "python-xeddsa (libxeddsa)", "conversions": conversions, "signatures": signatures}


async def gen_version(backend_cls, module, etree, ns, plaintexts):
    bob_jid, bob_dev = "bob@talpa.test", 1111
    alice_jid, alice_dev = "alice@talpa.test", 2222
    bob_storage = MemoryStorage()
    bob = backend_cls(bob_storage)
    await bob.generate_pre_keys(5)
    bundle = await bob.get_bundle(bob_jid, bob_dev)
    bundle_xml = xml_string(etree.serialize_bundle(bundle), ns)

    alice_storage = MemoryStorage()
    alice = backend_cls(alice_storage)
    parsed_bundle = etree.parse_bundle(ET.fromstring(bundle_xml), bob_jid, bob_dev)
    messages = []
    session = None
    for i, text in enumerate(plaintexts):
        content, pkm = await alice.encrypt_plaintext(text.encode("utf-8"))
        if session is None:
            session, ekm = await alice.build_session_active(bob_jid, bob_dev, parsed_bundle, pkm)
            kex = session.key_exchange
        else:
            ekm = await alice.encrypt_key_material(session, pkm)
            kex = None
        msg = Message(ns, alice_jid, alice_dev, content, frozenset([(ekm, kex)]))
        messages.append({"xml": xml_string(etree.serialize_message(msg), ns), "plaintext": text,
                         "key_exchange": kex is not None})
    alice_bundle = await alice.get_bundle(alice_jid, alice_dev)
    return {
        "generator": f"python {module.__name__} {module.version.__version__}",
        "namespace": ns,
        "bob": {"jid": bob_jid, "device_id": bob_dev, **device_secrets(bob_storage, ns)},
        "bob_bundle_xml": bundle_xml,
        "bob_python_storage": bob_storage.data,
        "alice": {"jid": alice_jid, "device_id": alice_dev,
                  "identity_ed25519": B64(alice_bundle.identity_key),
                  "identity_curve25519": B64(xeddsa.ed25519_pub_to_curve25519_pub(alice_bundle.identity_key))},
        "messages": messages,
    }


SCE = ("<envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>{}</body></content>"
       "<rpad>q9X2</rpad><time stamp='2026-11-28T19:00:00Z'/><to jid='bob@talpa.test'/>"
       "<from jid='alice@talpa.test'/></envelope>")


async def generate(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    vectors = {
        "xeddsa.json": gen_xeddsa(),
        "oldmemo.json": await gen_version(Oldmemo, oldmemo, oldmemo.etree, oldmemo.oldmemo.NAMESPACE,
                                          ["hello from python-oldmemo", "second 🦫 message", "third"]),
        "twomemo.json": await gen_version(Twomemo, twomemo, twomemo.etree, twomemo.twomemo.NAMESPACE,
                                          [SCE.format("hello from python-twomemo"), SCE.format("second"),
                                           SCE.format("third")]),
    }
    for name, data in vectors.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "generate":
        asyncio.run(generate(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "check-rust":
        asyncio.run(check_rust(sys.argv[2]))
    else:
        sys.exit(__doc__)


async def python_decrypt(file_vectors, ns, sender_jid, sender_dev, messages):
    """Decrypts Rust-made messages as the python-made device "bob" (restored from its storage)."""
    storage = MemoryStorage(file_vectors["bob_python_storage"])
    bob_jid, bob_dev = file_vectors["bob"]["jid"], file_vectors["bob"]["device_id"]
    legacy = ns == oldmemo.oldmemo.NAMESPACE
    backend = (Oldmemo if legacy else Twomemo)(storage)
    session = None
    out = []
    for m in messages:
        elt = ET.fromstring(m["xml"])
        if legacy:
            # oldmemo.etree.parse_message needs a full SessionManager; do its few steps by hand.
            header = elt.find(f"{{{ns}}}header")
            key_elt = next(k for k in header.iter(f"{{{ns}}}key") if int(k.get("rid")) == bob_dev)
            data = base64.b64decode(key_elt.text)
            content = OldContent(base64.b64decode(elt.find(f"{{{ns}}}payload").text),
                                 base64.b64decode(header.find(f"{{{ns}}}iv").text))
            if key_elt.get("prekey") in ("true", "1"):
                kex, auth = OldKex.parse(data, False)
                ekm = OldEkm.parse(auth, sender_jid, sender_dev)
            else:
                kex, ekm = None, OldEkm.parse(data, sender_jid, sender_dev)
        else:
            msg = twomemo.etree.parse_message(elt, sender_jid)
            content = msg.content
            ekm, kex = next((e, k) for e, k in msg.keys if e.bare_jid == bob_jid and e.device_id == bob_dev)
        if kex is not None and (session is None or not session.key_exchange.builds_same_session(kex)):
            session, pkm = await backend.build_session_passive(sender_jid, sender_dev, kex, ekm)
        else:
            pkm = await backend.decrypt_key_material(session, ekm)
        out.append((await backend.decrypt_plaintext(content, pkm)).decode("utf-8"))
    return backend, session, out


async def python_replies(backend, session, ns, etree, sender_jid, sender_dev, sender_bundle_xml, bob_jid, bob_dev):
    """Bob answers Talpa: once in the session Talpa started, once in a new session built from
    Talpa's bundle (python verifies its signed-prekey signature doing so)."""
    replies = []
    text = "reply from python in talpa's session"
    content, pkm = await backend.encrypt_plaintext(text.encode("utf-8"))
    ekm = await backend.encrypt_key_material(session, pkm)
    replies.append((Message(ns, bob_jid, bob_dev, content, frozenset([(ekm, None)])), text))
    bundle = etree.parse_bundle(ET.fromstring(sender_bundle_xml), sender_jid, sender_dev)
    text = "reply from python in a session built from talpa's bundle"
    content, pkm = await backend.encrypt_plaintext(text.encode("utf-8"))
    session, ekm = await backend.build_session_active(sender_jid, sender_dev, bundle, pkm)
    replies.append((Message(ns, bob_jid, bob_dev, content, frozenset([(ekm, session.key_exchange)])), text))
    return [{"xml": xml_string(etree.serialize_message(m), ns), "plaintext": t} for m, t in replies]


def check_rust_xeddsa(data_dir):
    path = os.path.join(data_dir, "rust_xeddsa.json")
    with open(path, encoding="utf-8") as f:
        made = json.load(f)
    for c in made["signatures"]:
        ed = xeddsa.curve25519_pub_to_ed25519_pub(base64.b64decode(c["curve25519_public"]), False)
        c["libxeddsa_verified"] = xeddsa.ed25519_verify(base64.b64decode(c["signature"]), ed,
                                                        base64.b64decode(c["message"]))
    ok = sum(c["libxeddsa_verified"] for c in made["signatures"])
    print(f"rust_xeddsa.json: libxeddsa verified {ok}/{len(made['signatures'])} Talpa XEdDSA signatures")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(made, f, indent=1)
        f.write("\n")


async def check_rust(data_dir):
    check_rust_xeddsa(data_dir)
    path = os.path.join(data_dir, "rust_to_python.json")
    with open(path, encoding="utf-8") as f:
        made = json.load(f)
    for name, entry in made.items():
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            vectors = json.load(f)
        ns = vectors["namespace"]
        backend, session, texts = await python_decrypt(vectors, ns, entry["sender_jid"], entry["sender_device_id"],
                                                       entry["messages"])
        etree = oldmemo.etree if ns == oldmemo.oldmemo.NAMESPACE else twomemo.etree
        entry["python_replies"] = await python_replies(
            backend, session, ns, etree, entry["sender_jid"], entry["sender_device_id"], entry["sender_bundle_xml"],
            vectors["bob"]["jid"], vectors["bob"]["device_id"])
        print(f"{name}: python-omemo accepted Talpa's bundle and wrote {len(entry['python_replies'])} replies")
        for m, t in zip(entry["messages"], texts):
            m["python_decrypted"] = t
            print(f"{name}: python-omemo decrypted {'OK' if t == m['plaintext'] else 'MISMATCH'}: {t[:60]!r}")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(made, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
