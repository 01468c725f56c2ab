"""Run by tests/run.sh inside its private D-Bus session, before pytest: wait until the unlocked
gnome-keyring it started owns the Secret Service name, then store, read and delete one entry.

Without the wait, a keyring call made before that daemon registered makes D-Bus start a second,
locked daemon of its own, which tries to ask for a password on a screen that does not exist
("Prompt dismissed"): that was the first run on a fresh machine failing 41 keyring tests."""

from __future__ import annotations

import secrets
import sys
import time

SECRET_SERVICE = "org.freedesktop.secrets"


def _owned() -> bool:
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus="SESSION") as conn:
        reply = conn.send_and_get_reply(message_bus.NameHasOwner(SECRET_SERVICE), timeout=2)
    return bool(reply.body[0])


def main(timeout_s: float = 20.0) -> int:
    deadline = time.monotonic() + timeout_s
    while not _owned():
        if time.monotonic() > deadline:
            print(f"tests/run.sh: no Secret Service owns {SECRET_SERVICE} after {timeout_s:g}s", file=sys.stderr)
            return 1
        time.sleep(0.05)
    import keyring

    entry = f"copytui-ready-{secrets.token_hex(4)}"
    try:
        keyring.set_password("copytui", entry, "ready")
        ok = keyring.get_password("copytui", entry) == "ready"
        keyring.delete_password("copytui", entry)
    except Exception as exc:  # any failure: the keyring tests cannot run, say why
        print(f"tests/run.sh: the test keyring does not work: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not ok:
        print("tests/run.sh: the test keyring did not return what was stored", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
