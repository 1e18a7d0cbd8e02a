"""One HTTP attempt of one delivery, as the Standard Webhooks specification asks: the body, the signed headers, the
POST with a 10 s limit and no redirects; no database here.

The `webhook-timestamp` is the real time of sending (receivers check it against their own clock to refuse
replays); when a delivery is due follows the clock its sender is given.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

TIMEOUT_SECONDS = 10.0
READ_AT_MOST = 64 * 1024  # of a receiver's answer: only its status matters
USER_AGENT = "incentives-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None = None
    error: str | None = None


def body_of(event_type: str, timestamp: str | None, data: dict[str, Any]) -> bytes:
    return json.dumps(
        {"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":"), ensure_ascii=False
    ).encode()


def signed_headers(message_id: str, secrets: Sequence[str], body: bytes, sent_at: dt.datetime) -> dict[str, str]:
    """The three Standard Webhooks headers; one `v1,` signature per secret (two for a day after a rotation)."""
    signatures = " ".join(Webhook(secret).sign(message_id, sent_at, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def new_client(connections: int = 100) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        trust_env=False,
    )


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST once; a 2xx answer within TIMEOUT_SECONDS delivers (a redirect does not: it is not followed)."""
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            async with client.stream("POST", url, content=body, headers=headers) as response:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > READ_AT_MOST:
                        break
                code = response.status_code
    except TimeoutError:
        return Outcome(False, None, f"no answer within {TIMEOUT_SECONDS:.0f} s")
    except httpx.HTTPError as error:
        return Outcome(False, None, f"{type(error).__name__}: {error}"[:500])
    if 200 <= code < 300:
        return Outcome(True, code)
    return Outcome(False, code, f"HTTP {code}")


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local, reserved or otherwise not a public address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def resolves_private(url: str) -> bool:
    """Whether the URL's host is, or resolves to, a non-public address (or does not resolve at all)."""
    host = urlsplit(url).hostname or ""
    try:
        return is_private_address(host)
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return True
    return any(is_private_address(str(info[4][0]).split("%")[0]) for info in infos)
