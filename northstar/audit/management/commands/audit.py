"""`northstar audit verify`: recompute the hash chain and name the first tampered event."""

import sys

from django.core.management.base import BaseCommand, CommandError

from northstar.audit.models import AuditHead
from northstar.audit.services import verify_chain
from northstar.core.progress import Progress


class Command(BaseCommand):
    help = "Audit trail tools. `verify` recomputes the hash chain."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args, action, **options):
        total = AuditHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
        with Progress("Verifying audit trail", total=total, stream=sys.stderr) as progress:
            result = verify_chain(progress=lambda n: progress.advance(1))
        if not result.ok:
            raise CommandError(
                f"Audit trail is NOT intact (checked {result.checked:,} events). "
                f"First bad event: #{result.first_bad_seq}. " + " ".join(result.problems)
            )
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {result.checked:,} events verified."))
