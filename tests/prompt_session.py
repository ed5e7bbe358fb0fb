"""`copier copy` driven at a terminal, as a person answers its questions.

The session runs in a pseudo-terminal (pexpect) and everything it prints goes through a terminal
emulator (pyte): prompt_toolkit redraws only what changed, so a message is whole on the screen,
not necessarily in the output. Keys are sent only once the question they answer is on the
screen and the program has gone quiet, waiting for them.
"""

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte
from template_facts import COPIER_YML

# How each question starts on the screen: the beginning of its help.
QUESTIONS = {name: spec for name, spec in COPIER_YML.items() if isinstance(spec, dict)}
QUESTION_TEXT = {name: str(spec.get("help", ""))[:30] for name, spec in QUESTIONS.items()}
MULTI_LINE = {name for name, spec in QUESTIONS.items() if spec.get("multiline")}
# Ctrl-U empties a line, Backspace joins it to the one before: together they empty the
# several-line YAML a multi-line question starts with.
CLEAR = "\x15\x08" * 150 + "\x15"
ENTER = "\r"
ESCAPE_ENTER = "\x1b\r"  # what submits a multi-line answer
ERROR = "Validation error for question"


class PromptSession:
    ROWS, COLUMNS = 300, 2000  # room for the longest default YAML and message, unwrapped

    def __init__(self, template: Path, destination: Path, options: list[str]) -> None:
        self.screen = pyte.Screen(self.COLUMNS, self.ROWS)
        self.stream = pyte.Stream(self.screen)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "copier", "copy", *options, str(template), str(destination)],
            encoding="utf-8",
            dimensions=(self.ROWS, self.COLUMNS),
            timeout=30,
            env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "NO_COLOR": "1"},
        )
        self.child.logfile_read = self

    # pexpect's logfile_read: everything the program prints goes to the screen.
    def write(self, data: str) -> None:
        self.stream.feed(data)

    def flush(self) -> None:
        pass

    def rows(self) -> list[str]:
        """The screen's lines that hold anything (pyte's own `display` pads every line of a
        wide screen: far slower)."""
        buffer = self.screen.buffer
        rows = []
        for y in sorted(buffer):
            row = buffer[y]
            if row:
                rows.append("".join(row[x].data for x in range(max(row) + 1)).rstrip())
        return [row for row in rows if row]

    def text(self) -> str:
        return "\n".join(self.rows())

    def line_with(self, text: str) -> str | None:
        return next((line.strip() for line in self.rows() if text in line), None)

    def read(self, timeout: float) -> bool:
        """Read what the program prints within `timeout`; False when it printed nothing."""
        try:
            self.child.read_nonblocking(1_000_000, timeout=timeout)
        except pexpect.TIMEOUT:
            return False
        return True

    def wait_for(self, shown: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not shown():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited in vain for {what}; the screen:\n{self.text()}")
            self.read(0.1)

    def settle(self) -> None:
        """Read until the program has been quiet for a moment: it waits for keys."""
        while self.read(0.3):
            pass

    def asked(self, question: str) -> bool:
        return self.line_with(QUESTION_TEXT[question]) is not None

    def answer(self, question: str, text: str) -> None:
        """Replace what `question` offers with `text`, and submit it."""
        self.wait_for(lambda: self.asked(question), f"the question {question}")
        self.settle()
        multi_line = question in MULTI_LINE
        self.child.send((CLEAR if multi_line else "\x15") + text)
        self.child.send(ESCAPE_ENTER if multi_line else ENTER)

    def accept_defaults_until_refused(self, questions: list[str]) -> None:
        """Press Enter on each of `questions` as it comes, until an answer is refused."""
        for question in questions:
            self.wait_for(
                lambda question=question: self.error() is not None or self.asked(question),
                f"the question {question} or an error",
            )
            if self.error() is not None:
                return
            self.settle()
            self.child.send(ENTER)

    def error(self) -> str | None:
        line = self.line_with(ERROR)
        return line[line.index(ERROR) :] if line else None

    def error_showing(self, expected: str) -> str:
        """The validation error on the screen, once it shows `expected` (or after a while)."""
        deadline = time.monotonic() + 20
        while expected not in (self.error() or "") and time.monotonic() < deadline:
            self.read(0.1)
        shown = self.error()
        assert shown is not None, f"no validation error on the screen:\n{self.text()}"
        return shown

    def abort(self) -> None:
        """Ctrl-C, as a person gives up, and wait for the program to end."""
        self.child.sendcontrol("c")
        self.child.expect(pexpect.EOF)

    def finish(self) -> None:
        self.child.expect(pexpect.EOF)

    def close(self) -> int | None:
        """End the session; the exit status, None when a signal ended it."""
        self.child.close(force=True)
        return self.child.exitstatus  # type: ignore[no-any-return]
