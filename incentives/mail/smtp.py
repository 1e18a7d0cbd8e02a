"""Handing messages to SMTP_URL (`smtp://[user:pass@]host:port`, `smtps://` for TLS from the first byte), a few
connections at once, each reused for many messages; without SMTP_URL, messages are written to the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from urllib.parse import unquote, urlsplit

import aiosmtplib

log = logging.getLogger("incentives.mail")

CONNECTIONS = 8  # SMTP sessions per sender: servers throttle many more from one client
TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://[user:pass@]host:port or smtps://...")
    tls = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if tls else 25),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True)
class Outcome:
    sent: bool
    error: str | None = None
    final: bool = False  # not worth another attempt (the user left or turned this e-mail off)


async def send_all(smtp_url: str | None, messages: Sequence[Message | None]) -> list[Outcome]:
    """Send each message (None: nothing to send, counted failed); one outcome per message, in order. A broken
    connection fails only the message it was sending; the next message opens a new one."""
    if smtp_url is None:
        for message in messages:
            if message is not None:
                # No SMTP server configured (development, a laptop): the e-mail is kept in the log, not lost.
                log.warning("no SMTP_URL: e-mail not sent but logged\n%s", message.as_string())
        return [Outcome(message is not None, None if message else "nothing to send") for message in messages]
    target = parse_smtp_url(smtp_url)
    outcomes: list[Outcome | None] = [None] * len(messages)
    work: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(messages)):
        work.put_nowait(index)

    async def connection() -> None:
        client: aiosmtplib.SMTP | None = None
        try:
            while not work.empty():
                index = work.get_nowait()
                message = messages[index]
                if message is None:
                    outcomes[index] = Outcome(False, "nothing to send")
                    continue
                try:
                    if client is None:
                        client = _client(target)
                        await client.connect()
                    await client.send_message(message)
                    outcomes[index] = Outcome(True)
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    outcomes[index] = Outcome(False, f"{type(exc).__name__}: {exc}"[:500])
                    await _close(client)
                    client = None
        finally:
            await _close(client)

    await asyncio.gather(*(connection() for _ in range(min(CONNECTIONS, len(messages)))))
    return [outcome or Outcome(False, "not attempted") for outcome in outcomes]


def _client(target: SmtpTarget) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=target.host,
        port=target.port,
        use_tls=target.tls,
        username=target.username,
        password=target.password,
        timeout=TIMEOUT,
    )


async def _close(client: aiosmtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        if client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()
