"""Compile each Jinja template once per test session instead of once per Copier run.

Copier builds a fresh Jinja environment for every run and compiles every template file, every
include and every question's default and validator again: most of an in-process render's time.
The compiled code depends only on the source and on the environment's syntax settings,
extensions and filter and test names, which are the same for every run of one template, so
the property tests, which render hundreds of answer sets, share it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from types import CodeType
from typing import Any

from jinja2 import Environment


def _settings(environment: Environment) -> tuple[Any, ...]:
    return (
        type(environment),
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        environment.optimized,
        environment.is_async,
        environment.finalize,
        tuple(sorted(environment.extensions)),
        tuple(sorted(environment.filters)),
        tuple(sorted(environment.tests)),
    )


@contextmanager
def shared_compilation() -> Iterator[None]:
    original = Environment.compile
    cache: dict[tuple[Any, ...], str | CodeType] = {}

    def compile(
        self: Environment,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> str | CodeType:
        if not isinstance(source, str):
            return original(self, source, name, filename, raw, defer_init)  # type: ignore[call-overload,no-any-return]
        key = (_settings(self), source, name, filename, raw, defer_init)
        compiled = cache.get(key)
        if compiled is None:
            compiled = original(self, source, name, filename, raw, defer_init)  # type: ignore[call-overload]
            cache[key] = compiled
        return compiled

    Environment.compile = compile  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Environment.compile = original  # type: ignore[method-assign]
