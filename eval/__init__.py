"""Offline evaluation: the official SemEval-2016 scorer, per-target metrics, reports."""
