"""The database `manage.py` gets when DATABASE_URL is not set (crest_web/settings.py).

Commands that work on a file or a standard case need no database (DESIGN §7) and start without
one; a command that does reach for the database stops there with one sentence saying so.
"""
