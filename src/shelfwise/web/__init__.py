"""The website: the storefront (server-rendered pages) and the JSON API under /api/v1."""
