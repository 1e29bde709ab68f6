from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from rest_framework.views import APIView

from crest_web.accounts.proxies import is_trusted_proxy, parse_trusted_proxies
from crest_web.accounts.roles import has_role

# Everything the pages use is served from this origin; plotly needs inline styles and eval-free JS,
# and its PNG download draws the chart through a blob: image into a canvas (img-src blob:).
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)


class TrustedProxyHeaderMiddleware:
    """The HTTPS header of SECURE_PROXY_SSL_HEADER (X-Forwarded-Proto) counts only when the direct
    peer is one of CREST_TRUSTED_PROXIES: from anyone else it is a client's claim, dropped before
    SecurityMiddleware's HTTPS redirect and request.is_secure() read it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        if header and header[0] in request.META:
            proxies = parse_trusted_proxies(tuple(settings.CREST_TRUSTED_PROXIES))
            if not is_trusted_proxy(str(request.META.get("REMOTE_ADDR", "")), proxies):
                del request.META[header[0]]
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # The API docs page (Swagger UI) needs an inline bootstrap script.
        if not request.path.startswith("/api/docs"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Django's sign-in requirement for pages; API views authenticate themselves (session or
    token) and answer 401/403 instead of redirecting a script to a login form."""

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        view_class = getattr(view_func, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            # DRF marks its views login_not_required; pages built on it still need a sign-in.
            if getattr(view_class, "is_page", False) and not request.user.is_authenticated:
                return self.handle_no_permission(request, view_func)
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


def _role_checked_elsewhere_or_open(view_func: Callable[..., Any]) -> bool:
    """Sign-in pages and /healthz (login_not_required), and DRF endpoints for scripts, which check
    the role themselves. DRF marks all its views login_not_required, pages like the API docs too."""
    view_class = getattr(view_func, "cls", None)
    if isinstance(view_class, type) and issubclass(view_class, APIView):
        return not getattr(view_class, "is_page", False)
    return not getattr(view_func, "login_required", True)


class RoleRequiredMiddleware:
    """A signed-in person without a role sees only a page saying so, on every page but signing in
    and out. The API refuses them in RolePermission (token sign-ins happen inside DRF, after
    this), live events in EventsConsumer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        if not request.user.is_authenticated or _role_checked_elsewhere_or_open(view_func):
            return None
        match = request.resolver_match
        if (match is not None and match.url_name == "logout") or has_role(request.user):
            return None
        return render(request, "accounts/no_role.html", status=403)
