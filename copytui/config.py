"""The YAML config: frozen pydantic models that reject unknown keys, and a loader whose errors
name the file, the line, the key and the fix. Secrets never live here (see ``accounts add``)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from copytui.instruments import INSTRUMENTS

_STRICT = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

SECRET_WORDS = re.compile(r"pass(word)?|secret|token|api[_-]?key|apikey|private[_-]?key|\bsec\b|\bcid_secret\b", re.I)


class ConfigError(Exception):
    """A config problem, said as ``file:line: key: what is wrong. fix``."""


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "copytui"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "copytui"


def default_config_path() -> Path:
    return config_dir() / "config.yaml"


def default_journal_path() -> Path:
    return data_dir() / "journal.sqlite3"


class FaultConfig(BaseModel):
    """Fault injection for paper and simulator accounts (ignored by live brokers)."""

    model_config = _STRICT

    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    """Added one-way-and-back latency on every order request, in milliseconds."""
    reject_rate: float = Field(default=0.0, ge=0, le=1)
    """Probability that the broker rejects an order."""
    partial_fill_prob: float = Field(default=0.0, ge=0, le=1)
    """Probability that a fill covers only part of the order's remaining quantity."""
    drop_stream_prob: float = Field(default=0.0, ge=0, le=1)
    """Probability, per event, that the account's event stream drops and reconnects."""
    duplicate_prob: float = Field(default=0.0, ge=0, le=1)
    """Probability that an event is delivered twice."""
    reorder_prob: float = Field(default=0.0, ge=0, le=1)
    """Probability that an event is held back and delivered after the next one."""


class SymbolMapping(BaseModel):
    model_config = _STRICT

    symbol: str
    """The follower's symbol for this leader symbol (e.g. MNQ for NQ)."""
    factor: float = Field(default=1.0, gt=0)
    """Quantity factor applied on top of the multiplier (NQ -> MNQ is 10)."""

    @field_validator("symbol")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in INSTRUMENTS:
            raise ValueError(f"unknown symbol {v!r}; known: {', '.join(sorted(INSTRUMENTS))}")
        return v


class AccountConfig(BaseModel):
    """A broker account: the leader or a follower. Its secret lives in the OS keyring."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    """Alias used everywhere in copytui, and the keyring key for the account's secret."""
    broker: str = "paper"
    """Adapter name: paper, tradovate, projectx, fix ... (see `copytui doctor`)."""
    account_id: str | None = None
    """The broker's account id or spec; the paper exchange defaults it to the name."""
    username: str | None = None
    """Login name at the broker, when it needs one."""
    environment: Literal["demo", "live", "sim"] = "demo"
    """Which of the broker's environments to connect to."""
    host: str | None = None
    """Override of the broker's host (simulators: 127.0.0.1)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Override of the broker's port (simulators)."""
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Broker-specific, non-secret settings; each adapter documents its own."""
    faults: FaultConfig | None = None
    """Fault injection (paper and simulators only)."""


class RiskConfig(BaseModel):
    """Hard limits per follower. Breaching one is journaled, alerted and shown on the desk."""

    model_config = _STRICT

    max_order: int | None = Field(default=1000, ge=1)
    """An order larger than this is refused (not split), with an alert: a fat-finger guard, on by
    default at 1000 contracts; null turns it off."""
    daily_loss_limit: float | None = Field(default=None, gt=0)
    """Loss since the session's start (realised plus unrealised, in account currency) that flattens
    the follower and stops copying to it for the rest of the session."""
    trading_hours: str | None = Field(default=None, pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    """Local time window "HH:MM-HH:MM" for opening trades; outside it only reducing orders are sent."""
    breaker_failures: int = Field(default=5, ge=1, le=100)
    """Consecutive failed orders that open the follower's circuit breaker (an auth failure opens it at once)."""
    breaker_cooldown_s: float = Field(default=30.0, ge=1, le=3600)
    """Seconds before an open breaker lets one probe order through (half-open)."""


class FollowerConfig(AccountConfig):
    mode: Literal["fills", "mirror"] = "fills"
    """fills: a market order for each leader fill delta. mirror: copy working limit/stop orders too."""
    multiplier: float = Field(default=1.0, gt=0, le=1000)
    """Follower quantity = leader quantity x multiplier (then rounding)."""
    rounding: Literal["nearest", "down", "up"] = "nearest"
    """How a fractional quantity becomes whole contracts: nearest (half away from zero), down, up."""
    fixed_qty: int | None = Field(default=None, ge=1)
    """Hold exactly this many contracts whenever the leader holds a position (overrides multiplier)."""
    min_order_qty: int = Field(default=1, ge=1)
    """Smaller opening deltas are held back until they reach this size (closing is never held)."""
    max_order_qty: int | None = Field(default=None, ge=1)
    """Larger orders are split into pieces of at most this size."""
    max_position: int | None = Field(default=None, ge=1)
    """The follower's absolute position per symbol never exceeds this."""
    symbol_map: dict[str, SymbolMapping] = Field(default_factory=dict)
    """Leader symbol -> follower symbol and quantity factor."""
    reverse: bool = False
    """Trade the opposite side of the leader."""
    enabled: bool = True
    """A disabled follower is connected and reconciled but never sent an order."""
    auto_correct: bool = False
    """Let the reconciler send bounded correction orders when the position drifts."""
    max_correction_qty: int = Field(default=5, ge=1)
    """Largest single correction order the reconciler may send."""
    mirror_unfilled: Literal["market", "cancel", "leave"] = "market"
    """Mirror mode: when the leader's order filled but the follower's copy still works after
    mirror_unfilled_after_s, cancel the copy and send the rest at market (market), only cancel it
    (cancel), or leave it working (leave)."""
    mirror_unfilled_after_s: float = Field(default=5.0, ge=0.5, le=3600)
    """Seconds to give a mirrored copy after the leader's order filled."""
    risk: RiskConfig = Field(default_factory=RiskConfig)
    """Risk guards and circuit breaker."""

    @model_validator(mode="after")
    def _qty_bounds(self) -> FollowerConfig:
        if self.max_order_qty is not None and self.max_order_qty < self.min_order_qty:
            raise ValueError("max_order_qty is below min_order_qty")
        for sym in self.symbol_map:
            if sym not in INSTRUMENTS:
                raise ValueError(f"symbol_map key {sym!r} is not a known symbol")
        if self.reverse and self.mode == "mirror":
            raise ValueError("reverse works with mode fills only (a mirrored limit order cannot be reversed)")
        return self

    def rule_text(self) -> str:
        size = f"fixed {self.fixed_qty}" if self.fixed_qty else f"x{self.multiplier:g}"
        parts = [self.mode, size]
        if self.rounding != "nearest" and not self.fixed_qty:
            parts.append(self.rounding)
        parts.extend(
            f"{k}->{v.symbol}" + (f" x{v.factor:g}" if v.factor != 1 else "") for k, v in self.symbol_map.items()
        )
        if self.reverse:
            parts.append("reverse")
        if self.max_position:
            parts.append(f"max {self.max_position}")
        return " ".join(parts)


class ReconcileConfig(BaseModel):
    model_config = _STRICT

    interval_s: float = Field(default=5.0, ge=1.0, le=3600)
    """Seconds between reconciliation passes (1 at the fastest)."""
    after_fanout: bool = True
    """Also reconcile once the followers' orders for a leader event have settled."""
    min_gap_s: float = Field(default=2.0, ge=0.5, le=3600)
    """Fewest seconds between two passes triggered by fan-outs (REST brokers count every read)."""
    reconnect_quiet_s: float = Field(default=0.3, ge=0.0, le=30)
    """After a leader reconnect, wait until its stream is this quiet before gap recovery."""


class PaperConfig(BaseModel):
    model_config = _STRICT

    seed: int = 7
    """Seed of the price walk and fault injection."""
    tick_interval_s: float = Field(default=0.25, gt=0, le=60)
    """Seconds between price-walk steps."""


class Config(BaseModel):
    """copytui's whole configuration."""

    model_config = _STRICT

    journal: str | None = None
    """SQLite journal path; default under the XDG data directory."""
    theme: str = "copytui-dark"
    """Desk theme: copytui-dark, copytui-light, copytui-contrast, copytui-cb."""
    leader: AccountConfig
    """The account whose orders are copied."""
    followers: list[FollowerConfig] = Field(default_factory=list)
    """The accounts that copy the leader."""
    reconcile: ReconcileConfig = Field(default_factory=ReconcileConfig)
    paper: PaperConfig = Field(default_factory=PaperConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        names = [self.leader.name] + [f.name for f in self.followers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"account names must be unique; repeated: {', '.join(dupes)}")
        return self

    def journal_path(self) -> Path:
        return Path(self.journal).expanduser() if self.journal else default_journal_path()


# ------------------------------------------------------------------------- loading
def _find_secret_keys(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and SECRET_WORDS.search(k):
                found.append((*path, k))
            found.extend(_find_secret_keys(v, (*path, str(k))))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(_find_secret_keys(v, (*path, str(i))))
    return found


def _line_of(root: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _fix_for(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "remove it or check its spelling against config.example.yaml"
    if kind == "missing":
        return "add it (see config.example.yaml)"
    if kind.startswith("literal"):
        return f"use one of {err.get('ctx', {}).get('expected', 'the listed values')}"
    return "see config.example.yaml for the allowed values"


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}). Fix the syntax.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping with at least a 'leader' key.")
    secrets = _find_secret_keys(data)
    if secrets:
        key = ".".join(secrets[0])
        line = _line_of(root, tuple(int(p) if p.isdigit() else p for p in secrets[0]))
        raise ConfigError(
            f"{source}:{line}: {key}: secrets do not belong in the config file. Remove it and store it in "
            "the OS keyring with `copytui accounts add NAME --broker B ...` (it prompts for the secret)."
        )
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_of(root, loc)
            lines.append(f"{source}:{line}: {key}: {err['msg']}. Fix: {_fix_for(err)}.")
        raise ConfigError("\n".join(lines)) from None


def load_config(path: str | Path) -> Config:
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file. Copy config.example.yaml there or pass --config.") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.strerror}).") from None
    return parse_config(text, str(p))
