"""How a cell (item, optionally per country) is labelled in messages and comparison keys."""

from __future__ import annotations


def cell_label(code: str, country: str | None) -> str:
    """How an item reads in messages and comparison keys: ``CONFINAN``, or ``Q46/JPN`` per country."""
    return f"{code}/{country}" if country else code
