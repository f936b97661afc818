"""Shared fixtures for runner tests: test servers (``tests.servers.fixtures``) and a tiny model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.servers.fixtures import chat_server, chat_server_factory  # noqa: E402,F401
from tests.helpers.tiny_model import tiny_model_dir  # noqa: E402,F401
