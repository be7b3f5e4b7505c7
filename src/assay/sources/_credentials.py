"""Credentials for sources and sinks: ``${VAR}`` in URIs, a ``.env`` file, and masking of secrets in messages.

A URI may name its password as ``postgresql://bob:${PGPASS}@db/sales``; the variable is looked up in the process
environment, then in a ``.env`` file in the working directory (python-dotenv, never overriding the environment).
Every secret seen while resolving a URI is remembered so that :func:`mask_text` can hide it in any later log line or
error, even when a driver repeats it in its own message.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from assay.exceptions import SourceError

__all__ = [
    "MaskingFilter",
    "expand_env",
    "load_dotenv_file",
    "mask_text",
    "masked_logger",
    "remember_secret",
    "resolve_uri",
]

_SECRETS: set[str] = set()
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# user:password@ inside any URI-looking text, so a driver's message that repeats a DSN is masked too.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<tail>@)")
_KEYVALUE = re.compile(r"(?i)\b(password|pwd|passwd|token|api_key|apikey)=([^;&\s]+)")
_dotenv_loaded: dict[str, str] | None = None


def load_dotenv_file(path: str | os.PathLike[str] = ".env") -> dict[str, str]:
    """Values of a ``.env`` file (empty when there is none); read once per process for the default path."""
    global _dotenv_loaded
    default = str(path) == ".env"
    if default and _dotenv_loaded is not None:
        return _dotenv_loaded
    values: dict[str, str] = {}
    if Path(path).is_file():
        from dotenv import dotenv_values  # python-dotenv parses quoting and comments the way users expect

        values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    if default:
        _dotenv_loaded = values
    return values


def remember_secret(secret: str | None) -> None:
    """Add a secret to the set that :func:`mask_text` hides (short strings are ignored to keep messages readable)."""
    if secret and len(secret) >= 3:
        _SECRETS.add(secret)
        _SECRETS.add(quote(secret, safe=""))


def expand_env(text: str, *, what: str = "URI") -> str:
    """Replace ``${VAR}`` by the environment (then ``.env``) value; an unset variable is an error naming it.

    >>> os.environ["ASSAY_DOCTEST_PW"] = "s3cret"
    >>> expand_env("postgresql://bob:${ASSAY_DOCTEST_PW}@db/x")
    'postgresql://bob:s3cret@db/x'
    """

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        value = os.environ.get(name)
        if value is None:
            value = load_dotenv_file().get(name)
        if value is None:
            msg = f"environment variable {name} used in the {what} is not set; export it or add it to .env"
            raise SourceError(msg)
        remember_secret(value)
        return quote(value, safe="") if "PASS" in name.upper() or "TOKEN" in name.upper() else value

    return _VAR.sub(sub, text)


def resolve_uri(uri: str) -> str:
    """Expand ``${VAR}`` in ``uri`` and remember its password for masking; returns the usable URI."""
    resolved = expand_env(uri)
    try:
        password = urlsplit(resolved).password
    except ValueError:
        password = None
    if password:
        remember_secret(unquote(password))
        remember_secret(password)
    return resolved


def mask_text(text: str) -> str:
    """Hide every known secret and every ``user:password@`` or ``password=…`` in ``text``.

    >>> mask_text("could not connect to postgresql://bob:hunter2@db/x")
    'could not connect to postgresql://bob:***@db/x'
    >>> mask_text("DSN=pg;UID=bob;PWD=hunter2")
    'DSN=pg;UID=bob;PWD=***'
    """
    text = _USERINFO.sub(lambda m: f"{m.group('head')}***{m.group('tail')}", text)
    text = _KEYVALUE.sub(lambda m: f"{m.group(1)}=***", text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in every record of the logger it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        return True


def masked_logger(name: str) -> logging.Logger:
    """The logger ``name`` with :class:`MaskingFilter` attached (filters do not propagate to child loggers)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, MaskingFilter) for f in logger.filters):
        logger.addFilter(MaskingFilter())
    return logger
