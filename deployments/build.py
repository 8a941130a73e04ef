"""The four deployments of comic2pdf, served from one process by ``comic2pdf serve``.

``prefect.yaml`` declares the same four for the work pools (``make deploy``),
named ``local`` and ``docker``; ``tests/test_deployments.py`` keeps them in
step. Served deployments are named after their flow
(``prefect deployment run 'convert-comic/convert-comic'``), so serving and a
work pool never overwrite each other's registration.

No ``from __future__ import annotations`` here (PrefectHQ/prefect#19447).
"""

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType, RunnerDeployment

from comic2pdf.settings import Settings
from flows.convert import convert_comic
from flows.duplicates import resolve_duplicate
from flows.metrics import push_metrics_flow
from flows.scan import scan_inbox

TAGS = ["comic2pdf"]

#: A scheduled run that finds the previous one still running is cancelled, not
#: queued: overlapping scans would each start MAX_JOBS_IN_FLIGHT conversions.
ONE_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)


def build_deployments(settings: Settings) -> list[RunnerDeployment]:
    """convert-comic and resolve-duplicate on demand; scan-inbox and push-metrics on intervals."""
    # Module entrypoints (flows.convert.convert_comic) load from the installed
    # package, whatever the current folder of the serving process.
    common = {"tags": TAGS, "entrypoint_type": EntrypointType.MODULE_PATH}
    return [
        convert_comic.to_deployment(name=convert_comic.name, **common),
        scan_inbox.to_deployment(
            name=scan_inbox.name,
            interval=settings.scan_interval_seconds,
            concurrency_limit=ONE_AT_A_TIME,
            **common,
        ),
        push_metrics_flow.to_deployment(
            name=push_metrics_flow.name,
            interval=settings.metrics_interval_seconds,
            concurrency_limit=ONE_AT_A_TIME,
            **common,
        ),
        resolve_duplicate.to_deployment(name=resolve_duplicate.name, **common),
    ]


def serve_all(settings: Settings) -> None:
    """Register the four deployments and run their flows in this process until stopped."""
    serve(*build_deployments(settings))
