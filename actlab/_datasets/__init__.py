"""Internals of ``actlab.data``: file formats and the offline tfds builder. Not public API."""
