"""The wallet's expiry notice: the next days with points expiring, each day's points summed."""

from __future__ import annotations

import datetime as dt

from incentives.ledger.queries import Expiring
from incentives.web.wallet import expiring_by_day


def test_the_next_five_days_each_summed_in_the_readers_time_zone() -> None:
    start = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    # Eight days, three expiry times a day, in time order as the ledger returns them; 23:30 UTC on 1 December
    # is already 2 December in Berlin.
    items = [
        Expiring(points, start + dt.timedelta(days=day, hours=hours))
        for day in range(8)
        for points, hours in ((1, 0), (10, 2), (100, 13.5))
    ]
    shown = expiring_by_day(items, "en")
    assert [item.points for item in shown] == [11, 111, 111, 111, 111]
    # a day's entry carries its first expiry time: from the second day on, 23:30 UTC of the day before
    assert [item.expires_at for item in shown] == [start] + [
        start + dt.timedelta(days=day, hours=13.5) for day in range(4)
    ]
    assert expiring_by_day([], "de") == []
