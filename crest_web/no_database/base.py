"""Django's dummy backend, refusing every use with a sentence an operator can act on."""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.db.backends.dummy import base as dummy
from django.db.backends.dummy.features import DummyDatabaseFeatures

from crest_web.env import missing_service_message


class DatabaseNotConfigured(CommandError, ImproperlyConfigured):
    """A command reached for the database in a process started without DATABASE_URL.

    A CommandError, so `manage.py` prints the sentence instead of a traceback."""


def refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise DatabaseNotConfigured(
        "This command needs the database, and " + missing_service_message("DATABASE_URL")
    )


class DatabaseFeatures(DummyDatabaseFeatures):
    # What the model checks ask of PostgreSQL, so commands start without warnings about the stand-in.
    supports_covering_indexes = True
    supports_deferrable_unique_constraints = True


class DatabaseOperations(dummy.DatabaseOperations):
    quote_name = refuse


class DatabaseClient(dummy.DatabaseClient):
    runshell = refuse


class DatabaseIntrospection(dummy.DatabaseIntrospection):
    get_table_list = refuse
    get_table_description = refuse
    get_relations = refuse
    get_indexes = refuse


class DatabaseWrapper(dummy.DatabaseWrapper):
    _cursor = refuse
    ensure_connection = refuse
    _commit = refuse
    _savepoint_commit = refuse
    _set_autocommit = refuse
    client_class = DatabaseClient
    features_class = DatabaseFeatures
    introspection_class = DatabaseIntrospection
    ops_class = DatabaseOperations
