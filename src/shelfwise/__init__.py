"""Shelfwise: retail inventory management and demand forecasting."""

__version__ = "0.1.0"
