"""Standpoint: target-conditioned stance and sentiment classification."""

__version__ = "0.1.0"
