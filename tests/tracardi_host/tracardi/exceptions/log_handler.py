"""get_logger as master's behaves for a destination: the logger does not propagate, its level is
LOGGING_LEVEL's (WARNING by default), and each call adds two handlers, one keeping the records
for Tracardi's log index and one writing to stderr. error() and critical() record the stack
and the exception. Master also stores each record in Elasticsearch; the stand-in only keeps them
in `log_handler.collection`."""

import logging
import os
from typing import Any

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
}
_logging_level = _LEVELS.get(os.environ.get("LOGGING_LEVEL", "WARNING").upper(), logging.WARNING)
_FORMAT = "%(asctime)s: %(levelname)s: %(message)s: (%(name)s:%(filename)s:%(lineno)d)"


class ElasticLogHandler(logging.Handler):
    """Keeps the records master would save to its log index."""

    def __init__(self, level: int = 0) -> None:
        super().__init__(level)
        self.collection: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.collection.append(record)


class StackInfoLogger(logging.Logger):
    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        kwargs["stack_info"] = True
        kwargs["exc_info"] = True
        super().error(msg, *args, **kwargs)

    def critical(self, msg: object, *args: Any, **kwargs: Any) -> None:
        kwargs["stack_info"] = True
        kwargs["exc_info"] = True
        super().error(msg, *args, **kwargs)  # master logs a critical record at ERROR level


logging.setLoggerClass(StackInfoLogger)
logging.basicConfig(level=logging.INFO)


def get_logger(name: str, level: int | None = None) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(level or _logging_level)
    logger.addHandler(log_handler)
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(console)
    return logger


log_handler = ElasticLogHandler()
