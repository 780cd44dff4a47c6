"""Targets are configuration: id -> description, read from YAML (configs/targets.yaml)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TARGETS_FILE = REPO_ROOT / "configs" / "targets.yaml"
TARGET_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$")


def repo_path(path: str) -> str:
    """A config's relative path is relative to the repository root, wherever the CLI runs."""
    p = Path(path)
    if p.is_absolute() or p.exists() or not (REPO_ROOT / p).exists():
        return path
    return str(REPO_ROOT / p)


class TargetConfigError(ValueError):
    """A targets file or an ad-hoc target that cannot be used; the message says what to fix."""


def validate_target(target_id, description, where: str = "target") -> tuple[str, str]:
    if not isinstance(target_id, str) or not TARGET_ID.match(target_id):
        raise TargetConfigError(
            f"{where}: bad target id {target_id!r}: use 1-128 letters, digits, '_', '-', '.', ':'")
    if not isinstance(description, str) or not description.strip():
        raise TargetConfigError(f"{where}: target {target_id!r} needs a non-empty 'description'")
    return target_id, " ".join(description.split())


def load_targets(path: str | Path = DEFAULT_TARGETS_FILE) -> dict[str, str]:
    """Read ``targets: {id: {description: ...}}`` (or ``{id: description}``) from YAML."""
    path = Path(path)
    if not path.is_file():
        raise TargetConfigError(f"{path}: targets file not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TargetConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("targets"), dict) or not doc["targets"]:
        raise TargetConfigError(f"{path}: expected a top-level 'targets:' mapping of id -> description")
    out = {}
    for tid, spec in doc["targets"].items():
        desc = spec.get("description") if isinstance(spec, dict) else spec
        tid, desc = validate_target(tid, desc, where=str(path))
        out[tid] = desc
    return out
