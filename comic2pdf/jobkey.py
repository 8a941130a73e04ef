"""Job keys: ``<sha256 of the file>__<sha256 of the profile>``.

The profile is every option that changes the output plus the versions of the
tools that make it, as canonical JSON. Same file + same profile = same result,
so a second copy is a duplicate; a new Tesseract means a new key.
"""

import hashlib
import json
from pathlib import Path

CHUNK_BYTES = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def build_profile(
    *, ocr: dict[str, object], dpi: int, versions: dict[str, str]
) -> dict[str, object]:
    """The job profile; *ocr* is ``OcrOptions.profile()``."""
    return {"ocr": ocr, "dpi": dpi, "versions": versions}


def profile_sha256(profile: dict[str, object]) -> str:
    return hashlib.sha256(canonical_json(profile).encode()).hexdigest()


def job_key(file_digest: str, profile_digest: str) -> str:
    return f"{file_digest}__{profile_digest}"
