"""Domain errors that services raise and every interface (API, UI, CLI) reports the same way."""

from django.core.exceptions import ValidationError


class Conflict(Exception):
    """The write clashes with existing data (a duplicate key, a stale state)."""

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


def validation_fields(error: ValidationError) -> dict[str, list[str]]:
    """A ValidationError as {field: [messages]}; errors not tied to a field go under '__all__'."""
    if hasattr(error, "error_dict"):
        return {name: [m for e in errors for m in e.messages] for name, errors in error.error_dict.items()}
    return {"__all__": list(error.messages)}


def validation_summary(error: ValidationError) -> str:
    fields = validation_fields(error)
    parts = [f"{name}: {'; '.join(msgs)}" if name != "__all__" else "; ".join(msgs)
             for name, msgs in fields.items()]
    return "Invalid input. " + " ".join(parts)
