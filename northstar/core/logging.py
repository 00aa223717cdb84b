"""JSON log lines (LOG_FORMAT=json) carrying the request id."""

import json
import logging
from datetime import UTC, datetime

from northstar.core.context import current_request


class RequestContextFilter(logging.Filter):
    def filter(self, record):
        # Django logs 4xx/5xx responses after the middleware has returned, so fall back
        # to the id kept on the request the log record carries.
        request = getattr(record, "request", None)
        record.request_id = current_request().request_id or getattr(request, "request_id", "")
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", ""):
            line["request_id"] = record.request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)
