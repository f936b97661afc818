"""Locating and preparing local model weights without a model hub (see ``docs/backends.md``)."""
