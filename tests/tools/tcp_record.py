#!/usr/bin/env python3
"""Records real client/server traffic as parser fixtures.

Listens on 127.0.0.1:LISTEN_PORT, forwards every connection to 127.0.0.1:SERVER_PORT, and
writes each chunk that one recv() returned as its own file in OUT_DIR:
  <conn>-<n>-c2s.bin  (client to server)   <conn>-<n>-s2c.bin  (server to client)
numbered in the order they passed through, so a test can replay a conversation message
by message. Point a real client (redis-cli, psql, curl, dig over TCP...) at LISTEN_PORT.
Stops after --seconds or on SIGINT.  UDP: --udp forwards datagrams the same way.

usage: tcp_record.py [--udp] [--seconds S] LISTEN_PORT SERVER_PORT OUT_DIR
"""
import argparse
import os
import select
import socket
import threading
import time

lock = threading.Lock()
counter = [0]


def write_chunk(out_dir, conn_id, direction, data):
    with lock:
        counter[0] += 1
        n = counter[0]
    path = os.path.join(out_dir, "%02d-%04d-%s.bin" % (conn_id, n, direction))
    with open(path, "wb") as f:
        f.write(data)


def pump(client, server, out_dir, conn_id):
    socks = [client, server]
    try:
        while True:
            readable, _, _ = select.select(socks, [], [], 1.0)
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                if s is client:
                    write_chunk(out_dir, conn_id, "c2s", data)
                    server.sendall(data)
                else:
                    write_chunk(out_dir, conn_id, "s2c", data)
                    client.sendall(data)
    finally:
        client.close()
        server.close()


def run_tcp(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.listen_port))
    ls.listen(64)
    ls.settimeout(0.5)
    deadline = time.time() + args.seconds
    conn_id = 0
    while time.time() < deadline:
        try:
            client, _ = ls.accept()
        except socket.timeout:
            continue
        conn_id += 1
        server = socket.create_connection(("127.0.0.1", args.server_port))
        threading.Thread(target=pump, args=(client, server, args.out_dir, conn_id),
                         daemon=True).start()


def run_udp(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ls.bind(("127.0.0.1", args.listen_port))
    ls.settimeout(0.5)
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.settimeout(2.0)
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        try:
            data, peer = ls.recvfrom(65536)
        except socket.timeout:
            continue
        write_chunk(args.out_dir, 1, "c2s", data)
        up.sendto(data, ("127.0.0.1", args.server_port))
        try:
            reply, _ = up.recvfrom(65536)
        except socket.timeout:
            continue
        write_chunk(args.out_dir, 1, "s2c", reply)
        ls.sendto(reply, peer)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--udp", action="store_true")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("listen_port", type=int)
    p.add_argument("server_port", type=int)
    p.add_argument("out_dir")
    args = p.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    try:
        (run_udp if args.udp else run_tcp)(args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
