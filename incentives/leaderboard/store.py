"""The leaderboards in Redis: one sorted set per program, period and board, scored by points earned.

Writers set absolute totals (ZADD), never increments, so a repeated or reordered update ends in the same state.
Ties share a rank: a member's rank is one more than the number of members with strictly more points.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import cast

from redis.asyncio import Redis

Item = tuple[tuple[int, str, int, int], int, Sequence[str]]  # (program, period, org, user), points, org's boards


def key(program_id: int, period: str, scope: str) -> str:
    return f"lb:{program_id}:{period}:{scope}"


def _by_key(items: Sequence[Item]) -> dict[str, dict[str, int]]:
    sets: dict[str, dict[str, int]] = defaultdict(dict)
    for (program, period, org, user), points, scopes in items:
        if user:
            sets[key(program, period, f"reps:{org}")][str(user)] = points
        else:
            for scope in scopes:
                sets[key(program, period, scope)][str(org)] = points
    return sets


async def put(redis: Redis, items: Sequence[Item]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for name, members in _by_key(items).items():
            pipe.zadd(name, members)
        await pipe.execute()


async def replace(redis: Redis, program_id: int, items: Sequence[Item]) -> None:
    """All of a program's boards at once (MULTI/EXEC): readers see the old boards or the new ones."""
    old = [name async for name in redis.scan_iter(match=f"lb:{program_id}:*", count=1000)]
    async with redis.pipeline(transaction=True) as pipe:
        if old:
            pipe.delete(*old)
        for name, members in _by_key(items).items():
            pipe.zadd(name, members)
        await pipe.execute()


async def top(redis: Redis, name: str, limit: int, offset: int = 0) -> list[tuple[int, int]]:
    rows = cast(list[tuple[bytes, float]], await redis.zrevrange(name, offset, offset + limit - 1, withscores=True))
    return [(int(member), int(score)) for member, score in rows]


async def points_of(redis: Redis, name: str, subject: int) -> int | None:
    score = await redis.zscore(name, str(subject))
    return None if score is None else int(score)


async def above(redis: Redis, name: str, points: int) -> int:
    """How many members have more than `points`."""
    return int(await redis.zcount(name, f"({points}", "+inf"))


async def around(redis: Redis, name: str, subject: int, radius: int) -> list[tuple[int, int]]:
    """The subject's row and up to `radius` rows on each side of it, best first."""
    index = cast(int | None, await redis.zrevrank(name, str(subject)))
    if index is None:
        return []
    return await top(redis, name, 2 * radius + 1, max(index - radius, 0))
