"""The three roles and what each may do. docs/permissions.md is this table in prose; keep them in step."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission

OPERATOR = "operator"
PLANNER = "planner"
ADMIN = "admin"
ROLES = (OPERATOR, PLANNER, ADMIN)

_READ_REGISTRY = [
    "der_registry.view_der",
    "der_registry.view_dergroup",
    "der_registry.view_monitoringsample",
    "der_registry.view_setpoint",
    "dms.view_feeder",
    "capability.view_capabilitystudy",
    "alarms.view_alarm",
    "ems.view_opfrun",
    "cycle.view_cycle",
]

PERMISSIONS: dict[str, list[str]] = {
    OPERATOR: [
        *_READ_REGISTRY,
        "der_registry.record_monitoring",
        "dms.record_head_measurement",
        "der_registry.issue_setpoint",
        "alarms.acknowledge_alarm",
        "alarms.shelve_alarm",
        "ems.add_opfrun",
        "ems.change_dsomessage",
        "cycle.run_cycle",
        "dms.approve_dispatch",
    ],
    PLANNER: [*_READ_REGISTRY, "capability.run_study"],
    ADMIN: [
        *_READ_REGISTRY,
        "der_registry.add_der",
        "der_registry.change_der",
        "der_registry.approve_der",
        "der_registry.import_der",
        "der_registry.add_dergroup",
        "der_registry.change_dergroup",
        "der_registry.record_monitoring",
        "dms.record_head_measurement",
        "der_registry.issue_setpoint",
        "capability.run_study",
        "alarms.acknowledge_alarm",
        "alarms.shelve_alarm",
        "alarms.configure_alarms",
        "dms.add_feeder",
        "dms.change_feeder",
        "ems.add_opfrun",
        "ems.change_dsomessage",
        "ems.view_dsoendpoint",
        "ems.add_dsoendpoint",
        "ems.change_dsoendpoint",
        "ems.delete_dsoendpoint",
        "cycle.run_cycle",
        "cycle.control_cycles",
        "training.run_scenario",
        "dms.approve_dispatch",
        "accounts.view_auditrecord",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.add_periodictask",
        "django_celery_beat.view_intervalschedule",
        "django_celery_beat.add_intervalschedule",
        "django_celery_beat.view_crontabschedule",
        "django_celery_beat.add_crontabschedule",
    ],
}


def ensure_roles() -> None:
    """Create the groups and set their permissions to exactly the matrix above."""
    for role, codes in PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for code in codes:
            app_label, codename = code.split(".")
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:  # an app not migrated yet; the next post_migrate completes it
                wanted.append(perm)
        group.permissions.set(wanted)


def highest_role(group_names: Iterable[str]) -> str:
    """The highest role among these group names ('admin' > 'planner' > 'operator'), or ''."""
    names = set(group_names)
    for role in (ADMIN, PLANNER, OPERATOR):
        if role in names:
            return role
    return ""


def role_of(user: object) -> str:
    """The highest role a user holds ('admin' > 'planner' > 'operator'), or '' for none."""
    return highest_role(getattr(user, "groups").values_list("name", flat=True))  # noqa: B009


def has_role(user: object) -> bool:
    """Whether a signed-in person may see anything: a superuser, or someone with a role."""
    return bool(getattr(user, "is_superuser", False)) or role_of(user) != ""
