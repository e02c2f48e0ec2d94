#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_proto_detect (tests/fuzz/corpus/proto_detect/) from the
real recorded conversations in tests/data/<proto>/<scenario>/ (NN-NNNN-{c2s,s2c}.bin, one
file per syscall) and the DNS query/response pairs, in the layout that
tests/fuzz/fuzz_proto_detect.c describes. Each conversation is written twice: as seen by
the server on its well-known port, and as a socket found by the start-up scan (role
unknown, no port hint), where detection has to work from the bytes alone.

usage: tests/fuzz/make_detect_corpus.py [DATA_DIR] [OUT_DIR]
"""
import os
import re
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
data_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data")
out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "corpus", "proto_detect")

PORT_INDEX = {"http": 1, "postgres": 3, "mysql": 4, "redis": 5, "dns": 6}
ROLE_SERVER, ROLE_UNKNOWN = 1, 0
HEAD = 256
MAX_SEED = 16384  # keeps seeds small; a conversation is cut at a record boundary
CHUNK = re.compile(r"^(\d+)-(\d+)-(c2s|s2c)\.bin$")


def record(conn, egress, payload, last_of_conn):
    flags = (conn & 3) | (0x80 if egress else 0) | (4 if last_of_conn else 0)
    return struct.pack(">BH", flags, len(payload) & 0xFFFF) + payload[:0xFFFF]


def seed(port_index, role, chunks):
    """chunks: (conn, c2s?, bytes) in capture order, as the server sees them."""
    out = bytearray([port_index | (role << 3), HEAD // 4])
    last = {}
    for i, (conn, _, _) in enumerate(chunks):
        last[conn] = i
    for i, (conn, c2s, payload) in enumerate(chunks):
        rec = record(conn, not c2s, payload, last[conn] == i)
        if len(out) + len(rec) > MAX_SEED:
            break
        out += rec
    return bytes(out)


def conversation(path):
    chunks = []
    for name in sorted(os.listdir(path)):
        m = CHUNK.match(name)
        if not m:
            continue
        with open(os.path.join(path, name), "rb") as f:
            chunks.append((int(m.group(2)), int(m.group(1)), m.group(3) == "c2s", f.read()))
    return [c[1:] for c in sorted(chunks)]  # capture order across connections


def dns_pairs(path):
    chunks = []
    names = sorted(n for n in os.listdir(path) if n.endswith("-query.bin"))
    for i, q in enumerate(names):
        r = q.replace("-query.bin", "-response.bin")
        with open(os.path.join(path, q), "rb") as f:
            chunks.append((i, True, f.read()))
        if os.path.exists(os.path.join(path, r)):
            with open(os.path.join(path, r), "rb") as f:
                chunks.append((i, False, f.read()))
    return chunks


def main():
    os.makedirs(out_dir, exist_ok=True)
    written = 0
    for proto, port_index in sorted(PORT_INDEX.items()):
        base = os.path.join(data_dir, proto)
        if not os.path.isdir(base):
            continue
        for scenario in sorted(os.listdir(base)):
            path = os.path.join(base, scenario)
            if not os.path.isdir(path):
                continue
            chunks = dns_pairs(path) if proto == "dns" else conversation(path)
            if not chunks:
                continue
            for tag, pi, role in (("server", port_index, ROLE_SERVER),
                                  ("scan", 0, ROLE_UNKNOWN)):
                name = "%s-%s-%s.bin" % (proto, scenario, tag)
                with open(os.path.join(out_dir, name), "wb") as f:
                    f.write(seed(pi, role, chunks))
                written += 1
    print("%d seeds in %s" % (written, out_dir))


if __name__ == "__main__":
    main()
