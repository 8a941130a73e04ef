"""Prefect flows of comic2pdf."""
