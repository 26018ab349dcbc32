#!/usr/bin/env python3
"""A scriptable XMPP peer (slixmpp) for Talpa's integration tests.

Run with the bed's venv python:

  peer.py --jid USER@talpa.test --password PASS --host 127.0.0.1 --port C2S_PORT --ca CA.pem
          [--omemo-storage FILE.json]

It connects with STARTTLS (no direct TLS), trusting only the bed's CA, and is then
driven by JSON objects, one per line, on stdin.  It reports events as JSON
objects, one per line, on stdout (stdout carries nothing else; diagnostics go to
stderr).  Every command may carry an "id" chosen by the caller (a string); the
"ack" event echoes it once the command has been carried out.

Commands (field "cmd"):
  {"cmd": "send", "to": JID, "body": TEXT, ["msg_id": ID], ["encrypt": "oldmemo"|"twomemo"]}
        send a chat message (plaintext unless "encrypt" is given; see OMEMO below).
  {"cmd": "join", "room": ROOM_JID, "nick": NICK}
        join a MUC room (creating it if it does not exist; instant room).
        Emits "joined" when our own presence comes back.
  {"cmd": "groupchat", "room": ROOM_JID, "body": TEXT, ["msg_id": ID]}
        send a groupchat message to a joined room.
  {"cmd": "echo", "on": true|false}
        echo mode: reply to every received chat message with the same body
        (encrypted the same way it came, when it was OMEMO).
  {"cmd": "roster_add", "jid": JID, ["name": NAME]}
        add JID to the roster and send a subscription request.
  {"cmd": "roster_approve", "jid": JID}
        approve JID's subscription request (and subscribe back).
  {"cmd": "auto_approve", "on": true|false}
        approve every subscription request automatically.
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
  {"event": "joined", "room": ROOM_JID, "nick": NICK}
  {"event": "subscribe", "from": BARE_JID}        a subscription request arrived
  {"event": "subscribed", "from": BARE_JID}       our request was approved
  {"event": "ack", "cmd": CMD, "id": ID|null, ["msg_id": ID]}  a command was done
  {"event": "error", "error": TEXT, ["cmd": CMD], ["id": ID]}
        also for a received message that cannot be decrypted ("from", "msg_id").
  {"event": "omemo_encryption_errors", "to": JID, "errors": [TEXT...]}
        non-fatal per-device errors while encrypting (the message was still sent).
  {"event": "disconnected", "reason": TEXT|null}

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
            self.pending_joins = {}
            self.omemo = None
            self.register_plugin("xep_0030")
            self.register_plugin("xep_0045")
            self.register_plugin("xep_0199")
            self.register_plugin("xep_0203")
            self.register_plugin("xep_0359")
            if omemo_mod is not None:
                self.omemo = omemo_mod.setup(self, a.omemo_storage)
            self.add_event_handler("session_start", self.on_start)
            self.add_event_handler("message", self.on_message)
            self.add_event_handler("groupchat_message", self.on_groupchat)
            self.add_event_handler("presence_subscribe", self.on_subscribe)
            self.add_event_handler("presence_subscribed", self.on_subscribed)
            self.add_event_handler("disconnected", self.on_disconnected)
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

        async def on_message(self, msg):
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

        def on_groupchat(self, msg):
            emit(self.message_event(msg, msg["body"] or None, None))

        def on_subscribe(self, pres):
            emit({"event": "subscribe", "from": pres["from"].bare})
            if self.auto_approve:
                self.approve(pres["from"].bare)

        def on_subscribed(self, pres):
            emit({"event": "subscribed", "from": pres["from"].bare})

        def on_disconnected(self, reason):
            emit({"event": "disconnected", "reason": str(reason) if reason else None})

        def approve(self, jid):
            self.send_presence(pto=jid, ptype="subscribed")
            self.send_presence(pto=jid, ptype="subscribe")

        async def do_send(self, to, body, msg_id, encrypt):
            msg = self.make_message(mto=to, mbody=None if encrypt else body, mtype="chat")
            if msg_id:
                msg["id"] = msg_id
            if encrypt:
                self.need_omemo()
                res = await omemo_mod.encrypt_and_send(self, msg, to, body, encrypt)
                if res.get("errors"):
                    emit({"event": "omemo_encryption_errors", "to": to, "errors": res["errors"]})
            else:
                msg.send()
            return msg["id"]

        def need_omemo(self):
            if self.omemo is None:
                raise RuntimeError("OMEMO is not enabled (start with --omemo-storage)")

        async def handle(self, c):
            cmd = c.get("cmd")
            ack = {"event": "ack", "cmd": cmd, "id": c.get("id")}
            if cmd == "send":
                ack["msg_id"] = await self.do_send(c["to"], c["body"], c.get("msg_id"),
                                                   c.get("encrypt"))
            elif cmd == "join":
                room, nick = c["room"], c["nick"]
                await self.plugin["xep_0045"].join_muc_wait(room, nick, maxstanzas=0, timeout=30)
                try:
                    form = await self.plugin["xep_0045"].get_room_config(room)
                    form["type"] = "submit"
                    await self.plugin["xep_0045"].set_room_config(room, form)
                except Exception:  # noqa: BLE001 - not owner / already configured
                    pass
                emit({"event": "joined", "room": room, "nick": nick})
            elif cmd == "groupchat":
                msg = self.make_message(mto=c["room"], mbody=c["body"], mtype="groupchat")
                if c.get("msg_id"):
                    msg["id"] = c["msg_id"]
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
    xmpp.enable_direct_tls = False
    xmpp.enable_starttls = True
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
        # stdin closed: the test is gone; quit.
        loop.call_soon_threadsafe(on_line, '{"cmd": "quit"}')

    threading.Thread(target=reader, daemon=True).start()
    xmpp.connect(a.host, a.port)
    loop.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
