#!/usr/bin/env python3
"""MAM benchmark helper (slixmpp, connected directly to Prosody, no Tor).

Run with the bed's venv python:

  mam_bench.py --jid J --password P --host H --port PORT --ca CA.pem fill --to JID --count N
        send N chat messages to JID ("mam-00000" ...), then wait until the server has processed
        them all (a ping answered after the last one); prints {"sent": N, "seconds": S}.
  mam_bench.py --jid J --password P --host H --port PORT --ca CA.pem fetch --rounds R
        page through the account's own archive R times (100 per page, XEP-0059 after-id
        paging, as slixmpp's xep_0313.iterate does); prints one line per round:
        {"count": N, "seconds": S} (time from the first query to the last page).
"""

import argparse
import asyncio
import json
import logging
import sys
import time

import slixmpp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    sub = ap.add_subparsers(dest="mode", required=True)
    fill = sub.add_parser("fill")
    fill.add_argument("--to", required=True)
    fill.add_argument("--count", type=int, required=True)
    fetch = sub.add_parser("fetch")
    fetch.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = slixmpp.ClientXMPP(a.jid, a.password)
    client.register_plugin("xep_0059")
    client.register_plugin("xep_0313")
    client.register_plugin("xep_0199")
    client.ca_certs = a.ca
    client.enable_plaintext = False
    done = loop.create_future()

    async def run():
        if a.mode == "fill":
            t0 = time.monotonic()
            for i in range(a.count):
                client.send_message(mto=a.to, mbody=f"mam-{i:05d}", mtype="chat")
                if i % 500 == 499:
                    await asyncio.sleep(0)  # let the transport drain
            await client.plugin["xep_0199"].ping(jid=client.boundjid.domain, timeout=1500)
            print(json.dumps({"sent": a.count, "seconds": time.monotonic() - t0}), flush=True)
        else:
            for _ in range(a.rounds):
                t0 = time.monotonic()
                count = 0
                async for _msg in client.plugin["xep_0313"].iterate(rsm={"max": 100}):
                    count += 1
                print(json.dumps({"count": count, "seconds": time.monotonic() - t0}),
                      flush=True)

    async def on_start(_event):
        try:
            await run()
        except Exception as e:  # noqa: BLE001 - reported to the caller
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        client.disconnect()
        if not done.done():
            done.set_result(None)

    client.add_event_handler("session_start", on_start)
    client.add_event_handler("failed_auth", lambda _e: done.done() or done.set_result(None))
    client.connect(a.host, a.port)
    loop.run_until_complete(asyncio.wait_for(done, timeout=1800))
    return 0


if __name__ == "__main__":
    sys.exit(main())
