"""comic2pdf: comic archives in, searchable PDFs out.

The domain package: everything here works without a Prefect server. Prefect
wiring lives in the top-level ``tasks``, ``flows`` and ``deployments`` packages.
"""

__version__ = "0.1.0"
