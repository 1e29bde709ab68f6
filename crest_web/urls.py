from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from apps.alarms.api import AlarmViewSet
from apps.capability.api import CapabilityStudyViewSet
from apps.cycle import api as cycle_api
from apps.der_registry.api import DERViewSet
from apps.der_registry.group_api import DERGroupViewSet
from apps.dms.api import FeederViewSet
from apps.ems import api as ems_api
from apps.ems import run_views as ems_run_views
from apps.ems import views as ems_views
from apps.training import api as training_api
from crest_web import health, pages
from crest_web.accounts import views as account_views
from crest_web.accounts.api import AuditRecordViewSet


class ApiDocsView(SpectacularSwaggerView):
    is_page = True  # a page for people: anonymous visitors are sent to the sign-in form


router = DefaultRouter()
router.register("ders", DERViewSet, basename="der")
router.register("der-groups", DERGroupViewSet, basename="dergroup")
router.register("feeders", FeederViewSet, basename="feeder")
router.register("audit", AuditRecordViewSet, basename="audit")
router.register("capability-studies", CapabilityStudyViewSet, basename="capabilitystudy")
router.register("alarms", AlarmViewSet, basename="alarm")

urlpatterns = [
    path("", pages.home, name="home"),
    path("login/", login_not_required(account_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/token/", account_views.api_token, name="api_token"),
    path("users/", include("crest_web.accounts.urls")),
    path("audit/", pages.audit_log, name="audit"),
    path("ders/", include("apps.der_registry.urls")),
    path("feeders/", include("apps.dms.urls")),
    path("capability/", include("apps.capability.urls")),
    path("alarms/", include("apps.alarms.urls")),
    path("ems/whatif/", ems_views.whatif_page, name="ems_whatif"),
    path("ems/runs/", ems_run_views.runs_page, name="ems_runs"),
    path("ems/runs/<int:pk>/", ems_run_views.run_detail, name="ems_run_detail"),
    path("ems/runs/<int:pk>/send/", ems_run_views.run_send, name="ems_run_send"),
    path("ems/dsos/", include("apps.ems.urls")),
    path("cycles/", include("apps.cycle.urls")),
    path("training/", include("apps.training.urls")),
    path("api/training/scenarios/", training_api.ScenariosView.as_view(), name="api_training_scenarios"),
    path(
        "api/training/scenarios/<int:pk>/end/",
        training_api.ScenarioEndView.as_view(),
        name="api_training_scenario_end",
    ),
    path("api/cycles/", cycle_api.CyclesView.as_view(), name="api_cycles"),
    path("api/cycles/<int:pk>/", cycle_api.CycleView.as_view(), name="api_cycle"),
    path("api/overview/", cycle_api.OverviewView.as_view(), name="api_overview"),
    path("api/ems/whatif/", ems_views.WhatIfView.as_view(), name="api_ems_whatif"),
    path("api/ems/opf/", ems_api.OpfRunsView.as_view(), name="api_ems_opf"),
    path("api/ems/opf/<int:pk>/", ems_api.OpfRunView.as_view(), name="api_ems_opf_run"),
    path("healthz", health.healthz, name="healthz"),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
