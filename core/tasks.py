"""Celery tasks of core: the outbox relay (`core.background`)."""

from celery import shared_task

from core import background


@shared_task
def outbox_relay() -> int:
    """Beat task: publish the tasks committed to the outbox, and delete them."""
    return background.outbox_relay()
