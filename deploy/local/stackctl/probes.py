"""Readiness probes that speak each server's own protocol, standard library only.

A listening socket is not enough: Kafka opens its port before it can answer, and a
wrong binary could listen on the right port. Each probe gets a real protocol answer.
"""

from __future__ import annotations

import itertools
import socket
import struct

_correlation = itertools.count(1)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks += chunk
    return bytes(chunks)


def kafka_api_versions_ok(host: str, port: int, timeout_s: float = 3.0) -> bool:
    """ApiVersions v0 (api key 18, kept by Kafka 4 for negotiation) answered with no error."""
    correlation_id = next(_correlation)
    client_id = b"plinth-stack"
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            payload = _recv_exact(sock, size)
    except OSError:
        return False
    got_id, error_code = struct.unpack(">ih", payload[:6])
    return bool(got_id == correlation_id and error_code == 0)


def _bson_ping() -> bytes:
    elements = b"\x10ping\x00" + struct.pack("<i", 1)
    db = b"admin\x00"
    elements += b"\x02$db\x00" + struct.pack("<i", len(db)) + db
    return struct.pack("<i", len(elements) + 5) + elements + b"\x00"


def mongo_ping_ok(host: str, port: int, timeout_s: float = 3.0) -> bool:
    """OP_MSG {ping: 1} answered with ok: 1.0."""
    request_id = next(_correlation)
    body = struct.pack("<I", 0) + b"\x00" + _bson_ping()  # flagBits, section kind 0, document
    header = struct.pack("<iiii", 16 + len(body), request_id, 0, 2013)  # 2013 = OP_MSG
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(header + body)
            (length,) = struct.unpack("<i", _recv_exact(sock, 4))
            reply = _recv_exact(sock, length - 4)
    except OSError:
        return False
    _, response_to, opcode = struct.unpack("<iii", reply[:12])
    if response_to != request_id or opcode != 2013:
        return False
    return b"\x01ok\x00" + struct.pack("<d", 1.0) in reply


def http_answers(host: str, port: int, timeout_s: float = 3.0) -> bool:
    """Any HTTP status line back (S3 answers 403 to an anonymous GET /)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
            sock.sendall(request.encode())
            return sock.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False
