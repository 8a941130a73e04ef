"""All settings, read from the environment in exactly this one place.

Each field is an environment variable of the same name in upper case
(``DATA_DIR``, ``OCR_LANG``…), the names the old design used. Build one
``Settings`` at an entry point (CLI, flow) and pass it down; nothing below reads
``os.environ``.
"""

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from comic2pdf.resolution import MIN_DPI


class OutputType(StrEnum):
    pdf = "pdf"
    pdfa = "pdfa"


class OcrMode(StrEnum):
    comic = "comic"
    page = "page"


class Settings(BaseSettings):
    """comic2pdf settings; every field is an environment variable."""

    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    # --- folders -------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Root of in/, out/, work/, archive/, error/…")
    # Secret: the URL may carry the database password, which must never reach a log or a repr.
    job_db_url: SecretStr | None = Field(
        None,
        description="The job store: unset = the SQLite file DATA_DIR/index/comic2pdf.sqlite3; "
        "postgresql+psycopg://user:password@host/db when several hosts share the work.",
    )

    # --- OCR -----------------------------------------------------------------
    ocr_lang: str = Field("eng", description="Tesseract languages joined by '+', e.g. 'eng+fra'.")
    ocr_mode: OcrMode = Field(
        OcrMode.comic,
        description="comic = our engine reads balloons, captions and the rest of the page at a "
        "size that suits the lettering; page = plain whole-page Tesseract.",
    )
    ocr_jobs: int = Field(
        0, ge=0, le=256, description="ocrmypdf --jobs; 0 = CPUs divided by OCR_CONCURRENCY."
    )
    ocr_rotate_pages: bool = Field(False, description="ocrmypdf --rotate-pages (costs time).")
    ocr_deskew: bool = Field(
        False, description="ocrmypdf --deskew; re-encodes every page image (lossy)."
    )
    ocr_optimize: int = Field(0, ge=0, le=3, description="ocrmypdf --optimize level.")
    ocr_output_type: OutputType = Field(OutputType.pdf, description="ocrmypdf --output-type.")
    ocr_downsample_above: int = Field(
        0,
        ge=0,
        le=32767,
        description="Tesseract sees pages downsampled to this many pixels on the long side "
        "(0 = off, the default: shrinking comic lettering costs words); the PDF keeps the "
        "originals.",
    )
    ocr_fast_raster: bool = Field(
        True,
        description="Pages that are one JPEG or PNG reach Tesseract decoded straight from the "
        "image (at the downsampled size, if any) by our ocrmypdf plugin comic2pdf.ocr.raster; "
        "false = ocrmypdf's own rasterizer.",
    )
    ocr_tesseract_timeout: float = Field(
        180, ge=0, description="Seconds Tesseract may spend on one page."
    )
    ocr_dpi: int = Field(
        0,
        ge=0,
        le=1200,
        description="Resolution the page images are declared at in raw.pdf (sets the page size "
        "and the DPI Tesseract is told); 0 = each image's own when plausible, else that of a "
        "printed comic page.",
    )

    # --- attempts and timeouts -------------------------------------------------
    max_attempts_prep: int = Field(3, ge=1, le=20, description="Attempts of the prep task.")
    max_attempts_ocr: int = Field(3, ge=1, le=20, description="Attempts of the ocr task.")
    retry_delay_seconds: float = Field(2, ge=0, le=3600, description="Pause between attempts.")
    prep_timeout_seconds: float = Field(600, gt=0, description="Time limit of one prep attempt.")
    ocr_timeout_seconds: float = Field(3600, gt=0, description="Time limit of one OCR attempt.")

    # --- input checks ----------------------------------------------------------
    min_pdf_size_bytes: int = Field(1024, ge=0, description="Smallest acceptable final PDF.")
    max_input_size_mb: float = Field(500, gt=0, description="Largest accepted archive.")
    max_uncompressed_mb: float = Field(
        4096, gt=0, description="Largest total of extracted bytes (zip-bomb guard)."
    )
    max_entries: int = Field(10000, ge=1, description="Most entries an archive may hold.")
    max_compression_ratio: float = Field(
        200, gt=1, description="Largest uncompressed/compressed ratio of one entry."
    )
    max_image_pixels: int = Field(
        200_000_000, ge=1, description="Largest page in pixels (decompression-bomb guard)."
    )
    disk_free_factor: float = Field(
        2.0, ge=0, description="Free disk needed, as a multiple of the input size."
    )

    # --- inbox, scheduling, concurrency ------------------------------------------
    stable_seconds: float = Field(2, ge=0, description="A file must be unchanged this long.")
    scan_interval_seconds: int = Field(30, ge=1, description="Interval of scan-inbox.")
    max_jobs_in_flight: int = Field(4, ge=1, description="Most comics converting at once.")
    prep_concurrency: int = Field(2, ge=1, description="Global limit on prep tasks.")
    ocr_concurrency: int = Field(1, ge=1, description="Global limit on ocr tasks.")
    convert_deployment: str = Field(
        "",
        description="convert-comic deployment the scan starts runs of (any worker of its pool "
        "takes them), e.g. convert-comic/local; empty = subflows in the scan's process.",
    )
    keep_work_dir_days: float = Field(
        0, ge=0, description="0 = delete work/<jobKey>/ at DONE; else a janitor does later."
    )

    # --- metrics -------------------------------------------------------------
    metrics_interval_seconds: int = Field(60, ge=1, description="Interval of push-metrics.")
    pushgateway_url: str | None = Field(None, description="e.g. http://127.0.0.1:9091")
    pushgateway_timeout_seconds: float = Field(10, gt=0, description="Timeout of one push.")
    instance_name: str | None = Field(
        None, description="Pushgateway instance label; default: the job store's stable id."
    )
    metrics_port: int = Field(
        9645,
        ge=0,
        le=65535,
        description="Port of /metrics on 'serve' and 'metrics --serve'; 0 = none on 'serve'.",
    )
    metrics_address: str = Field(
        "127.0.0.1", description="Address /metrics listens on; 0.0.0.0 for every interface."
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Child processes run in other folders: a relative path would move with them.
        return value.expanduser().absolute()

    @field_validator("ocr_dpi")
    @classmethod
    def _dpi_tesseract_takes(cls, value: int) -> int:
        if 0 < value < MIN_DPI:
            raise ValueError(f"OCR_DPI={value}: 0 (automatic) or at least {MIN_DPI}")
        return value

    @field_validator("ocr_lang")
    @classmethod
    def _languages_look_right(cls, value: str) -> str:
        langs = [part.strip() for part in value.replace(",", "+").split("+") if part.strip()]
        if not langs or not all(lang.replace("_", "").isalnum() for lang in langs):
            raise ValueError(f"OCR_LANG={value!r}: expected names like 'eng' or 'eng+fra'")
        return "+".join(langs)

    @property
    def languages(self) -> list[str]:
        """Languages sorted and de-duplicated: the form that goes into the job profile."""
        return sorted(set(self.ocr_lang.split("+")))

    @property
    def effective_ocr_jobs(self) -> int:
        if self.ocr_jobs:
            return self.ocr_jobs
        return max(1, (os.cpu_count() or 1) // self.ocr_concurrency)

    # --- the data directory (SPEC "Data directory") ---------------------------
    @property
    def in_dir(self) -> Path:
        return self.data_dir / "in"

    @property
    def out_dir(self) -> Path:
        return self.data_dir / "out"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def incoming_dir(self) -> Path:
        """Claim folders: ``work/incoming/<claim id>/<input name>``."""
        return self.work_dir / "incoming"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def error_dir(self) -> Path:
        return self.data_dir / "error"

    @property
    def hold_dir(self) -> Path:
        return self.data_dir / "hold" / "duplicates"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports" / "duplicates"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def db_path(self) -> Path:
        return self.index_dir / "comic2pdf.sqlite3"

    @property
    def job_store(self) -> Path | str:
        """Where the job store is: JOB_DB_URL, else the SQLite file under ``index/``."""
        if self.job_db_url is not None and self.job_db_url.get_secret_value():
            return self.job_db_url.get_secret_value()
        return self.db_path

    @property
    def metrics_path(self) -> Path:
        return self.index_dir / "metrics.json"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, with explicit overrides on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)


def prepare_flow_environment(settings: Settings | None = None, *, verbose: bool = True) -> None:
    """Environment for the flows this process runs or serves (set before Prefect is imported).

    Flows (and served deployments in child processes) build their settings from
    the environment again, so a ``--data-dir`` given on the command line is
    passed on as DATA_DIR. Our domain loggers (and ocrmypdf's) go to Prefect's
    run logs. The temporary server Prefect starts when no API is configured
    sends no telemetry: without network (a NAS, a CI box) every call printed
    "Failed to send telemetry". Unless *verbose*, Prefect's INFO lines (runs
    created, states) stay in the run logs and out of the terminal.
    """
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "comic2pdf,ocrmypdf")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    if settings is not None:
        os.environ["DATA_DIR"] = str(settings.data_dir)


def prefect_api_configured() -> bool:
    """Whether Prefect has an API to talk to: PREFECT_API_URL in the environment or the profile.

    Read without importing Prefect (that alone takes seconds): the active
    profile of ``$PREFECT_HOME/profiles.toml`` (``prefect config set``).
    """
    if os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False  # no profile file (or one Prefect itself would refuse): no API
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return bool(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL"))
