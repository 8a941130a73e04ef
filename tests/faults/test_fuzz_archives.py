"""Seeded fuzzing of extraction: mutated archives either extract or fail with our reason.

Valid archives of every format (ZIP, 7z, tar generated here; RAR 4, RAR 5 and
solid RAR from the shared fixtures) are truncated, have bytes flipped, header
fields overwritten with wrong sizes, or chunks cut out, with a fixed seed. Each
case must end in an Extraction or a ComicError subclass, never another
exception, and nothing may be written outside the job folder.
"""

import random
import struct
from pathlib import Path

import pytest

from comic2pdf.archive import ExtractLimits, extract_pages
from comic2pdf.errors import ComicError
from comic2pdf.samples import make_comic

pytestmark = pytest.mark.faults

SEED = 7
CASES_PER_SOURCE = 20
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "archives"
RAR_FIXTURES = ("rar4.rar", "rar5.rar", "rar4-solid.rar", "rar5-solid.rar")
LIMITS = ExtractLimits(
    max_total_bytes=64 << 20, max_entries=1000, max_ratio=200, max_image_pixels=50_000_000
)


def sources(folder: Path) -> list[Path]:
    folder.mkdir()
    made = [
        make_comic(
            folder / f"comic.{container}",
            title="Fuzz",
            pages=2,
            size=(300, 400),
            image_format=("PNG", "JPEG"),
            container=container,
        ).path
        for container in ("zip", "7z", "tar")
    ]
    return made + [FIXTURES / name for name in RAR_FIXTURES] + [FIXTURES / "zip.zip"]


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
    return bytes(mutated)


def wrong_size(data: bytes, rng: random.Random) -> bytes:
    """Overwrite a 4-byte field of a header (the archive's first or last 512 bytes)."""
    mutated = bytearray(data)
    area = rng.choice([(0, min(512, len(data))), (max(0, len(data) - 512), len(data))])
    offset = rng.randrange(area[0], max(area[0] + 1, area[1] - 4))
    value = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, rng.getrandbits(32)])
    mutated[offset : offset + 4] = struct.pack("<I", value)
    return bytes(mutated[: len(data)])


def cut_chunk(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 256) :]


MUTATIONS = (truncate, flip_bytes, wrong_size, cut_chunk)


def test_mutated_archives_extract_or_fail_with_our_reason(tmp_path):
    rng = random.Random(SEED)
    outcomes: dict[str, int] = {}
    unexpected = []
    archives = sources(tmp_path / "sources")
    for source in archives:
        data = source.read_bytes()
        for number in range(CASES_PER_SOURCE):
            mutation = MUTATIONS[number % len(MUTATIONS)]
            case = tmp_path / f"{source.stem}-{source.suffix[1:]}-{number}"
            case.mkdir()
            archive = case / f"input{source.suffix}"
            archive.write_bytes(mutation(data, rng))
            job = case / "job"
            try:
                extraction = extract_pages(archive, job / "extract", limits=LIMITS)
            except ComicError as e:
                outcomes[e.reason] = outcomes.get(e.reason, 0) + 1
            except Exception as e:  # noqa: BLE001 - exactly what this test looks for
                unexpected.append(f"{case.name} ({mutation.__name__}): {type(e).__name__}: {e}")
            else:
                outcomes["extracted"] = outcomes.get("extracted", 0) + 1
                assert all(page.path.is_relative_to(job) for page in extraction.pages), case
            assert sorted(p.name for p in case.iterdir()) <= sorted([archive.name, "job"]), case
            escaped = [p for p in case.rglob("*") if p.is_symlink()]
            assert escaped == [], escaped
    assert unexpected == []
    assert sum(outcomes.values()) == len(archives) * CASES_PER_SOURCE
    assert outcomes.get("extracted", 0) > 0 and outcomes.get("corrupt", 0) > 0, outcomes
