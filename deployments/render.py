"""Render prefect.yaml with comic2pdf's settings, for ``scripts/deploy.sh``.

``prefect deploy`` cannot read our settings, and its ``{{ $VAR }}`` placeholders
are substituted after the schedules are validated (an interval must be a number
in the file). So ``prefect.yaml`` is the template, holding the defaults, and
the script deploys a copy rendered here at deploy time:

- the schedule intervals are SCAN_INTERVAL_SECONDS and METRICS_INTERVAL_SECONDS;
- the job variables' ``env`` gets every comic2pdf setting set in the deploying
  environment, so a worker started without them still converts the way the
  deployment was made (a setting not set stays out: the worker's environment or
  the image decides it), but for secrets (JOB_DB_URL and its password): Prefect
  stores job variables and shows them in its UI, so each worker host sets those;
- the scan deployment's ``env`` gets CONVERT_DEPLOYMENT (unless set): its
  conversions become runs of the ``convert-comic`` deployment of the same pool,
  so every worker of the pool shares the inbox's work;
- Docker deployments get their image tag, and the host side of the data folder
  mount is DATA_DIR when it is set (inside the container it is always /data).

``python -m deployments.render TARGET [IMAGE]`` prints the rendered YAML with
only the deployments named TARGET (``local`` or ``docker``). Bad settings fail
here, before anything is built or registered.
"""

import copy
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from comic2pdf.settings import Settings, load_settings

TEMPLATE = Path(__file__).resolve().parents[1] / "prefect.yaml"

#: Where the Docker deployments mount the shared data folder inside the container.
CONTAINER_DATA_DIR = "/data"

SCAN_ENTRYPOINT = "flows/scan.py:scan_inbox"

#: Entrypoint → the setting that is its schedule's interval.
INTERVALS = {
    SCAN_ENTRYPOINT: "scan_interval_seconds",
    "flows/metrics.py:push_metrics_flow": "metrics_interval_seconds",
}


def settings_given(settings: Settings) -> dict[str, str]:
    """The settings set in the environment (or given), as environment variables."""
    given = {
        name
        for name in settings.model_fields_set
        if not isinstance(getattr(settings, name), SecretStr)
    }
    values = settings.model_dump(mode="json", include=given)
    return {name.upper(): _env_value(value) for name, value in values.items()}


def render(
    template: dict[str, Any], settings: Settings, target: str, image: str | None = None
) -> dict[str, Any]:
    """The deployments of *template* named *target*, filled in from *settings*."""
    if target == "docker" and not image:
        raise ValueError("the docker deployments need the image they run")
    rendered = copy.deepcopy(template)
    rendered["deployments"] = [
        _deployment(d, settings, image) for d in template["deployments"] if d["name"] == target
    ]
    return rendered


def _deployment(template: dict[str, Any], settings: Settings, image: str | None) -> dict[str, Any]:
    deployment = copy.deepcopy(template)
    interval = INTERVALS.get(deployment["entrypoint"])
    if interval:
        deployment["schedules"] = [{"interval": getattr(settings, interval)}]
    pool = deployment["work_pool"]
    variables = pool.setdefault("job_variables", {})
    env = dict(variables.get("env", {})) | settings_given(settings)
    if deployment["entrypoint"] == SCAN_ENTRYPOINT:
        env.setdefault("CONVERT_DEPLOYMENT", f"convert-comic/{deployment['name']}")
    if image:
        host_data = env.pop("DATA_DIR", None)
        if host_data and host_data != CONTAINER_DATA_DIR:
            variables["volumes"] = [f"{host_data}:{CONTAINER_DATA_DIR}"]
        env["DATA_DIR"] = CONTAINER_DATA_DIR
        variables["image"] = image
    variables["env"] = env
    return deployment


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("local", "docker") or len(args) > 2:
        print("usage: python -m deployments.render local|docker [IMAGE]", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ValidationError as e:
        print(f"deploy: bad settings: {e}", file=sys.stderr)
        return 2
    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    image = args[1] if len(args) == 2 else None
    print(yaml.safe_dump(render(template, settings, args[0], image), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
