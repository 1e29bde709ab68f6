from django.urls import path

from apps.alarms import performance_views, philosophy_views, views

app_name = "alarms"
urlpatterns = [
    path("", views.alarm_list, name="list"),
    path("settings/", philosophy_views.alarm_settings, name="settings"),
    path("performance/", performance_views.alarm_performance, name="performance"),
    path("acknowledge-all/", views.alarm_acknowledge_all, name="acknowledge_all"),
    path("<int:pk>/acknowledge/", views.alarm_acknowledge, name="acknowledge"),
    path("<int:pk>/shelve/", views.alarm_shelve, name="shelve"),
    path("<int:pk>/unshelve/", views.alarm_unshelve, name="unshelve"),
]
