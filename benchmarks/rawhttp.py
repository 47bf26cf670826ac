"""A lean HTTP/1.1 client for the benchmarks: each request encoded once, sent on a keep-alive
connection, the answer read with no parsing beyond its length. The load generator's own cost per
request stays small and the same for every server it measures (httpx spends about as much time per
request as a small model's inference, on the same cores as the server).
"""

from __future__ import annotations

import asyncio
import json
import socket

BOUNDARY = "fingercount-benchmark-boundary"


def request(port: int, path: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def multipart(port: int, path: str, image: bytes, field: str = "file") -> bytes:
    """A `multipart/form-data` upload of one JPEG, as a browser or `requests` sends it."""
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="f.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return request(port, path, body, f"multipart/form-data; boundary={BOUNDARY}")


def json_post(port: int, path: str, payload: object) -> bytes:
    return request(port, path, json.dumps(payload).encode(), "application/json")


def _head(lines: list[bytes]) -> tuple[int, int, bool, bool]:
    """Status, Content-Length, whether the body is chunked and whether the server closes the
    connection after it (nginx does after its own refusals), from a response's head lines."""
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    return int(lines[0].split(b" ", 2)[1]), length, chunked, close


class Connection:
    """One keep-alive connection that sends pre-encoded requests and returns each answer's status
    (reconnecting after an answer that closes the connection)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._connect()

    def _connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def send(self, raw: bytes) -> int:
        self.sock.sendall(raw)
        lines = [self.reader.readline()]
        while lines[-1] not in (b"\r\n", b""):
            lines.append(self.reader.readline())
        status, length, chunked, close = _head(lines)
        if not chunked:
            self.reader.read(length)
        else:
            while (size := int(self.reader.readline().split(b";")[0], 16)) > 0:
                self.reader.read(size + 2)  # the chunk and its CRLF
            self.reader.readline()  # the CRLF after the last chunk
        if close:
            self.close()
            self._connect()
        return status

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


async def read_status(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """asyncio's side: one response with a Content-Length body (what `fingercount serve` and nginx
    send); its status and whether the server closes the connection after it."""
    status, length, _, close = _head((await reader.readuntil(b"\r\n\r\n")).split(b"\r\n"))
    await reader.readexactly(length)
    return status, close
