"""One module per command; ``register_all`` adds each to the root app.

To add a command: create ``commands/<name>.py`` with a ``register(app)`` function and list the
module name in ``COMMANDS``.
"""
from __future__ import annotations

import importlib

COMMANDS = ["info", "bench", "data", "train", "eval", "eval_h36m", "lift", "export", "render"]


def register_all(app) -> None:
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(app)
