"""Data sources, validation and normalisation."""
