"""CSV tables of units: human-validated (``unit,confidence,dice``) and pools (``unit,confidence``).

A bad file raises :class:`~models.quality.errors.QualityInputError` naming the file, the
1-based line and the reason, e.g. ``val.csv, line 7: confidence 'high' is not a number``.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass

import numpy as np

from models.quality.errors import QualityInputError


@dataclass(frozen=True)
class UnitTable:
    """Units read from a CSV: ids, confidences and (validated tables) Dice values."""

    units: tuple[str, ...]
    confidence: np.ndarray
    dice: np.ndarray | None


def _number(path, line: int, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise QualityInputError(path, f"{name} {text.strip()!r} is not a number", line) from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise QualityInputError(path, f"{name} {text.strip()} is outside [0, 1]", line)
    return value


def read_units_csv(path: str | os.PathLike, with_dice: bool) -> UnitTable:
    """Read a unit table; columns are found by header name (any order, extra columns ignored).

    Parameters
    ----------
    path : path-like
        The CSV file (comma-separated, first row a header).
    with_dice : bool
        True for validated units (``unit,confidence,dice``), False for a pool
        (``unit,confidence``).
    """
    wanted = ("unit", "confidence", "dice") if with_dice else ("unit", "confidence")
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise QualityInputError(path, "no such file") from None
    except OSError as exc:
        raise QualityInputError(path, f"cannot be read ({exc.strerror})") from None
    units: list[str] = []
    conf: list[float] = []
    dice: list[float] = []
    seen: dict[str, int] = {}
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise QualityInputError(path, "is empty (expected a header: "
                                              f"{','.join(wanted)})", 1)
            names = [h.strip().lower() for h in header]
            missing = [w for w in wanted if w not in names]
            if missing:
                raise QualityInputError(path, f"header lacks column(s) {', '.join(missing)} "
                                              f"(expected {','.join(wanted)})", reader.line_num)
            cols = {w: names.index(w) for w in wanted}
            for row in reader:
                line = reader.line_num
                if not row or all(not f.strip() for f in row):
                    continue  # blank lines are harmless
                if len(row) != len(header):
                    raise QualityInputError(path, f"has {len(row)} fields, the header has "
                                                  f"{len(header)}", line)
                unit = row[cols["unit"]].strip()
                if not unit:
                    raise QualityInputError(path, "unit is empty", line)
                if unit in seen:
                    raise QualityInputError(path, f"unit {unit!r} repeats line {seen[unit]}",
                                            line)
                seen[unit] = line
                units.append(unit)
                conf.append(_number(path, line, "confidence", row[cols["confidence"]]))
                if with_dice:
                    dice.append(_number(path, line, "dice", row[cols["dice"]]))
        except csv.Error as exc:
            raise QualityInputError(path, f"is not valid CSV ({exc})", reader.line_num) from None
        except UnicodeDecodeError:
            raise QualityInputError(path, "is not UTF-8 text") from None
    if not units:
        raise QualityInputError(path, "has a header but no units")
    return UnitTable(tuple(units), np.array(conf, dtype=np.float64),
                     np.array(dice, dtype=np.float64) if with_dice else None)
