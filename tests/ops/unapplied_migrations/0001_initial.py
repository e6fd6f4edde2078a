"""A migration no database has applied: makes /readyz see a pending migration."""

from django.db import migrations


class Migration(migrations.Migration):
    operations = []
