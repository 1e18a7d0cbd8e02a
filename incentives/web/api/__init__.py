"""The JSON integration API of API.md."""
