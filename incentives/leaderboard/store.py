"""The leaderboards in Redis: one sorted set per program, period and board, scored by points earned.

Writers set absolute totals, never increments, each with the rollup row's version: a version no newer than the
one Redis has is ignored, so a repeated or late update (two publishers racing) never puts an older total back.
Ties share a rank: a member's rank is one more than the number of members with strictly more points.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis

# (program, period, org, user), points, version, the org's boards
Item = tuple[tuple[int, str, int, int], int, int, Sequence[str]]

# KEYS[1]: the versions hash, KEYS[2..]: the sorted sets; ARGV: member, score, version.
_PUT = """
local seen = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if seen >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
for i = 2, #KEYS do redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1]) end
return 1
"""


def key(program_id: int, period: str, scope: str) -> str:
    return f"lb:{program_id}:{period}:{scope}"


def _placement(item: Item) -> tuple[str, list[str], str]:
    """Where an item goes: its versions hash, its sorted sets, and its member name."""
    (program, period, org, user), _, _, scopes = item
    if user:
        return f"lbv:{program}:{period}:reps:{org}", [key(program, period, f"reps:{org}")], str(user)
    return f"lbv:{program}:{period}:orgs", [key(program, period, scope) for scope in scopes], str(org)


async def put(redis: Redis, items: Sequence[Item]) -> None:
    script = redis.register_script(_PUT)
    async with redis.pipeline(transaction=False) as pipe:
        for item in items:
            versions, boards, member = _placement(item)
            await script(keys=[versions, *boards], args=[member, item[1], item[2]], client=pipe)
        await pipe.execute()


async def replace(redis: Redis, program_id: int, items: Sequence[Item]) -> None:
    """All of a program's boards at once (MULTI/EXEC): readers see the old boards or the new ones."""
    old = [name async for name in redis.scan_iter(f"lb*:{program_id}:*", 1000)]
    sets: dict[str, dict[str, int]] = defaultdict(dict)
    versions: dict[str, dict[str, int]] = defaultdict(dict)
    for item in items:
        hash_name, boards, member = _placement(item)
        versions[hash_name][member] = item[2]
        for board in boards:
            sets[board][member] = item[1]
    async with redis.pipeline(transaction=True) as pipe:
        if old:
            pipe.delete(*old)
        for name, members in sets.items():
            pipe.zadd(name, members)
        for name, mapping in versions.items():
            pipe.hset(name, mapping=cast(Any, mapping))
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
