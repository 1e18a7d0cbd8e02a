"""Static files over real HTTP: fingerprinted names cached for a year, plain names revalidated, gzip on the wire."""

from __future__ import annotations

import re

import httpx
import pytest

from incentives.web.static_files import STATIC_DIR, static_url

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_pages_link_fingerprinted_files_that_are_cached_for_a_year_and_gzipped(http: httpx.AsyncClient) -> None:
    page = (await http.get("/login")).text
    htmx = re.search(r'src="(/static/htmx-2\.0\.11\.min\.[0-9a-f]{12}\.js)"', page)
    css = re.search(r'href="(/static/app\.[0-9a-f]{12}\.css)"', page)
    assert htmx and css, page[:800]
    assert htmx.group(1) == static_url("htmx-2.0.11.min.js")

    served = await http.get(htmx.group(1), headers={"Accept-Encoding": "gzip"})
    assert served.status_code == 200
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in served.headers["Vary"]
    assert served.content == (STATIC_DIR / "htmx-2.0.11.min.js").read_bytes()  # httpx unzips
    assert served.num_bytes_downloaded < 25_000  # 51 KB unzipped
    assert served.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert (await http.get(css.group(1))).headers["Cache-Control"].endswith("immutable")


@SQLITE_ONLY
async def test_plain_and_stale_names_are_revalidated_and_nothing_else_is_served(http: httpx.AsyncClient) -> None:
    plain = await http.get("/static/app.css")
    assert plain.status_code == 200 and plain.headers["Cache-Control"] == "no-cache"
    again = await http.get("/static/app.css", headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304
    stale = await http.get("/static/app.000000000000.css")  # a page of the previous deploy
    assert stale.status_code == 200 and stale.headers["Cache-Control"] == "no-cache"
    assert stale.content == plain.content
    for path in ("/static/nothing.000000000000.css", "/static/..%2fapp.000000000000.py", "/static/nothing.css"):
        assert (await http.get(path)).status_code == 404, path
    tiny = await http.get("/static/app.css", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in tiny.headers
