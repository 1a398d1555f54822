"""Dagster assets, one module per pipeline stage. Each asset calls one library function."""
