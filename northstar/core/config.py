"""Configuration checks shared by settings (refuse to start) and `northstar check`."""

DEV_SECRET_KEY = "django-insecure-northstar-development-only"
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE_CHARS = 5


def secret_key_problem(secret_key: str) -> str | None:
    if not secret_key or secret_key == DEV_SECRET_KEY or secret_key.startswith("django-insecure"):
        return "SECRET_KEY is the development key; set SECRET_KEY (or SECRET_KEY_FILE) to a long random value."
    if len(secret_key) < MIN_SECRET_KEY_LENGTH or len(set(secret_key)) < MIN_SECRET_KEY_UNIQUE_CHARS:
        return (
            f"SECRET_KEY is too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters "
            "(for example the output of `python -c 'import secrets; print(secrets.token_urlsafe(64))'`)."
        )
    return None


def production_problems(secret_key: str, debug: bool, allowed_hosts: list[str]) -> list[str]:
    """Plain-words reasons why these settings are unsafe to serve in production."""
    problems = []
    key_problem = secret_key_problem(secret_key)
    if key_problem:
        problems.append(key_problem)
    if debug:
        problems.append("DEBUG is on; unset DEBUG or set DEBUG=false.")
    if not allowed_hosts:
        problems.append("ALLOWED_HOSTS is empty; set it to the host names the app is served on.")
    return problems
