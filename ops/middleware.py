"""The request id of every request, echoed in the response, and one access log line;
the metrics middleware made safe with hostile requests.

First in the middleware chain (after the metrics timer), so everything below it —
views, services, the tasks they queue — logs with the id. The id comes from the
client's `X-Request-ID` when well formed (see `ops.context`), else it is made here; the
response carries it back in `X-Request-ID`. With ACCESS_LOG on (the default when DEBUG is
off) each request ends with one `omnicore.access` line: method, path, status, duration.
"""

import logging
import time

from django.conf import settings
from django_prometheus.middleware import PrometheusAfterMiddleware as _PrometheusAfterMiddleware
from django_prometheus.utils import Time

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


class PrometheusAfterMiddleware(_PrometheusAfterMiddleware):
    """django-prometheus's last middleware, safe with hostile requests.

    Its own version turns a non-numeric Content-Length into a 500 (`int("abc")`), and
    labels the latency histogram with the raw method, so random methods would make
    unbounded series (memory, and files in PROMETHEUS_MULTIPROC_DIR). Here the length
    counts as 0 unless it is a number, and an unknown method is "<invalid method>". The
    labelled children are looked up once per set of labels.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._children: dict[tuple, object] = {}

    def process_request(self, request):
        transport = self._transport(request)
        method = self._method(request)
        self.label_metric(self.metrics.requests_by_method, request, method=method).inc()
        self.label_metric(self.metrics.requests_by_transport, request, transport=transport).inc()
        if request.headers.get("x-requested-with") == "XMLHttpRequest":
            self.label_metric(self.metrics.requests_ajax, request).inc()
        length = request.META.get("CONTENT_LENGTH") or "0"
        content_length = int(length) if length.isascii() and length.isdigit() else 0
        self.label_metric(self.metrics.requests_body_bytes, request).observe(content_length)
        request.prometheus_after_middleware_event = Time()

    def label_metric(self, metric, request, response=None, **labels):
        if "method" in labels:
            labels["method"] = self._method(request)
        if not labels:
            return metric
        # A metric's labelled child, found once per set of labels (each request updates a
        # dozen; prometheus-client validates and locks on every `labels()` call). The
        # labels are bounded as the series are: views, known methods, status codes.
        key = (id(metric), *labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**labels)
        return child
