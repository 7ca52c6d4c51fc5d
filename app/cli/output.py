"""How every command prints machine-readable output (``--json``)."""

from __future__ import annotations

import json
import sys


def print_json(obj, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON to standard output, ending with a newline."""
    json.dump(obj, sys.stdout, indent=indent)
    sys.stdout.write("\n")
