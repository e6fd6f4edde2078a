"""`/healthz` (alive), `/readyz` (ready for traffic) and `/metrics` (Prometheus).

`/healthz` touches nothing: it answers while the process can answer at all, so a
restart policy never kills a process for a database outage. `/readyz` answers 200 only
when the database and the broker are reachable and every migration is applied, else 503
in the error shape with the failed checks; a load balancer sends traffic only to ready
processes. Neither writes, and neither needs a login.

`/metrics` is the Prometheus text format of every process on the machine (see
`ops.metrics`). It is open to a caller that sends `Authorization: Bearer <METRICS_TOKEN>`,
or that connects directly (no `X-Forwarded-For`: not through the load balancer) from an
address in METRICS_ALLOWED_NETWORKS; anyone else gets 403.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_prometheus.exports import ExportToDjangoView

from core.api.exceptions import error_body
from ops import checks


@never_cache
@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    results = checks.readiness()
    if all(check["ok"] for check in results.values()):
        return JsonResponse({"status": "ready", "checks": results})
    body = error_body("not_ready", _("The service is not ready."), {"checks": results})
    return JsonResponse(body, status=503)


def metrics_allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    if token and authorization.startswith("Bearer "):
        return hmac.compare_digest(authorization[7:].encode(), token.encode())
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False  # it came through a proxy: the address below is the proxy's
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_safe
def metrics(request):
    if not metrics_allowed(request):
        body = error_body("permission_denied", _("Metrics are for internal addresses only."))
        return JsonResponse(body, status=403)
    return ExportToDjangoView(request)
