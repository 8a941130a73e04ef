"""Prefect tasks of comic2pdf."""
