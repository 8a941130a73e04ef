"""Metrics: definitions, the job store as their source, and the ways they are published.

- ``definitions``: the list of every metric and its labels (no other comic2pdf import);
- ``source``: reading them from an existing job store and the inbox;
- ``exposition``: Prometheus families, registries, the scrape collector and endpoint;
- ``snapshot``: ``index/metrics.json`` with its seed-compatible and legacy keys;
- ``push``: the Pushgateway and its grouping key.

Import the submodules themselves: this package re-exports nothing, so that
``comic2pdf.store`` can import ``definitions`` without an import cycle.
None of it imports Prefect.
"""
