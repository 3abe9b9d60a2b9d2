"""Metaflow card builders: turn fraudcore result dicts into card components."""
