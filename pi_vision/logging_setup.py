"""Log lines for a terminal or journald: readable text, or one JSON object per line."""
from __future__ import annotations

import json
import logging
import os
import sys

# journald reads a "<N>" prefix as the syslog priority, so `journalctl -p warning` works.
_SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _Formatter(logging.Formatter):
    def __init__(self, json_lines: bool, journald: bool):
        super().__init__()
        self.json_lines = json_lines
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event_data", None)
        if self.json_lines:
            line = json.dumps(event if event is not None else {
                "event": "log", "level": record.levelname.lower(), "logger": record.name,
                "message": record.getMessage()})
        else:
            line = record.getMessage() if event is not None else f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and not self.json_lines:
            line += "\n" + self.formatException(record.exc_info)
        if self.journald:
            line = f"<{_SYSLOG_PRIORITY.get(record.levelno, 6)}>{line}"
        return line


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send every log record to stdout (journald captures it under systemd)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Formatter(log_format == "json", journald="JOURNAL_STREAM" in os.environ))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # A closed stdout (`| head`, a stopped journald) must not turn every log call into a traceback.
    logging.raiseExceptions = False
