#!/usr/bin/env python3
"""Publishes raw payloads to NATS with the plain text protocol, so that scripts/fault-inject.sh
can send what no well-behaved client would (hostile numbers, broken JSON) without a nats CLI.

Usage: natspub.py HOST:PORT < lines      each line: SUBJECT<space>PAYLOAD
"""
import socket
import sys

host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
f = s.makefile("rb")
f.readline()  # INFO
s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"name":"fault-inject"}\r\n')
n = 0
for line in sys.stdin.buffer:
    line = line.rstrip(b"\n")
    if not line:
        continue
    subject, _, payload = line.partition(b" ")
    s.sendall(b"PUB " + subject + b" " + str(len(payload)).encode() + b"\r\n" + payload + b"\r\n")
    n += 1
s.sendall(b"PING\r\n")
while True:  # PONG means the server has read everything before it
    reply = f.readline()
    if not reply or reply.startswith(b"PONG") or reply.startswith(b"-ERR"):
        break
s.close()
print(n)
