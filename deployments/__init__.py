"""Prefect deployments of comic2pdf."""
