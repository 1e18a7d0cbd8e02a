"""The leaderboards in Redis: one sorted set per program, period and board, scored by points earned.

Writers set absolute totals, never increments, each with the rollup row's version: a version no newer than the
one Redis has is ignored, so a repeated or late update (two publishers racing) never puts an older total back.
Ties share a rank: a member's rank is one more than the number of members with strictly more points.

Redis may lose its data without an error anybody sees (a restart without persistence, a flush): totals put
after that would build boards of only the partners who earned since. So a program's boards count as held only
while its marker key is there, which only `replace` sets, in the same transaction as the whole boards. Without
it a put writes nothing and a read answers nothing: both raise `BoardsLost`, the caller marks the program stale,
reads serve SQL, and the `leaderboard.heal` sweep refills Redis, nobody having to notice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

# (program, period, org, user), points, version, the org's boards
Item = tuple[tuple[int, str, int, int], int, int, Sequence[str]]

# KEYS[1]: the program's marker, KEYS[2]: the versions hash, KEYS[3..]: the sorted sets; ARGV: member, score,
# version. -1: Redis does not hold the program's boards (see the module's doc).
_PUT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local seen = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if seen >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
for i = 3, #KEYS do redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1]) end
return 1
"""


# KEYS[1]: a board, KEYS[2]: its program's marker; ARGV: how many top rows, the member to pin ('' for none), rows
# on each side of it. One round trip answers a whole board read (see `read`); an empty answer: no marker.
_READ = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {} end
local name, limit, me, radius = KEYS[1], tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local top = redis.call('ZREVRANGE', name, 0, limit - 1, 'WITHSCORES')
local count = redis.call('ZCARD', name)
if me == '' then return {top, count} end
local index = redis.call('ZREVRANK', name, me)
if not index then return {top, count, false, {}, 0, 0, redis.call('ZCOUNT', name, '(0', '+inf')} end
local first = index - radius
if first < 0 then first = 0 end
local around = redis.call('ZREVRANGE', name, first, index + radius, 'WITHSCORES')
local score = around[2]
return {top, count, redis.call('ZSCORE', name, me), around, redis.call('ZCOUNT', name, '(' .. score, '+inf'),
        redis.call('ZCOUNT', name, score, score), 0}
"""

Entries = list[tuple[int, int]]


class BoardsLost(RedisError):
    """Redis answers, but does not hold the program's boards (it lost its data, or was never filled)."""


def key(program_id: int, period: str, scope: str) -> str:
    return f"lb:{program_id}:{period}:{scope}"


def marker(program_id: int) -> str:
    """Present while Redis holds all of the program's boards (outside `replace`'s `lb*:{program}:*` pattern)."""
    return f"lbheld:{program_id}"


def _placement(item: Item) -> tuple[str, list[str], str]:
    """Where an item goes: its versions hash, its sorted sets, and its member name."""
    (program, period, org, user), _, _, scopes = item
    if user:
        return f"lbv:{program}:{period}:reps:{org}", [key(program, period, f"reps:{org}")], str(user)
    return f"lbv:{program}:{period}:orgs", [key(program, period, scope) for scope in scopes], str(org)


async def put(redis: Redis, items: Sequence[Item]) -> None:
    """Set the items' totals; BoardsLost when Redis does not hold the boards of one of their programs."""
    script = redis.register_script(_PUT)
    async with redis.pipeline(transaction=False) as pipe:
        for item in items:
            versions, boards, member = _placement(item)
            held = marker(item[0][0])
            await script(keys=[held, versions, *boards], args=[member, item[1], item[2]], client=pipe)
        results = await pipe.execute()
    if -1 in results:
        raise BoardsLost("Redis does not hold the boards")


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
        pipe.set(marker(program_id), 1)
        await pipe.execute()


def _entries(flat: list[bytes]) -> Entries:
    """[member, score, member, score, ...] as (member, points) pairs."""
    return [(int(flat[i]), int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]


async def read(
    redis: Redis, program_id: int, name: str, limit: int, me: int | None, radius: int
) -> tuple[Entries, int, int | None, Entries, int, int, int]:
    """A board read in one round trip: the top `limit` (member, points), the board's size; with `me`: its points
    (None when it has none), up to `radius` rows on each side of it best first, how many have more points than
    the first of those and how many as many, and how many have more than nothing (when `me` has none).
    BoardsLost when Redis does not hold the program's boards."""
    found = cast(
        list[Any],
        await redis.register_script(_READ)(
            keys=[name, marker(program_id)], args=[limit, "" if me is None else me, radius]
        ),
    )
    if not found:
        raise BoardsLost("Redis does not hold the boards")
    top, count = _entries(found[0]), int(found[1])
    if len(found) == 2:
        return top, count, None, [], 0, 0, 0
    points = None if found[2] is None else int(float(found[2]))
    return top, count, points, _entries(found[3]), int(found[4]), int(found[5]), int(found[6])
