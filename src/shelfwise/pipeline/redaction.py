"""Passwords out of error messages: drivers quote the connection they failed to open
(`password='…'` from libpq, `passwd=…` from MySQL, whole URLs from others), and a run's
errors are printed, stored in the run log and shown by `pipeline status` and the website."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

MASK = "***"

# user:password@ in a URL
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^\s:/@]*:)([^\s@/]+)(@)")
# password=… in a connection string, quoted or not
_KEY_PASSWORD = re.compile(
    r"""\b(password|passwd|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'",;)]+)""",
    re.IGNORECASE,
)
# a password shorter than this is masked only where a pattern above finds it: replacing it
# wherever it occurs would garble the message
_LITERAL_MINIMUM = 4


def url_password(url: str | None) -> str | None:
    """The password in `url` (decoded), or None."""
    if not url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def redact(text: str, urls: Iterable[str | None] = ()) -> str:
    """`text` with every password masked: those a URL or connection string in it shows, and
    those of `urls` (the configured connections) wherever they appear."""
    text = _URL_PASSWORD.sub(rf"\1{MASK}\3", text)
    text = _KEY_PASSWORD.sub(rf"\1\2{MASK}", text)
    for url in urls:
        password = url_password(url)
        if password and len(password) >= _LITERAL_MINIMUM:
            text = text.replace(password, MASK)
    return text
