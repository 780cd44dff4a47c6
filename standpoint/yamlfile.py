"""Reading a YAML file of settings: one mapping, known keys only, errors naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import yaml


def read_settings(path: str | Path, known: Iterable[str], error: type[Exception], what: str = "config file") -> dict:
    """The mapping in ``path``; raise ``error`` for a missing file, bad YAML, a non-mapping or an unknown key."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise error(f"{path}: expected a mapping of settings")
    known = set(known)
    unknown = sorted(set(doc) - known)
    if unknown:
        raise error(f"{path}: unknown key(s) {unknown}; known keys: {', '.join(sorted(known))}")
    return doc
