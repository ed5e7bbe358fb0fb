"""The template's idea of how wide text is (includes/text_width.jinja) is ruff's: it decides
where rendered code splits the user's text, and ruff format --check must find nothing to change.

For each character, two calls are written out split over lines, as wide as 120 and 121 columns
once joined if the character is as wide as the template says: ruff must join the first and
leave the second."""

import subprocess
import sys
import unicodedata

from rendering import RENDERED_CODE_CONFIG
from template_facts import text_width

# Characters whose width is easy to get wrong, and a spread over every assigned code point.
TRICKY = (
    "aé日本語한글ｱ\uff21🎉✓Ω\u0301\u0483\u200b\u200c\u200e\u202e\u2060\ufeff\xad"
    "\u1160\u11a8\u3000\u2028\xa0\u00b7"
)
SKIPPED_CATEGORIES = {"Cc", "Cs", "Cn", "Co", "Zl", "Zp"}


def sample() -> list[str]:
    spread = [
        chr(code)
        for code in range(0x20, 0x30000, 41)
        if unicodedata.category(chr(code)) not in SKIPPED_CATEGORIES and chr(code) not in '"\\'
    ]
    return list(TRICKY) + spread


def call(text: str) -> str:
    return f'f(\n    a,\n    "{text}",\n)\n'.replace('",\n)', '"\n)')


def test_text_width_agrees_with_ruff() -> None:
    characters = sample()
    base = len('f(a, "")')
    blocks = []
    for character in characters:
        width = text_width(character)
        for total in (120, 121):
            blocks.append(call("a" * (total - base - width) + character))
    source = "\n".join(blocks)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--config",
            RENDERED_CODE_CONFIG / "ruff.toml",
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    )
    statements = [line for line in result.stdout.splitlines() if line.startswith("f(")]
    joined = [line != "f(" for line in statements]
    assert len(joined) == 2 * len(characters)
    wrong = [
        f"U+{ord(character):04X} {unicodedata.name(character, '?')}: {text_width(character)}"
        for index, character in enumerate(characters)
        if joined[2 * index : 2 * index + 2] != [True, False]
    ]
    assert not wrong, f"{len(wrong)} of {len(characters)} widths differ from ruff's:\n" + "\n".join(
        wrong[:40]
    )
