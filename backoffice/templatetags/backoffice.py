"""Template tags of the admin's branded header and start page (reads only).

The header is worked out once per request (it is shown in the title and the branding of
every admin page); the start page is built only by the admin index template.
"""

from django import template

from backoffice import dashboard

register = template.Library()


@register.simple_tag(takes_context=True)
def backoffice_header(context) -> str:
    """ "Omnicore — <store>" (see `dashboard.header`), computed once per request."""
    request = context.get("request")
    if request is None:
        return dashboard.BRAND
    cached = getattr(request, "_backoffice_header", None)
    if cached is None:
        cached = dashboard.header(getattr(request, "user", None))
        request._backoffice_header = cached
    return cached


@register.simple_tag(takes_context=True)
def backoffice_start_page(context):
    """The logged-in user's start page (tiles), or None."""
    request = context.get("request")
    if request is None:
        return None
    return dashboard.start_page(request.user)
