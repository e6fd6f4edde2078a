"""The request id of every request, echoed in the response, and one access log line.

First in the middleware chain (after the metrics timer), so everything below it —
views, services, the tasks they queue — logs with the id. The id comes from the
client's `X-Request-ID` when well formed (see `ops.context`), else it is made here; the
response carries it back in `X-Request-ID`. With ACCESS_LOG on (the default when DEBUG is
off) each request ends with one `omnicore.access` line: method, path, status, duration.
"""

import logging
import time

from django.conf import settings

from ops import context

access_log = logging.getLogger("omnicore.access")


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.access_log = settings.ACCESS_LOG

    def __call__(self, request):
        request_id = context.accept(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = context.bind(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            if self.access_log:
                access_log.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            return response
        finally:
            context.reset(token)
