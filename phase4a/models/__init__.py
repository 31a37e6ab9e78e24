"""Backbones, band adapters and the transfer model."""
