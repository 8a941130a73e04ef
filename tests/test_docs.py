"""The README's settings table lists exactly the settings the code reads."""

import re
from pathlib import Path

from comic2pdf.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def documented_settings() -> set[str]:
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_every_setting_is_in_the_readme_table_and_nothing_else():
    assert documented_settings() == {name.upper() for name in Settings.model_fields}
