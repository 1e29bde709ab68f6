"""Celery tasks, one module per pipeline stage. Tasks take ids and call do_* actions."""
