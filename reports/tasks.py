"""Celery tasks of the reports app."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from reports import services

# Days this far back are folded: a till syncing late or a pickup expiring still adds rows
# to recent days, which then wait for the next run.
KEEP_DAYS = 3


@shared_task(name="reports.tasks.fold_past_days")
def fold_past_days() -> int:
    """Fold the report rows of days older than KEEP_DAYS (same sums, fewer rows); safe to
    run twice or concurrently."""
    return services.facts_fold(before=timezone.localdate() - timedelta(days=KEEP_DAYS))
