"""The conversion of one comic, without Prefect: checks, prep → ocr → finalize.

The Prefect tasks and flow (``tasks/stages.py``, ``flows/convert.py``) wrap
these functions thinly; ``comic2pdf convert`` without a Prefect API calls them
directly through ``pipeline.local`` with the same retries and time limits.
"""
