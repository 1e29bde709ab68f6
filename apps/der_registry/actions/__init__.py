"""Every state change of the DER registry. Each do_* owns the transaction, writes the audit record
and publishes its live event after commit. Views, API, CLI and tasks call these, nothing else.

Split by subject; everything public is importable from here."""

from apps.der_registry.actions._common import RegistryError, refuse
from apps.der_registry.actions.csv_import import do_confirm_csv_import, do_preview_csv_import
from apps.der_registry.actions.enrollment import (
    do_agree_configuration,
    do_create_group,
    do_enroll_der,
    do_replace_der,
    do_set_default_mode,
    do_set_group_lfdi,
    do_transition_der,
    do_update_der,
    new_der,
)
from apps.der_registry.actions.groups import (
    do_cancel_group_control,
    do_issue_group_control,
    do_record_group_response,
    do_set_group_default_mode,
    do_set_group_primacy,
)
from apps.der_registry.actions.sep2 import (
    SEP2_KIND_FIELDS,
    do_note_sep2_edition,
    do_record_sep2_der_state,
    do_record_sep2_log_event,
    do_record_sep2_response,
    do_register_sep2_end_device,
    do_sep2_subscribe,
    do_sep2_unsubscribe,
)
from apps.der_registry.actions.sep2_metering import (
    do_delete_sep2_mirror,
    do_record_sep2_readings,
    do_save_sep2_mirror,
)
from apps.der_registry.actions.telemetry import (
    LABELS,
    MONITORING_RANGES,
    do_issue_setpoint,
    do_prune_history,
    do_record_monitoring,
    do_record_setpoint_delivery,
)

__all__ = [
    "LABELS",
    "MONITORING_RANGES",
    "SEP2_KIND_FIELDS",
    "RegistryError",
    "do_agree_configuration",
    "do_cancel_group_control",
    "do_confirm_csv_import",
    "do_create_group",
    "do_delete_sep2_mirror",
    "do_enroll_der",
    "do_issue_group_control",
    "do_issue_setpoint",
    "do_note_sep2_edition",
    "do_preview_csv_import",
    "do_prune_history",
    "do_record_group_response",
    "do_record_monitoring",
    "do_record_sep2_der_state",
    "do_record_sep2_log_event",
    "do_record_sep2_readings",
    "do_record_sep2_response",
    "do_record_setpoint_delivery",
    "do_register_sep2_end_device",
    "do_replace_der",
    "do_save_sep2_mirror",
    "do_sep2_subscribe",
    "do_sep2_unsubscribe",
    "do_set_default_mode",
    "do_set_group_default_mode",
    "do_set_group_lfdi",
    "do_set_group_primacy",
    "do_transition_der",
    "do_update_der",
    "new_der",
    "refuse",
]
