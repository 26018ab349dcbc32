#!/usr/bin/env python3
"""A scriptable XMPP peer (slixmpp) for Talpa's integration tests.

Run with the bed's venv python:

  peer.py --jid USER@talpa.test --password PASS --host 127.0.0.1 --port C2S_PORT --ca CA.pem
          [--omemo-storage FILE.json]

It connects with STARTTLS (or direct TLS with --direct-tls), trusting only the bed's CA
(certificate checked against the JID's domain), and is then
driven by JSON objects, one per line, on stdin.  It reports events as JSON
objects, one per line, on stdout (stdout carries nothing else; diagnostics go to
stderr).  Every command may carry an "id" chosen by the caller (a string); the
"ack" event echoes it once the command has been carried out.

Commands (field "cmd"):
  {"cmd": "send", "to": JID, "body": TEXT, ["msg_id": ID], ["encrypt": "oldmemo"|"twomemo"]}
        send a chat message (plaintext unless "encrypt" is given; see OMEMO below).
        With "encrypt": "twomemo", an optional "sce_to": JID forges the envelope's <to/>.
  {"cmd": "join", "room": ROOM_JID, "nick": NICK, ["password": PW]}
        join a MUC room (creating it if it does not exist; instant room).
        Emits "joined" when our own presence comes back.
  {"cmd": "join", ..., ["config": {VAR: VALUE}]}
        as owner, the room config form is submitted with these fields changed, e.g.
        {"muc#roomconfig_membersonly": true, "muc#roomconfig_whois": "anyone",
         "muc#roomconfig_persistentroom": true}.
  {"cmd": "configure", "room": ROOM_JID, "config": {VAR: VALUE}}
        change the config of a room we own.
  {"cmd": "affiliation", "room": ROOM_JID, "jid": JID,
   "affiliation": "member"|"admin"|"owner"|"none"|"outcast"}
  {"cmd": "invite", "room": ROOM_JID, "jid": JID, ["reason": TEXT]}   mediated invitation
  {"cmd": "leave", "room": ROOM_JID, "nick": NICK}
  {"cmd": "groupchat", "room": ROOM_JID, "body": TEXT, ["msg_id": ID],
   ["encrypt": "oldmemo"|"twomemo", ["recipients": [BARE_JID...]]]}
        send a groupchat message to a joined room; encrypted for "recipients" or, by
        default, for the real JIDs of all other occupants (non-anonymous room).
        The ack carries "recipients".
  {"cmd": "echo", "on": true|false}
        echo mode: reply to every received chat message with the same body
        (encrypted the same way it came, when it was OMEMO).
  {"cmd": "roster_add", "jid": JID, ["name": NAME]}
        add JID to the roster and send a subscription request.
  {"cmd": "roster_approve", "jid": JID}
        approve JID's subscription request (and subscribe back).
  {"cmd": "auto_approve", "on": true|false}
        approve every subscription request automatically.
  {"cmd": "upload", ("text": TEXT | "data_b64": B64), ["filename": NAME],
   ["content_type": MIME], ["service": JID]}
        XEP-0363 upload (slot from upload.<domain>, PUT over plain HTTP directly to
        Prosody); the ack carries "get_url" (http://127.0.0.1:<http_port>/...).
  {"cmd": "carbons", "on": true|false}
        enable/disable message carbons (XEP-0280) for this peer.
  {"cmd": "raw", "xml": XML}
        send XML as-is on the stream (hostile-input tests: forged carbons, bad stanzas...).
  {"cmd": "iq", "xml": "<iq type='get' to='...'>...</iq>", ["timeout": S]}
        send an IQ and wait for its answer; the ack carries "type" (result/error),
        "response" (XML) and for errors "condition".
  {"cmd": "raw_events", "on": true|false}
        also report every received stanza as {"event": "stanza", "kind", "from", "xml"}.
  {"cmd": "omemo_info"}
        ack carries "info": {"device": DEVICE, "other_devices": [DEVICE...]} (our own).
  {"cmd": "omemo_devices", "jid": JID}
        force-refresh JID's device lists; ack carries "devices": [DEVICE...], where
        DEVICE = {"id", "jid", "identity_key" (hex), "namespaces", "trust", "active", "label"}.
  {"cmd": "quit"}
        disconnect and exit 0.

Events (field "event"):
  {"event": "online", "jid": FULL_JID}
  {"event": "message", "from": FULL_JID, "to": JID, "body": TEXT|null, "id": ID|null,
   "type": "chat"|"groupchat"|"normal"|..., "encrypted": null|"oldmemo"|"twomemo",
   "delayed": bool, ["sender_device": N], ["sce_from": JID, "sce_to": JID]}
        encrypted messages carry the decrypted body; OMEMO 2 ones also the SCE affixes.
  {"event": "carbon", "direction": "received"|"sent", ...message fields of the inner message}
        a carbon copy from our own server (only these are reported as carbons; forged
        ones from others are ignored by slixmpp); received OMEMO carbons are decrypted.
  {"event": "message_error", "from": JID, "id": ID|null, "condition": TEXT}   a bounce
  {"event": "joined", "room": ROOM_JID, "nick": NICK}
  groupchat "message" events also carry "real_jid" (when the room reveals it).
  {"event": "occupant", "room": ROOM_JID, "nick": NICK, "real_jid": JID|null,
   "affiliation": TEXT|null, "role": TEXT|null, "available": bool}   any MUC presence
  {"event": "subscribe", "from": BARE_JID}        a subscription request arrived
  {"event": "subscribed", "from": BARE_JID}       our request was approved
  {"event": "unsubscribed", "from": BARE_JID}     our request was denied (or revoked)
  {"event": "ack", "cmd": CMD, "id": ID|null, ["msg_id": ID]}  a command was done
  {"event": "error", "error": TEXT, ["cmd": CMD], ["id": ID]}
        also for a received message that cannot be decrypted ("from", "msg_id").
  {"event": "omemo_encryption_errors", "to": JID, "errors": [TEXT...]}
        non-fatal per-device errors while encrypting (the message was still sent).
  {"event": "disconnected", "reason": TEXT|null}

With --omemo-legacy-only the peer publishes and speaks only legacy OMEMO (as clients without
OMEMO 2 do); "encrypt": "twomemo" then fails.

OMEMO (only with --omemo-storage; the "omemo" field of "online" says so; see
peer_omemo.py): "send" with "encrypt": "oldmemo" sends legacy OMEMO
(eu.siacs.conversations.axolotl, via slixmpp-omemo), "encrypt": "twomemo" sends
OMEMO 2 (urn:xmpp:omemo:2 with an SCE envelope built here).  Both force-refresh
the recipient's device lists first.  Trust is blind trust before verification.
Received OMEMO messages of either version are decrypted; "online" is emitted only
after our own device list and bundles are published.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import threading


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description="scriptable slixmpp peer for Talpa tests")
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--omemo-storage", default=None,
                    help="JSON file for OMEMO state (enables OMEMO)")
    ap.add_argument("--omemo-legacy-only", action="store_true",
                    help="publish and use legacy OMEMO only (like clients without OMEMO 2)")
    ap.add_argument("--direct-tls", action="store_true",
                    help="connect with direct TLS (XEP-0368) instead of STARTTLS")
    ap.add_argument("--debug", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(stream=sys.stderr,
                        level=logging.DEBUG if a.debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import slixmpp  # noqa: E402 - imported after logging is configured

    omemo_mod = None
    if a.omemo_storage:
        import peer_omemo as omemo_mod  # noqa: E402

    class Peer(slixmpp.ClientXMPP):
        def __init__(self):
            super().__init__(a.jid, a.password)
            self.echo = False
            self.auto_approve = False
            self.raw_events = False
            self.pending_joins = {}
            self.omemo = None
            self.register_plugin("xep_0030")
            self.register_plugin("xep_0045")
            self.register_plugin("xep_0199")
            self.register_plugin("xep_0203")
            self.register_plugin("xep_0359")
            self.register_plugin("xep_0280")
            if omemo_mod is not None:
                self.omemo = omemo_mod.setup(self, a.omemo_storage, a.omemo_legacy_only)
            self.add_event_handler("session_start", self.on_start)
            self.add_event_handler("message", self.on_message)
            self.add_event_handler("message_error", self.on_message_error)
            self.add_event_handler("groupchat_message", self.on_groupchat)
            self.add_event_handler("groupchat_presence", self.on_muc_presence)
            self.add_event_handler("presence_error", self.on_presence_error)
            self.add_event_handler("presence_subscribe", self.on_subscribe)
            self.add_event_handler("presence_subscribed", self.on_subscribed)
            self.add_event_handler("presence_unsubscribed", self.on_unsubscribed)
            self.add_event_handler("disconnected", self.on_disconnected)
            self.add_event_handler("carbon_received", self.on_carbon_received)
            self.add_event_handler("carbon_sent", self.on_carbon_sent)
            if omemo_mod is not None:
                # slixmpp's "message" event needs a <body/>: OMEMO empty messages (heartbeats,
                # key transport) have none, yet they complete sessions and must be decrypted.
                from slixmpp.xmlstream.handler import CoroutineCallback
                from slixmpp.xmlstream.matcher import MatchXPath
                self.register_handler(CoroutineCallback(
                    "omemo empty message",
                    MatchXPath("{jabber:client}message/{urn:xmpp:omemo:2}encrypted"),
                    self.on_bodyless_encrypted))
            # An incoming filter sees every stanza without counting as a handler, so
            # slixmpp still answers unhandled IQs with an error.
            self.add_filter("in", self.on_raw_stanza)
            self.add_event_handler("failed_auth", lambda _e: emit(
                {"event": "error", "error": "authentication failed"}))
            self.add_event_handler("connection_failed", lambda e: emit(
                {"event": "error", "error": f"connection failed: {e}"}))

        async def on_start(self, _event):
            self.send_presence()
            try:
                await self.get_roster()
            except Exception as e:  # noqa: BLE001 - report, keep running
                emit({"event": "error", "error": f"roster: {e}"})
            if self.omemo is not None:
                await omemo_mod.on_start(self)
            emit({"event": "online", "jid": str(self.boundjid),
                  "omemo": self.omemo is not None})

        def message_event(self, msg, body, encrypted):
            return {"event": "message", "from": str(msg["from"]), "to": str(msg["to"]),
                    "body": body, "id": msg["id"] or None, "type": msg["type"],
                    "encrypted": encrypted,
                    "delayed": bool(msg.xml.find("{urn:xmpp:delay}delay") is not None)}

        def on_message_error(self, msg):
            # Every error bounce (with or without the original body) is reported here once.
            emit({"event": "message_error", "from": str(msg["from"]),
                  "id": msg["id"] or None, "condition": msg["error"]["condition"]})

        async def on_bodyless_encrypted(self, msg):
            if msg.xml.find("{jabber:client}body") is None:
                await self.on_message(msg)

        async def on_message(self, msg):
            if msg["type"] == "error":
                return  # reported by on_message_error
            if msg["type"] not in ("chat", "normal"):
                return
            ev = self.message_event(msg, msg["body"] or None, None)
            if self.omemo is not None:
                try:
                    res = await omemo_mod.try_decrypt(self, msg)
                except Exception as e:  # noqa: BLE001 - report undecryptable messages
                    logging.exception("decryption failed")
                    emit({"event": "error", "error": f"decrypt: {type(e).__name__}: {e}",
                          "from": str(msg["from"]), "msg_id": msg["id"] or None})
                    return
                if res is not None:
                    ev.update(res)
            if ev["body"] is None and ev["encrypted"] is None:
                return  # chat state or receipt only
            emit(ev)
            if self.echo and ev["body"] is not None:
                await self.do_send(msg["from"].bare, ev["body"], None, ev["encrypted"])

        async def on_groupchat(self, msg):
            ev = self.message_event(msg, msg["body"] or None, None)
            real = self.plugin["xep_0045"].get_jid_property(
                msg["from"].bare, msg["from"].resource, "jid")
            ev["real_jid"] = str(real) if real else None
            if self.omemo is not None:
                try:
                    res = await omemo_mod.try_decrypt(self, msg)
                except Exception as e:  # noqa: BLE001 - report undecryptable messages
                    logging.exception("groupchat decryption failed")
                    emit({"event": "error", "error": f"decrypt: {type(e).__name__}: {e}",
                          "from": str(msg["from"]), "msg_id": msg["id"] or None})
                    return
                if res is not None:
                    ev.update(res)
            if ev["body"] is None and ev["encrypted"] is None:
                return  # subject change or chat state
            emit(ev)

        async def on_carbon_received(self, msg):
            await self.on_carbon(msg["carbon_received"], "received")

        async def on_carbon_sent(self, msg):
            await self.on_carbon(msg["carbon_sent"], "sent")

        async def on_carbon(self, inner, direction):
            ev = self.message_event(inner, inner["body"] or None, None)
            ev["event"] = "carbon"
            ev["direction"] = direction
            if self.omemo is not None and direction == "received":
                try:
                    res = await omemo_mod.try_decrypt(self, inner)
                except Exception as e:  # noqa: BLE001 - report, keep the event
                    ev["decrypt_error"] = f"{type(e).__name__}: {e}"
                else:
                    if res is not None:
                        ev.update(res)
            emit(ev)

        def on_raw_stanza(self, stanza):
            if self.raw_events and stanza.name in ("message", "presence", "iq"):
                emit({"event": "stanza", "kind": stanza.name, "from": str(stanza["from"]),
                      "xml": str(stanza)})
            return stanza

        def on_presence_error(self, pres):
            # Prosody's MUC join errors carry no muc#user payload, so slixmpp's
            # join_muc_wait never sees them; fail pending joins here.
            fut = self.pending_joins.get(pres["from"].bare)
            if fut is not None and not fut.done():
                err = pres["error"]
                fut.set_exception(RuntimeError(
                    f"join refused: {err['type']}/{err['condition']} {err['text'] or ''}".strip()))

        async def join_room(self, room, nick, password=None):
            fut = asyncio.get_running_loop().create_future()
            self.pending_joins[room] = fut
            join = asyncio.ensure_future(
                self.plugin["xep_0045"].join_muc_wait(room, nick, maxstanzas=0, timeout=60,
                                                      password=password))
            try:
                done, _ = await asyncio.wait({join, fut}, return_when=asyncio.FIRST_COMPLETED)
                if fut in done:
                    join.cancel()
                    fut.result()
                join.result()
            finally:
                self.pending_joins.pop(room, None)

        def on_muc_presence(self, pres):
            item = pres["muc"]
            emit({"event": "occupant", "room": pres["from"].bare, "nick": pres["from"].resource,
                  "real_jid": str(item["jid"]) if item["jid"] else None,
                  "affiliation": item["affiliation"] or None, "role": item["role"] or None,
                  "available": pres["type"] != "unavailable"})

        def room_real_jids(self, room):
            """Bare real JIDs of the other occupants (needs a non-anonymous room)."""
            muc = self.plugin["xep_0045"]
            out = set()
            for nick in muc.get_roster(room) or []:
                jid = muc.get_jid_property(room, nick, "jid")
                if jid and slixmpp.JID(jid).bare != self.boundjid.bare:
                    out.add(slixmpp.JID(jid).bare)
            return sorted(out)

        async def configure_room(self, room, values=None, strict=False):
            """Submits the room config form with `values` (var -> value) applied."""
            muc = self.plugin["xep_0045"]
            try:
                form = await muc.get_room_config(room)
            except Exception:  # noqa: BLE001 - not the owner
                if strict:
                    raise
                return
            fields = form.get_fields()
            for var, value in (values or {}).items():
                if var not in fields:
                    raise ValueError(f"room config has no field {var!r}")
                fields[var]["value"] = value
            form["type"] = "submit"
            await muc.set_room_config(room, form)

        def on_subscribe(self, pres):
            emit({"event": "subscribe", "from": pres["from"].bare})
            if self.auto_approve:
                self.approve(pres["from"].bare)

        def on_subscribed(self, pres):
            emit({"event": "subscribed", "from": pres["from"].bare})

        def on_unsubscribed(self, pres):
            emit({"event": "unsubscribed", "from": pres["from"].bare})

        def on_disconnected(self, reason):
            emit({"event": "disconnected", "reason": str(reason) if reason else None})

        def approve(self, jid):
            self.send_presence(pto=jid, ptype="subscribed")
            self.send_presence(pto=jid, ptype="subscribe")

        async def do_send(self, to, body, msg_id, encrypt, sce_to=None):
            msg = self.make_message(mto=to, mbody=None if encrypt else body, mtype="chat")
            if msg_id:
                msg["id"] = msg_id
            if encrypt:
                self.need_omemo()
                res = await omemo_mod.encrypt_and_send(self, msg, to, body, encrypt, sce_to)
                if res.get("errors"):
                    emit({"event": "omemo_encryption_errors", "to": to, "errors": res["errors"]})
            else:
                msg.send()
            return msg["id"]

        async def upload(self, c):
            """XEP-0363: request a slot from the upload service, PUT the data, return the GET URL."""
            import base64
            import urllib.request
            import xml.etree.ElementTree as ET
            ns = "urn:xmpp:http:upload:0"
            data = (base64.b64decode(c["data_b64"]) if "data_b64" in c
                    else c.get("text", "").encode())
            iq = self.make_iq_get(ito=c.get("service", "upload." + self.boundjid.domain))
            req = ET.Element(f"{{{ns}}}request", filename=c.get("filename", "file.bin"),
                             size=str(len(data)),
                             **{"content-type": c.get("content_type", "application/octet-stream")})
            iq.append(req)
            res = await iq.send(timeout=30)
            slot = res.xml.find(f"{{{ns}}}slot")
            if slot is None:
                raise RuntimeError(f"no slot in {res}")
            put = slot.find(f"{{{ns}}}put")
            get = slot.find(f"{{{ns}}}get")
            headers = {h.get("name"): (h.text or "") for h in put.findall(f"{{{ns}}}header")}
            headers["Content-Type"] = c.get("content_type", "application/octet-stream")
            request = urllib.request.Request(put.get("url"), data=data, method="PUT",
                                             headers=headers)

            def do_put():
                with urllib.request.urlopen(request, timeout=30) as r:
                    return r.status

            status = await asyncio.get_running_loop().run_in_executor(None, do_put)
            if status not in (200, 201):
                raise RuntimeError(f"PUT returned {status}")
            return get.get("url")

        async def share_file(self, c):
            """XEP-0454 as Conversations/Dino/slixmpp do it: AES-256-GCM with a random 12-byte
            IV and key (tag appended), upload the ciphertext, send `aesgcm://...#<iv><key>`
            (over OMEMO when `encrypt` is given)."""
            import base64
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            iv, key = os.urandom(12), os.urandom(32)
            cipher = AESGCM(key).encrypt(iv, base64.b64decode(c["data_b64"]), None)
            get = await self.upload({"data_b64": base64.b64encode(cipher).decode(),
                                     "filename": c.get("filename", "file.bin")})
            url = "aesgcm://" + get.split("://", 1)[1] + "#" + iv.hex() + key.hex()
            msg_id = await self.do_send(c["to"], url, None, c.get("encrypt"))
            return url, msg_id

        async def fetch_file(self, c):
            """Downloads a shared file (an `aesgcm://` link is fetched over the bed's plain
            http and decrypted); returns its bytes as base64."""
            import base64
            import urllib.request
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            url, key = c["url"], None
            if url.startswith("aesgcm://"):
                rest, frag = url[len("aesgcm://"):].split("#", 1)
                url, key = "http://" + rest, frag
            oob = c.get("oob")
            if oob is not None and oob != url:
                raise RuntimeError(f"the OOB URL {oob!r} differs from the body {url!r}")

            def do_get():
                with urllib.request.urlopen(url, timeout=30) as r:
                    return r.read()

            data = await asyncio.get_running_loop().run_in_executor(None, do_get)
            if key is not None:
                data = AESGCM(bytes.fromhex(key[24:])).decrypt(bytes.fromhex(key[:24]), data,
                                                               None)
            return base64.b64encode(data).decode()

        def need_omemo(self):
            if self.omemo is None:
                raise RuntimeError("OMEMO is not enabled (start with --omemo-storage)")

        async def handle(self, c):
            cmd = c.get("cmd")
            ack = {"event": "ack", "cmd": cmd, "id": c.get("id")}
            if cmd == "send":
                ack["msg_id"] = await self.do_send(c["to"], c["body"], c.get("msg_id"),
                                                   c.get("encrypt"), c.get("sce_to"))
            elif cmd == "join":
                room, nick = c["room"], c["nick"]
                await self.join_room(room, nick, c.get("password"))
                await self.configure_room(room, c.get("config"))
                emit({"event": "joined", "room": room, "nick": nick})
            elif cmd == "configure":
                await self.configure_room(c["room"], c.get("config") or {}, strict=True)
            elif cmd == "affiliation":
                await self.plugin["xep_0045"].set_affiliation(c["room"], c["affiliation"],
                                                              jid=c["jid"])
            elif cmd == "invite":
                self.plugin["xep_0045"].invite(c["room"], c["jid"], c.get("reason", ""))
            elif cmd == "leave":
                self.plugin["xep_0045"].leave_muc(c["room"], c["nick"])
            elif cmd == "groupchat":
                room = c["room"]
                msg = self.make_message(mto=room, mbody=None if c.get("encrypt") else c["body"],
                                        mtype="groupchat")
                if c.get("msg_id"):
                    msg["id"] = c["msg_id"]
                if c.get("encrypt"):
                    self.need_omemo()
                    recipients = c.get("recipients") or self.room_real_jids(room)
                    res = await omemo_mod.encrypt_and_send_group(
                        self, msg, room, recipients, c["body"], c["encrypt"])
                    ack["recipients"] = recipients
                    if res.get("errors"):
                        emit({"event": "omemo_encryption_errors", "to": room,
                              "errors": res["errors"]})
                else:
                    msg.send()
                ack["msg_id"] = msg["id"]
            elif cmd == "echo":
                self.echo = bool(c.get("on", True))
            elif cmd == "auto_approve":
                self.auto_approve = bool(c.get("on", True))
            elif cmd == "roster_add":
                await self.update_roster(c["jid"], name=c.get("name"))
                self.send_presence(pto=c["jid"], ptype="subscribe")
            elif cmd == "roster_approve":
                self.approve(c["jid"])
            elif cmd == "carbons":
                if c.get("on", True):
                    await self.plugin["xep_0280"].enable()
                else:
                    await self.plugin["xep_0280"].disable()
            elif cmd == "raw":
                self.send_raw(c["xml"])
            elif cmd == "iq":
                from slixmpp.xmlstream import ET as SET
                from slixmpp.exceptions import IqError
                elt = SET.fromstring(c["xml"])
                iq = self.make_iq(id=elt.get("id") or self.new_id(), ito=elt.get("to"),
                                  itype=elt.get("type", "get"))
                for child in list(elt):
                    iq.append(child)
                try:
                    res = await iq.send(timeout=c.get("timeout", 30))
                    ack["response"] = str(res)
                    ack["type"] = res["type"]
                except IqError as e:
                    ack["response"] = str(e.iq)
                    ack["type"] = "error"
                    ack["condition"] = e.iq["error"]["condition"]
            elif cmd == "raw_events":
                self.raw_events = bool(c.get("on", True))
            elif cmd == "upload":
                ack["get_url"] = await self.upload(c)
            elif cmd == "serve_slot":
                # Act as an XEP-0363 upload service answering every slot request with `xml`
                # (a test's hostile <slot/>).
                from slixmpp.xmlstream import ET as SET
                from slixmpp.xmlstream.handler import Callback
                from slixmpp.xmlstream.matcher import MatchXPath
                slot_xml = c["xml"]

                def answer(iq):
                    reply = iq.reply(clear=True)
                    reply.append(SET.fromstring(slot_xml))
                    reply.send()

                self.register_handler(Callback(
                    "hostile upload slot",
                    MatchXPath("{jabber:client}iq/{urn:xmpp:http:upload:0}request"), answer))
            elif cmd == "share_file":
                ack["url"], ack["msg_id"] = await self.share_file(c)
            elif cmd == "fetch_file":
                ack["data_b64"] = await self.fetch_file(c)
            elif cmd == "omemo_info":
                self.need_omemo()
                ack["info"] = await omemo_mod.own_info(self)
            elif cmd == "omemo_devices":
                self.need_omemo()
                ack["devices"] = await omemo_mod.devices(self, c["jid"])
            elif cmd == "quit":
                emit(ack)
                self.disconnect()
                await asyncio.sleep(0.5)
                loop.stop()
                return
            else:
                raise ValueError(f"unknown command {cmd!r}")
            emit(ack)

        async def handle_safe(self, c):
            try:
                await self.handle(c)
            except Exception as e:  # noqa: BLE001 - every failure becomes an event
                logging.exception("command %r failed", c)
                emit({"event": "error", "error": f"{type(e).__name__}: {e}",
                      "cmd": c.get("cmd"), "id": c.get("id")})

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    xmpp = Peer()
    xmpp.ca_certs = a.ca
    xmpp.enable_direct_tls = a.direct_tls
    xmpp.enable_starttls = not a.direct_tls
    xmpp.enable_plaintext = False

    def on_line(line):
        line = line.strip()
        if not line:
            return
        try:
            c = json.loads(line)
            if not isinstance(c, dict):
                raise ValueError("command must be a JSON object")
        except ValueError as e:
            emit({"event": "error", "error": f"bad command line: {e}"})
            return
        loop.create_task(xmpp.handle_safe(c))

    def reader():
        for line in sys.stdin:
            loop.call_soon_threadsafe(on_line, line)
        # stdin closed: the test is gone. If it was killed (an aborted test runs no Drop), its
        # end of stdout is gone too, so the "quit" command's ack would fail before it
        # disconnects: disconnect directly, and exit for sure a moment later.
        loop.call_soon_threadsafe(xmpp.disconnect)
        threading.Event().wait(2.0)
        os._exit(0)

    threading.Thread(target=reader, daemon=True).start()
    xmpp.connect(a.host, a.port)
    loop.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
