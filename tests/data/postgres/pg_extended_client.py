#!/usr/bin/env python3
"""Minimal PostgreSQL v3 extended-query client used to record tests/data/postgres/extended_*.

libpq-based tools only ever send one Parse/Bind/Execute per Sync; this script sends the
cases they do not (several Executes per Sync with an error in the middle, a named
statement executed later, PortalSuspended, EmptyQueryResponse, a Parse error, Close) to a
REAL server, one batch per write, waiting for ReadyForQuery in between.
usage: pg_extended_client.py PORT
"""
import socket
import struct
import sys


def msg(t, body):
    return t + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return s.encode() + b"\0"


def parse(name, sql):
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!H", 0))


def bind(portal, stmt, params=()):
    body = cstr(portal) + cstr(stmt) + struct.pack("!H", 0) + struct.pack("!H", len(params))
    for p in params:
        body += struct.pack("!I", len(p)) + p.encode()
    return msg(b"B", body + struct.pack("!H", 0))


def execute(portal="", max_rows=0):
    return msg(b"E", cstr(portal) + struct.pack("!I", max_rows))


def describe_portal(portal=""):
    return msg(b"D", b"P" + cstr(portal))


SYNC = msg(b"S", b"")


def read_until_z(s, count=1):
    data = b""
    while count:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("server closed")
        data += chunk
        # Count complete ReadyForQuery messages seen so far.
        pos, z = 0, 0
        while pos + 5 <= len(data):
            t, ln = data[pos:pos + 1], struct.unpack("!I", data[pos + 1:pos + 5])[0]
            if pos + 1 + ln > len(data):
                break
            if t == b"Z":
                z += 1
            pos += 1 + ln
        if z >= count:
            return


def main():
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    params = cstr("user") + cstr("postgres") + cstr("database") + cstr("postgres") + b"\0"
    s.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
    read_until_z(s)
    # 1: two Executes in one batch, the first fails: the second is skipped until Sync.
    s.sendall(parse("", "SELECT 1/0") + bind("", "") + execute() +
              parse("", "SELECT $1::int + 1") + bind("", "", ["41"]) + execute() + SYNC)
    read_until_z(s)
    # 2: a named statement prepared alone, then executed twice in one batch.
    s.sendall(parse("s_count", "SELECT count(*) FROM pg_class WHERE relkind = $1") + SYNC)
    read_until_z(s)
    s.sendall(bind("", "s_count", ["r"]) + describe_portal() + execute() +
              bind("", "s_count", ["i"]) + execute() + SYNC)
    read_until_z(s)
    # 3: PortalSuspended: fetch 2 rows, then the rest, in one batch.
    s.sendall(parse("", "SELECT g FROM generate_series(1, 5) g") + bind("", "") +
              execute("", 2) + execute("", 0) + SYNC)
    read_until_z(s)
    # 4: empty query, then a Parse error (its Bind/Execute are skipped).
    s.sendall(parse("", "") + bind("", "") + execute() + SYNC)
    read_until_z(s)
    s.sendall(parse("", "SELEC broken") + bind("", "") + execute() + SYNC)
    read_until_z(s)
    # 5: INSERT through the extended protocol, Close of the named statement, then a
    # multi-statement simple query.
    s.sendall(parse("", "CREATE TEMP TABLE fx_t (a int)") + bind("", "") + execute() +
              parse("", "INSERT INTO fx_t VALUES ($1), ($2)") + bind("", "", ["1", "2"]) +
              execute() + msg(b"C", b"S" + cstr("s_count")) + SYNC)
    read_until_z(s)
    s.sendall(msg(b"Q", cstr("BEGIN; SELECT 1; COMMIT")))
    read_until_z(s)
    s.sendall(msg(b"X", b""))
    s.close()


if __name__ == "__main__":
    main()
