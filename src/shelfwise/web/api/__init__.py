"""The JSON API under /api/v1: catalogue, cart, orders, accounts, point of sale."""
