"""The Starlette web app: pages, HTMX fragments and the JSON API."""

from incentives.web import ids

ids.register()  # before any route module compiles a path with `{id:id}`
