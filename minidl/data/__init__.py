"""Datasets, DataLoader and transforms (built by issue 3)."""
