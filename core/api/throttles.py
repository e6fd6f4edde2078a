"""Scoped request throttles whose rates are read from settings at request time.

DRF binds `DEFAULT_THROTTLE_RATES` when its throttle module is imported, so a test (or
the fuzz run) that changes the setting would not be heard. `ScopedThrottle` looks the
rate up on every request instead. A view names its `throttle_scope`; anonymous callers
are counted per client IP, authenticated ones per user. A refused request raises DRF's
`Throttled`, which the API exception handler answers as 429 with `Retry-After`.
"""

from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle


class ScopedThrottle(ScopedRateThrottle):
    def get_rate(self) -> str | None:
        rates = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_THROTTLE_RATES", {})
        return rates.get(self.scope)
