"""The Starlette web app: pages, HTMX fragments and the JSON API."""
