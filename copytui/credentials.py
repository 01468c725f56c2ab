"""Broker secrets in the OS keyring, and redaction so that none of them reaches a log line, an
error message or the terminal.

Keyring layout (service ``copytui``): an account's first secret (the first of the broker's
``AdapterSpec.secrets``) is stored under the account name itself, each further one under
``NAME:FIELD``. An account ``alpha`` of a broker that declares a password and an API key therefore
has ``alpha`` (password) and ``alpha:api_key``. Adapters receive ``AdapterContext.secret``, built
by ``make_lookup``, and ask for ``"alpha"``, ``"alpha:password"`` or ``"alpha:api_key"``; the
answer is ``None`` when nothing is stored.

keyring calls block (D-Bus round trips): call them from a thread when on the event loop.
"""

from __future__ import annotations

import logging
import re
import secrets as _random
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from adapters.base import UNDECLARED_SECRETS, SecretField

SERVICE = "copytui"
MIN_REDACT_LEN = 4
"""Shorter strings are not redacted as literals (they would blank ordinary words); a real
password is longer, and the key=value patterns below still catch short ones."""
MASK = "***"

log = logging.getLogger(__name__)


DEFAULT_SECRETS = UNDECLARED_SECRETS
"""For a broker that is not installed, or that registered a bare factory without declarations."""


def secret_fields(broker: str) -> tuple[SecretField, ...]:
    """What an account of ``broker`` keeps in the keyring, as the broker's package declares it
    (``AdapterSpec.secrets``); a broker that is not installed gets one optional password."""
    from copytui import registry

    found = registry.specs().get(broker)
    return DEFAULT_SECRETS if found is None else found.secrets


def entry_name(account: str, broker: str, field: str) -> str:
    """The keyring username holding ``field`` of ``account``."""
    fields = secret_fields(broker)
    if fields and fields[0].field == field:
        return account
    return f"{account}:{field}"


def entry_names(account: str, broker: str) -> list[tuple[SecretField, str]]:
    return [(f, entry_name(account, broker, f.field)) for f in secret_fields(broker)]


def market_entry_names(name: str, source: str) -> list[tuple[SecretField, str]]:
    """The keyring entries of market-data source ``name``'s secrets (its ``MarketDataSpec.secrets``).
    Each is where an account ``name`` of broker ``source`` keeps that field (``entry_name``), so the
    brokers' lookup, ``make_lookup`` given ``name`` with broker ``source``, reads ``NAME:FIELD``."""
    from copytui import registry

    found = registry.market_specs().get(source)
    return [(f, entry_name(name, source, f.field)) for f in (found.secrets if found else ())]


# ------------------------------------------------------------------------- errors
HEADLESS_FIX = """\
on a desktop: log in to the desktop session; its keyring (GNOME Keyring, KWallet) unlocks at login.
on a headless box over SSH (Debian/Ubuntu):
  sudo apt-get install -y gnome-keyring dbus
  dbus-run-session -- bash                 # a D-Bus session for this shell and what it starts
  read -rs KPASS; eval "$(printf %s "$KPASS" | gnome-keyring-daemon --unlock --components=secrets)"; unset KPASS
  export GNOME_KEYRING_CONTROL             # what the daemon printed
  copytui doctor                           # then start tmux / copytui from this same shell
(the first unlock creates the keyring with that password; use the same one every login)"""


class NoKeyringError(RuntimeError):
    """No usable OS keyring. ``str()`` is one line; ``fix`` says how to get one."""

    def __init__(self, why: str) -> None:
        super().__init__(f"no usable OS keyring: {redact(why)}. copytui keeps broker secrets only there.")
        self.fix = HEADLESS_FIX


def backend_name() -> str:
    import keyring

    kr = keyring.get_keyring()
    return f"{type(kr).__module__}.{type(kr).__name__}"


def require_backend() -> None:
    """Raise NoKeyringError unless a secure keyring backend is configured (does not touch it)."""
    import keyring
    from keyring.backends import chainer, fail

    kr = keyring.get_keyring()
    if isinstance(kr, fail.Keyring):
        raise NoKeyringError("keyring found no backend (no D-Bus session with a Secret Service?)")
    if isinstance(kr, chainer.ChainerBackend) and not kr.backends:
        raise NoKeyringError("keyring found no backend (no D-Bus session with a Secret Service?)")
    try:
        priority = float(kr.priority)
    except Exception:  # a backend's priority property may raise when unusable
        priority = 0.0
    if priority < 1:
        raise NoKeyringError(f"keyring backend {backend_name()} is not a secure store (priority {priority:g})")


def _call(fn: Callable[..., Any], *args: str) -> Any:
    """Run a keyring call and turn every failure into a NoKeyringError whose text is redacted."""
    from keyring.errors import KeyringLocked, PasswordDeleteError
    from keyring.errors import NoKeyringError as _KrNone

    locked = "the keyring is locked, or has no collection yet, and no unlock prompt can be shown here"
    try:
        return fn(*args)
    except PasswordDeleteError:
        raise
    except KeyringLocked:
        raise NoKeyringError(locked) from None
    except _KrNone as exc:
        raise NoKeyringError(f"keyring found no backend ({exc.__class__.__name__})") from None
    except Exception as exc:  # D-Bus/secretstorage failures come in many types
        text = str(exc).rstrip(". ")
        if "prompt dismissed" in text.lower() or "unlock" in text.lower():
            raise NoKeyringError(f"{locked} ({text})") from None
        raise NoKeyringError(f"{type(exc).__name__}: {text}") from None


def get_secret(entry: str) -> str | None:
    import keyring

    value: str | None = _call(keyring.get_password, SERVICE, entry)
    if value:
        remember(value)
    return value


def set_secret(entry: str, value: str) -> None:
    import keyring

    remember(value)
    _call(keyring.set_password, SERVICE, entry, value)


def delete_secret(entry: str) -> bool:
    """Delete an entry; False when there was none."""
    import keyring
    from keyring.errors import PasswordDeleteError

    try:
        _call(keyring.delete_password, SERVICE, entry)
    except PasswordDeleteError:
        return False
    return True


def apply_changes(changes: Mapping[str, str | None]) -> Callable[[], None]:
    """Set (str) or delete (None) keyring entries. All or nothing: on a failure the entries already
    changed are restored and the error raised. Returns an undo for the caller's own later failure."""
    previous: dict[str, str | None] = {}

    def undo() -> None:
        for entry, old in previous.items():
            try:
                if old is None:
                    delete_secret(entry)
                else:
                    set_secret(entry, old)
            except NoKeyringError as exc:
                log.error("could not restore keyring entry %s: %s", entry, exc)

    try:
        for entry, value in changes.items():
            old = get_secret(entry)
            if value is None and old is None:
                continue
            previous[entry] = old
            if value is None:
                delete_secret(entry)
            else:
                set_secret(entry, value)
    except NoKeyringError:
        undo()
        raise
    return undo


def probe(timeout_s: float = 10.0) -> str:
    """Write, read back and delete a throwaway entry. Returns the backend name; raises NoKeyringError.
    Runs in a thread with a deadline: a keyring waiting on an unlock prompt nobody sees must not hang."""
    require_backend()
    entry = f"copytui-doctor-probe-{_random.token_hex(4)}"
    token = _random.token_hex(8)
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            set_secret(entry, token)
            got = get_secret(entry)
            delete_secret(entry)
            outcome.append(None if got == token else NoKeyringError("a value written was not read back"))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    t = threading.Thread(target=work, name="keyring-probe", daemon=True)
    t.start()
    t.join(timeout_s)
    if not outcome:
        raise NoKeyringError(f"the keyring did not answer within {timeout_s:g}s (waiting for an unlock prompt?)")
    if outcome[0] is not None:
        raise outcome[0]
    return backend_name()


def make_lookup(accounts: Iterable[Any]) -> Callable[[str], str | None]:
    """``AdapterContext.secret`` for these accounts (objects with ``.name`` and ``.broker``): resolves
    ``NAME`` and ``NAME:FIELD`` to keyring entries, reading the keyring on each call."""
    brokers = {a.name: a.broker for a in accounts}
    warned: set[str] = set()

    def lookup(key: str) -> str | None:
        name, _, field = key.partition(":")
        broker = brokers.get(name)
        if broker is None:
            if key not in warned:
                warned.add(key)
                log.warning("an adapter asked for secret %r, which names no configured account; "
                            "adapters ask for 'NAME' or 'NAME:FIELD' (the context is shared)", key)  # fmt: skip
            return None
        entry = entry_name(name, broker, field) if field else name
        try:
            return get_secret(entry)
        except NoKeyringError as exc:
            if name not in warned:
                warned.add(name)
                log.warning("secret for account %s unavailable: %s Run `copytui doctor`.", name, exc)
            return None

    return lookup


# ------------------------------------------------------------------------- redaction
_known: set[str] = set()
_known_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None

# A key names a secret when its last word is one of these (any case): ``password``, ``api_key``,
# ``X-Api-Key``, ``md_access_token``, ``clientSecret``, ``privateKey``. ``sec`` (an API secret) only
# as the whole key: after another word it is usually seconds (``timeout_sec``).
_SENSITIVE_WORDS = "password|passwd|passphrase|pass|pwd|secret|token|apikey|key|credentials|credential"
_CAMEL_WORDS = "Password|Passwd|Passphrase|Pass|Pwd|Secret|Token|ApiKey|Apikey|Key|Credentials|Credential"
_SENSITIVE_KEY = rf"""
    (?<![A-Za-z0-9_.-])                                      # the key starts here, not inside a longer word
    (?: (?i:sec)                                             # the whole key: "sec"
      | (?:[A-Za-z0-9]+[_.-])*(?i:{_SENSITIVE_WORDS})        # words joined by _ . -: md_access_token, X-Api-Key
      | [A-Za-z][A-Za-z0-9]*?(?:{_CAMEL_WORDS})              # camelCase: apiKey, clientSecret, AccessToken
    )
    (?![A-Za-z0-9_])                                         # ... and ends here
"""
_VALUE = r"""
    (?: (?P<quote>["'])(?P<quoted>(?:\\.|(?!(?P=quote))[^\\\n])*)(?P<close>(?P=quote))?   # "quoted", to its end
      | (?P<bare>[^"'\s,&;{}\[\]]+) )                                                      # or one bare token
"""
_KEY_VALUE = re.compile(
    rf"""(?xm)
    (?P<head>
        {_SENSITIVE_KEY}\s*=\s*                                # key=value: query strings, env, log text
      | (?P<q>["']){_SENSITIVE_KEY}(?P=q)\s*:\s*               # JSON or a dict repr: "password": "..."
      | ^[ \t]*(?:-[ \t]+)?{_SENSITIVE_KEY}[ \t]*:[ \t]+       # a YAML line or an HTTP header: "password: ..."
    )
    {_VALUE}
    """
)


def _mask_value(m: re.Match[str]) -> str:
    if m["bare"] is not None:
        return m["head"] + MASK
    return m["head"] + m["quote"] + MASK + (m["close"] or "")


_BEARER = re.compile(r"(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{6,})")


def remember(secret: str) -> None:
    """Register a secret so that ``redact`` and the log filter blank it wherever it appears."""
    global _pattern
    if not secret or len(secret) < MIN_REDACT_LEN:
        return
    with _known_lock:
        if secret in _known:
            return
        _known.add(secret)
        alternatives = sorted(_known, key=len, reverse=True)  # longest first: no partial leftovers
        _pattern = re.compile("|".join(re.escape(s) for s in alternatives))


def redact(text: str) -> str:
    """``text`` with every remembered secret and every ``password=...``-like value masked."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _KEY_VALUE.sub(_mask_value, text)
    return _BEARER.sub(lambda m: m.group(1) + MASK, text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback text; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


_REDACTED = "_copytui_redacted"
"""Marks a record already redacted: the record factory and the handlers' filter both see it."""


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    if record.__dict__.get(_REDACTED, False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the record
        message = f"{record.msg!r} {record.args!r}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record.__dict__[_REDACTED] = True  # a LogRecord keeps its attributes there
    return record


_installed = False


def install_log_redaction() -> None:
    """Redact every log record: a filter on the root handlers, and a record factory so that
    handlers added later (the desk's, a file handler) get redacted records too. Idempotent."""
    global _installed
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    if _installed:
        return
    _installed = True
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redact_record(base(*args, **kwargs))

    logging.setLogRecordFactory(factory)
