"""Terminal authentication: `Authorization: Terminal <token>`, scoped to the till's store.

Its own DRF authentication class, used only by the POS endpoints, so a customer's or a
staff member's token is never accepted there, and a terminal token nowhere else.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from pos.models import Terminal
from pos.services import token_hash

KEYWORD = "Terminal"


class TerminalAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1") != KEYWORD:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the terminal token after 'Terminal'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid terminal token.") from None
        terminal = (
            Terminal.objects.select_related("location")
            .filter(token_hash=token_hash(token), is_active=True)
            .first()
        )
        if terminal is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked terminal token.")
        return terminal, terminal

    def authenticate_header(self, request) -> str:
        return KEYWORD


class IsTerminal(permissions.BasePermission):
    """Only an authenticated, active terminal."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Terminal)


class TerminalAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents terminal auth in the OpenAPI schema."""

    target_class = "pos.auth.TerminalAuthentication"
    name = "terminalAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Terminal <token>`: the token shown once when the till was registered.",
        }
