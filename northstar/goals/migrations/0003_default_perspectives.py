import uuid

from django.db import migrations

# The four classic balanced-scorecard perspectives; admins may rename, reweigh or add.
DEFAULTS = [
    ("financial", "Financial", "How do we look to shareholders?"),
    ("customer", "Customer", "How do customers see us?"),
    ("internal-process", "Internal process", "What must we excel at?"),
    ("learning-growth", "Learning and growth", "Can we continue to improve and create value?"),
]


def create_perspectives(apps, schema_editor):
    Perspective = apps.get_model("goals", "Perspective")
    for order, (key, name, description) in enumerate(DEFAULTS):
        Perspective.objects.get_or_create(key=key, defaults={"name": name, "description": description,
                                                             "order": order, "uid": uuid.uuid4()})


class Migration(migrations.Migration):
    dependencies = [("goals", "0002_initial")]
    operations = [migrations.RunPython(create_perspectives, migrations.RunPython.noop)]
