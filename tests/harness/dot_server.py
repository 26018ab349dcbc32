#!/usr/bin/env python3
"""A minimal DNS-over-TLS server (RFC 7858) for tests: answers SRV queries from a fixed table.

    dot_server.py --cert CRT --key KEY --srv NAME=PRIO:WEIGHT:PORT:TARGET [--srv ...]

Listens on 127.0.0.1 (a free port), prints `port N` on stdout, then one line per query it
answers: `query NAME TYPE`. Names in the table are answered with their SRV records; any other
name gets NXDOMAIN. Stops when stdin closes (the test dropped it).
"""
import argparse
import socket
import ssl
import struct
import sys
import threading


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def decode_question(msg):
    pos, labels = 12, []
    while msg[pos] != 0:
        n = msg[pos]
        labels.append(msg[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    pos += 1
    qtype, qclass = struct.unpack(">HH", msg[pos:pos + 4])
    return ".".join(labels).lower(), qtype, msg[12:pos + 4]


def answer(msg, table):
    qid = msg[:2]
    name, qtype, question = decode_question(msg)
    records = table.get(name) if qtype == 33 else None
    if records is None:
        flags, ancount, body = 0x8183, 0, b""  # response, RD, RA, NXDOMAIN
    else:
        flags, ancount, body = 0x8180, len(records), b""
        for prio, weight, port, target in records:
            rdata = struct.pack(">HHH", prio, weight, port) + encode_name(target)
            body += b"\xc0\x0c" + struct.pack(">HHIH", 33, 1, 60, len(rdata)) + rdata
    header = qid + struct.pack(">HHHHH", flags, 1, ancount, 0, 0)
    return name, qtype, header + question + body


def serve(conn, table, lock):
    try:
        while True:
            raw = conn.recv(2)
            if len(raw) < 2:
                return
            (n,) = struct.unpack(">H", raw)
            msg = b""
            while len(msg) < n:
                chunk = conn.recv(n - len(msg))
                if not chunk:
                    return
                msg += chunk
            name, qtype, reply = answer(msg, table)
            with lock:
                print(f"query {name} {qtype}", flush=True)
            conn.sendall(struct.pack(">H", len(reply)) + reply)
    except (OSError, ssl.SSLError, IndexError, struct.error):
        return
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--srv", action="append", default=[])
    args = ap.parse_args()
    table = {}
    for spec in args.srv:
        name, rec = spec.split("=", 1)
        prio, weight, port, target = rec.split(":", 3)
        table.setdefault(name.lower().rstrip("."), []).append(
            (int(prio), int(weight), int(port), target))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    print(f"port {sock.getsockname()[1]}", flush=True)
    lock = threading.Lock()

    def accept():
        while True:
            try:
                raw, _ = sock.accept()
                conn = ctx.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                continue
            threading.Thread(target=serve, args=(conn, table, lock), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
