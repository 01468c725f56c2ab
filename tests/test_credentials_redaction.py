"""Redaction of secrets by the shape of the text they sit in: any key that names a secret, in
JSON, a dict repr, key=value text, YAML lines and HTTP headers, whatever broker wrote it. No
keyring needed: these values were never remembered."""

from __future__ import annotations

import pytest

from copytui.credentials import redact

MASKED = [  # (text, what must be gone, what must stay)
    ('{"name": "bob", "password": "p w,d", "appId": "x", "cid": 8, "sec": "S3C-abc"}',
     ["p w,d", "S3C-abc"], ['"name": "bob"', '"appId": "x"', '"cid": 8']),
    ("request body {'password': 'short1', \"apiKey\": \"k-77\"} token=abc123", ["short1", "k-77", "abc123"], []),
    ('{"userName": "u", "loginKey": "LK-1", "client_secret": "CS-2"}', ["LK-1", "CS-2"], ['"userName": "u"']),
    ("GET /auth?md_access_token=MDT-1&x=2", ["MDT-1"], ["x=2"]),
    ("accessToken=AT-9 expirationTime=2026", ["AT-9"], ["expirationTime=2026"]),
    ("X-Api-Key: HK-1\nHost: 127.0.0.1", ["HK-1"], ["Host: 127.0.0.1"]),
    ("accounts:\n  - name: a\n    password: y-pw\n    api_key: 'q k'\n", ["y-pw", "q k"], ["name: a"]),
    ("sec=SEC1 PRIVATE_KEY='-----BEGIN x-----' passphrase=\"p\\\"q\"", ["SEC1", "BEGIN", 'p\\"q'], []),
    ("Authorization: Bearer abcdef123456", ["abcdef123456"], ["Authorization: Bearer"]),
]  # fmt: skip

KEPT = [  # ordinary text that only looks a little like a secret
    "timeout_sec=5 keys=3 monkey=banana",
    "keyring backend keyring.backends.SecretService.Keyring (priority 5)",
    "config.yaml:4: accounts.0.options.api_key: unknown option; did you mean x",
    "  auth:      ok",
    "password=",
]


@pytest.mark.parametrize(("text", "gone", "kept"), MASKED)
def test_values_of_secret_keys_are_masked(text: str, gone: list[str], kept: list[str]) -> None:
    out = redact(text)
    assert "***" in out
    for value in gone:
        assert value not in out
    for value in kept:
        assert value in out


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text
