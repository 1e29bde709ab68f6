from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import middleware as auth_middleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework.views import APIView

# Everything the pages use is served from this origin; plotly needs inline styles and eval-free JS,
# and its PNG download draws the chart through a blob: image into a canvas (img-src blob:).
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)


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
