from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from crest_web.accounts.actions import do_rotate_token
from crest_web.accounts.forms import ThrottledLoginForm


class LoginView(auth_views.LoginView):
    form_class = ThrottledLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    """Show whether the user has an API token; POST issues a new one and shows it once."""
    user = request.user
    assert isinstance(user, User)  # login_required
    if request.method == "POST":
        # Post-redirect-get: a reload of the page must not silently issue another token.
        request.session["new_api_token"] = do_rotate_token(user, "web").key
        return redirect("api_token")
    new_key = request.session.pop("new_api_token", None)  # shown once
    has_token = Token.objects.filter(user=user).exists()
    return render(request, "accounts/token.html", {"new_key": new_key, "has_token": has_token})
