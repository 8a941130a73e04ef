"""The Pushgateway: one group per data folder, replaced whole by each push.

The grouping key is ``job="comic2pdf"``, ``instance=<INSTANCE_NAME or the job
store's id>``. Never the host name: every Docker run has its own, and two
groups holding the same folder's totals would double every ``sum()`` (issue #15).
"""

import http.client

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import default_handler, push_to_gateway

from comic2pdf.errors import PushFailed

JOB_LABEL = "comic2pdf"


def push(registry: CollectorRegistry, *, url: str, instance: str, timeout: float) -> None:
    """Push the registry to a Pushgateway, replacing the group (PUT).

    The values are cumulative totals from the database, so replacing the
    whole group is right and a failed push loses nothing: the next one carries
    the totals. ``timeout`` bounds each connect and read on the socket.

    Raises:
        PushFailed: the gateway is unreachable, too slow or refused the push.
    """
    if timeout <= 0:
        raise ValueError("push timeout must be positive: without one a dead gateway hangs")

    limit = timeout

    def handler(url: str, method: str, timeout: float | None, headers: list, data: bytes):
        # Pin our timeout whatever push_to_gateway passes: it lets None through,
        # and with None a gateway that accepts and never answers blocks forever.
        return default_handler(url, method, limit, headers, data)

    try:
        push_to_gateway(
            url,
            job=JOB_LABEL,
            registry=registry,
            grouping_key={"instance": instance},
            timeout=timeout,
            handler=handler,
        )
    except (OSError, http.client.HTTPException) as e:
        raise PushFailed(
            f"could not push metrics to {url}: {e}; is the Pushgateway running? "
            "The JSON snapshot is still written and the next push carries the totals"
        ) from e
