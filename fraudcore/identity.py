"""Who is acting: the one name recorded for a person in the champion log and in the deploy history.

Both records must name the same person the same way, so there is one rule: the name given
explicitly, else `METAFLOW_USER` (the name Metaflow records on the runs), else the login name
(`getpass.getuser`: LOGNAME, USER, LNAME, USERNAME, then the password database).
"""
from __future__ import annotations

import getpass
import os


def who(user: str | None = None) -> str:
    """The acting person's name (rule in the module docstring)."""
    return user or os.environ.get("METAFLOW_USER") or getpass.getuser()
