"""The API's JSON parser: DRF's, bounded in size and depth, and refusing NUL characters.

DRF reads a JSON body straight from the request stream, so Django's
`DATA_UPLOAD_MAX_MEMORY_SIZE` never applies to it; this parser reads at most that many
bytes (413 `request_too_large` past it). Python's decoder recurses once per nesting level
and raises `RecursionError` (a 500) on ~1,000 levels, and anything deeply nested that
does parse would recurse again in serializers; no request of this API nests more than a
few levels, so past `MAX_DEPTH` the body is a 400 `parse_error`. PostgreSQL cannot store
NUL (U+0000) in text or jsonb, so a NUL in any key or string is a `parse_error` too.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

MAX_DEPTH = 32


def _problem(data) -> str | None:
    """Why parsed JSON is refused (too deep, a NUL character), walked without recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return _("JSON nested more than %(n)d levels deep.") % {"n": MAX_DEPTH}
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return _("JSON contains a NUL character.")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and "\x00" in value:
            return _("JSON contains a NUL character.")
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestDataTooBig(_("The request body is too large."))
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(
                raw.decode(encoding),
                parse_constant=json.strict_constant if self.strict else None,
            )
        except RecursionError as exc:
            raise ParseError(_("JSON nested too deeply.")) from exc
        except ValueError as exc:  # includes UnicodeDecodeError
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from exc
        problem = _problem(data)
        if problem:
            raise ParseError(problem)
        return data
