"""A real SMTP server in the test process (aiosmtpd), recording what it accepts."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RecordingHandler:
    """Accepts mail, or answers a temporary failure while ``failures_left`` > 0.

    With ``delay`` set, each message's data is held that long before the answer: a slow server
    (``receiving`` counts the messages whose data arrived; one whose client vanished meanwhile is
    never recorded).
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[Message] = []
        self.failures_left = 0
        self.delay = delay
        self.receiving = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.receiving += 1
            delay = self.delay
        if delay:
            await asyncio.sleep(delay)
            if server.transport is None or server.transport.is_closing():
                return "421 4.4.2 Connection lost"
        with self.lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                return "451 4.3.0 Temporary failure, try again later"
            self.messages.append(email.message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


@contextmanager
def smtp_server(delay: float = 0.0) -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler(delay)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
