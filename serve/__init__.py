"""Standpoint over HTTP: a LitServe endpoint with dynamic batching (see serve/README.md)."""
