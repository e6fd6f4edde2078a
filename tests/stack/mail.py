"""An email backend for the stack tests: files, and a pause before mail to `slow-…` addresses.

The pause is the window in which a test kills the Celery worker process that is sending:
before the pause the process leaves a marker file (`sending-<pid>-<n>.marker`, holding
the subjects) beside the messages, so the test knows which process to kill.
"""

import os
import time
import uuid
from pathlib import Path

from django.core.mail.backends import filebased

SLOW_PREFIX = "slow-"


class SlowFileBackend(filebased.EmailBackend):
    def send_messages(self, email_messages):
        slow = [
            message
            for message in email_messages
            if any(address.startswith(SLOW_PREFIX) for address in message.recipients())
        ]
        if slow:
            marker = Path(self.file_path) / f"sending-{os.getpid()}-{uuid.uuid4().hex}.marker"
            marker.write_text("\n".join(message.subject for message in slow))
            time.sleep(float(os.environ.get("STACK_SLOW_MAIL_SECONDS", "3")))
        return super().send_messages(email_messages)
