# comic2pdf: the package, Tesseract (eng, fra, osd), Ghostscript and qpdf.
# Default command: `comic2pdf serve` (needs PREFECT_API_URL). As the image of the
# Docker work pool comic2pdf-docker, the worker overrides the command per flow run.
#
#   docker build -t comic2pdf .
#   docker run -e PREFECT_API_URL=http://prefect:4200/api -v /srv/comic2pdf/data:/data comic2pdf
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/comic2pdf

# System packages first, from the same list as `make setup` (scripts/apt-runtime.txt),
# so this layer is rebuilt only when that list changes.
COPY scripts/ ./scripts/
RUN scripts/setup.sh --system-only runtime \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY comic2pdf/ ./comic2pdf/
COPY tasks/ ./tasks/
COPY flows/ ./flows/
COPY deployments/ ./deployments/
COPY prefect.yaml ./
RUN pip install --no-cache-dir . \
    && rm -rf build *.egg-info

# The data folder belongs to this user: on the hosts, make /srv/comic2pdf/data
# writable by uid 1000 (or build with --build-arg UID=...).
ARG UID=1000
RUN useradd --create-home --uid "${UID}" --user-group comic2pdf \
    && mkdir -p /data && chown comic2pdf:comic2pdf /data
USER comic2pdf

ENV DATA_DIR=/data \
    PREFECT_LOGGING_EXTRA_LOGGERS=comic2pdf,ocrmypdf
VOLUME /data

CMD ["comic2pdf", "serve"]
