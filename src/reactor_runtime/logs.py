"""`get_logger`: a logger whose level methods take structured fields as keywords.

3.x models log as `log.info("loaded", weights=path, seconds=1.2)`. The logger
wraps the standard-library logger of the same name (levels and handlers are
configured as usual) and writes the fields after the message as `key=value`
pairs, in the order given, so they read the same in any handler.
"""

from __future__ import annotations

import logging
from typing import Any


class FieldLogger:
    """A named logger: `debug`/`info`/`warning`/`error`/`exception(msg, **fields)`."""

    __slots__ = ("logger",)

    def __init__(self, name: str) -> None:
        """Wrap `logging.getLogger(name)`."""
        self.logger = logging.getLogger(name)

    def _log(self, level: int, msg: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = " ".join([msg, *(f"{key}={value!r}" for key, value in fields.items())])
        # `msg` is never %-formatted: a literal "%" in it is kept as is.
        self.logger.log(level, "%s", text, exc_info=exc_info, stacklevel=3)

    def debug(self, msg: str, **fields: Any) -> None:
        """Log `msg` and `fields` at DEBUG."""
        self._log(logging.DEBUG, msg, fields)

    def info(self, msg: str, **fields: Any) -> None:
        """Log `msg` and `fields` at INFO."""
        self._log(logging.INFO, msg, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        """Log `msg` and `fields` at WARNING."""
        self._log(logging.WARNING, msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        """Log `msg` and `fields` at ERROR."""
        self._log(logging.ERROR, msg, fields)

    def exception(self, msg: str, **fields: Any) -> None:
        """Log `msg` and `fields` at ERROR, with the exception being handled."""
        self._log(logging.ERROR, msg, fields, exc_info=True)


def get_logger(name: str) -> FieldLogger:
    """The `FieldLogger` called `name` (usually `__name__`)."""
    return FieldLogger(name)
