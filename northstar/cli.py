"""The `northstar` command: Northstar's own commands and all of Django's."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "northstar.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    argv = list(sys.argv if argv is None else argv)
    # In production, `northstar check` also runs Django's deployment checks.
    production = os.environ.get("NORTHSTAR_MODE") == "production"
    if production and len(argv) > 1 and argv[1] == "check" and "--deploy" not in argv:
        argv.append("--deploy")
    if len(argv) > 1 and argv[1] == "check" and "--database" not in argv:
        argv += ["--database", "default"]  # also say when the database cannot be reached
    try:
        execute_from_command_line(["northstar", *argv[1:]])
    except ImproperlyConfigured as error:
        # A refusal to start is a message for the operator, not a traceback.
        sys.stderr.write(f"northstar: {error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
