"""The YAML config: frozen pydantic models that reject unknown keys, and a loader whose errors
name the file, the line, the key and the fix. Secrets never live here (see ``accounts add``)."""

from __future__ import annotations

import difflib
import os
import re
import shlex
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from copytui.instruments import INSTRUMENTS

_STRICT = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

SECRET_WORDS = re.compile(r"pass(word)?|secret|token|api[_-]?key|apikey|private[_-]?key|\bsec\b|\bcid_secret\b", re.I)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a config file. ``line`` 0: the file as a whole."""

    line: int
    source: str
    key: str
    text: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return ": ".join(part for part in (where, self.key, self.text) if part)


class ConfigError(Exception):
    """Every problem of a config, one per line, by line number: ``file:line: key: what is wrong; the fix``.
    Each line stands on its own (callers may show only the first)."""

    def __init__(self, problems: str | Problem | Iterable[Problem]) -> None:
        if isinstance(problems, str):
            problems = Problem(0, "", "", problems)
        self.problems = [problems] if isinstance(problems, Problem) else sorted(set(problems))
        self.source = self.problems[0].source if self.problems else ""
        super().__init__("\n".join(map(str, self.problems)))

    def count_line(self) -> str:
        n = len(self.problems)
        return f"{n} problem{'s' if n != 1 else ''}" + (f" in {self.source}" if self.source else "")


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
    """Adapter name: ``paper``, or another installed adapter (see `copytui doctor` for the installed adapters)."""
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
    max_orders_per_minute: int | None = Field(default=600, ge=1)
    """More orders than this to one follower within a minute stop it for the session as a suspected
    feedback loop (flattened, with an alert); null turns the rate check off. A follower is also
    stopped when it is sent more contracts than its rule applied to the leader's can explain."""
    breaker_failures: int = Field(default=5, ge=1, le=100)
    """Consecutive failed orders that open the follower's circuit breaker (an auth failure opens it at once)."""
    breaker_cooldown_s: float = Field(default=30.0, ge=1, le=3600)
    """Seconds before an open breaker lets one probe order through (half-open)."""


class Follow(BaseModel):
    """One leader a follower follows, with its own sizing where it differs from the follower's."""

    model_config = _STRICT

    leader: str
    """The leader's name."""
    multiplier: float | None = Field(default=None, gt=0, le=1000)
    """This leader's quantity x multiplier; null: the follower's own multiplier."""
    fixed_qty: int | None = Field(default=None, ge=1)
    """Hold this many contracts whenever this leader holds a position; null: the follower's own rule."""
    reverse: bool | None = None
    """Trade the opposite side of this leader; null: the follower's own ``reverse``."""

    @property
    def sized(self) -> bool:
        """Whether this leader has sizing of its own."""
        return bool(self.multiplier or self.fixed_qty or self.reverse is not None)

    def text(self) -> str:
        rule = [f"x{self.multiplier:g}" if self.multiplier else "", f"fixed {self.fixed_qty}" if self.fixed_qty else ""]
        rule.append("" if self.reverse is None else "reverse" if self.reverse else "same side")
        return " ".join([self.leader, *(r for r in rule if r)])


def _follow_entries(value: Any) -> Any:
    """``follows: [day-lead, {leader: swing-lead, multiplier: 0.5}]``: a bare name is a leader
    followed with the follower's own rule."""
    if isinstance(value, list):
        return [{"leader": v} if isinstance(v, str) else v for v in value]
    return value


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
    close_only: bool = False
    """Copy only what reduces the follower's position (it winds down): exits and the closing part
    of a reversal go, nothing opens or adds."""
    max_copy_delay_ms: int | None = Field(default=None, ge=1, le=3_600_000)
    """A leader fill older than this when copytui reads it (a reconnect backlog, a restart's catch
    up) does not open or add late unless ``late_entry`` says so; exits are never held back."""
    late_entry: Literal["skip", "market", "limit_at_leader_price"] = "skip"
    """What a late leader fill's opening part becomes: skipped, sent at market anyway, or a limit
    order at the leader's fill price."""
    follows: Annotated[list[Follow], BeforeValidator(_follow_entries)] = Field(default_factory=list)
    """With several leaders: the leaders this follower copies, by name, or as ``{leader: NAME,
    multiplier: 0.5}`` with that leader's own sizing; empty: every leader, with the follower's rule.
    A follower of several leaders targets the sum of each leader's position through that leader's
    rule, so two leaders trading one contract net out instead of fighting (fills mode only)."""
    groups: list[str] = Field(default_factory=list)
    """Groups the follower belongs to (``[apex, eval]``): pause, resume and flatten act on a group
    from the desk (``g``, the palette) and from ``copytui ctl ... @GROUP``."""

    @field_validator("groups")
    @classmethod
    def _group_names(cls, value: list[str]) -> list[str]:
        for g in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", g):
                raise ValueError(f"group {g!r}: use letters, digits, '_', '.' or '-' (at most 40), e.g. apex")
        return list(dict.fromkeys(value))

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
        parts.extend(f"@{g}" for g in self.groups)
        parts.extend(f"[{f.text()}]" for f in self.follows if f.sized)
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


class MarketDataConfig(BaseModel):
    """A market-data source: the market's quote at the moment each leader event is read (slippage
    against the market) and live marks for unrealised P&L. Its token lives in the OS keyring under
    ``name`` (``copytui accounts add NAME --market-data SOURCE``)."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    """Alias of the source, and the keyring key for its token."""
    source: str
    """Installed market-data source: ``dxfeed`` or ``tradovate`` (``copytui doctor`` lists them)."""
    options: dict[str, str | int | float | bool | dict[str, str]] = Field(default_factory=dict)
    """Source-specific, non-secret settings (the dxLink ``url``, ``stale_after_ms``...)."""
    symbols: list[str] = Field(default_factory=list)
    """copytui symbols to subscribe to; empty: every contract copytui knows (a dozen quotes)."""

    @field_validator("symbols")
    @classmethod
    def _known_symbols(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in INSTRUMENTS]
        if unknown:
            raise ValueError(f"unknown symbol {unknown[0]!r}; known: {', '.join(sorted(INSTRUMENTS))}")
        return value


class Config(BaseModel):
    """copytui's whole configuration."""

    model_config = _STRICT

    journal: str | None = None
    """SQLite journal path; default under the XDG data directory."""
    theme: str = "copytui-dark"
    """Desk theme: copytui-dark, copytui-light, copytui-contrast, copytui-cb."""
    leader: AccountConfig
    """The account whose orders are copied (one leader; for several, write ``leaders`` instead)."""
    leaders: list[AccountConfig] = Field(default_factory=list)
    """Several leaders in one copytui, instead of ``leader``: each follower copies those it ``follows``."""
    followers: list[FollowerConfig] = Field(default_factory=list)
    """The accounts that copy the leader(s)."""
    reconcile: ReconcileConfig = Field(default_factory=ReconcileConfig)
    paper: PaperConfig = Field(default_factory=PaperConfig)
    market_data: MarketDataConfig | None = None
    """Optional: a market-data source for slippage against the market and live P&L marks."""

    @model_validator(mode="before")
    @classmethod
    def _leaders_form(cls, data: Any) -> Any:
        """``leaders: [...]`` stands for ``leader`` too (its first entry), so one-leader code reads
        ``config.leader`` either way; writing both is refused."""
        if not isinstance(data, dict) or "leaders" not in data:
            return data
        if "leader" in data:
            raise ValueError(
                "write either `leader:` (one leader) or `leaders:` (a list of several), not both; "
                "move the leader into the leaders list"
            )
        listed = data["leaders"]
        if isinstance(listed, list) and listed and isinstance(listed[0], dict):
            return {**data, "leader": listed[0]}
        return data

    @model_validator(mode="after")
    def _one_account_each(self, info: ValidationInfo) -> Config:
        # parse_config runs these checks itself on the YAML, to say them at the right lines
        if not (info.context or {}).get(_LOCATED):
            data = {
                "leaders": [a.model_dump() for a in self.all_leaders],
                "followers": [f.model_dump() for f in self.followers],
            }
            clashes = account_clashes(data, lambda _loc: None) + follow_problems(self)
            if clashes:
                raise ValueError("; ".join(f"{key_of(loc)}: {text}" for loc, text in clashes))
        return self

    @property
    def all_leaders(self) -> list[AccountConfig]:
        """Every leader, the first being ``leader``."""
        return list(self.leaders) or [self.leader]

    def follows(self, follower: FollowerConfig) -> list[str]:
        """The names of the leaders ``follower`` copies, in the config's order."""
        names = [a.name for a in self.all_leaders]
        wanted = {f.leader for f in follower.follows}
        return [n for n in names if n in wanted] if wanted else names

    def journal_path(self) -> Path:
        return Path(self.journal).expanduser() if self.journal else default_journal_path()


# ------------------------------------------------------------------------- loading
_LOCATED = "copytui.located_checks"  # validation context: parse_config says the cross-entry checks itself

Loc = tuple[str | int, ...]
LineOf = Callable[[Loc], int | None]

_KEYRING_HINT = (
    "secrets do not belong in the config file. Remove it and store it in the OS keyring with "
    "`copytui accounts add NAME --broker B ...` (it prompts for the secret)."
)
_MARKET_KEYRING_HINT = (
    "secrets do not belong in the config file. Remove it and store it in the OS keyring with "
    "`copytui accounts add NAME --market-data SOURCE` (it prompts for the token)."
)


def key_of(loc: Loc) -> str:
    """('followers', 0, 'multiplier') -> 'followers[1].multiplier': entries counted from 1, as a trader counts."""
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _find_secret_keys(node: Any, path: Loc = ()) -> list[Loc]:
    found: list[Loc] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and SECRET_WORDS.search(k):
                found.append((*path, k))
            found.extend(_find_secret_keys(v, (*path, str(k))))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(_find_secret_keys(v, (*path, i)))
    return found


def _line_of(root: yaml.Node | None, loc: Loc) -> int | None:
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


# ------------------------------------------------------------------------- one account, one entry
_SAME_ACCOUNT = ("broker", "environment", "host", "port", "username")


def _entries(data: dict[str, Any]) -> list[tuple[Loc, dict[str, Any]]]:
    found: list[tuple[Loc, dict[str, Any]]] = []
    if isinstance(leaders := data.get("leaders"), list):
        found.extend((("leaders", i), a) for i, a in enumerate(leaders) if isinstance(a, dict))
    elif isinstance(data.get("leader"), dict):
        found.append((("leader",), data["leader"]))
    if isinstance(followers := data.get("followers"), list):
        found.extend((("followers", i), f) for i, f in enumerate(followers) if isinstance(f, dict))
    return found


def _account_of(entry: dict[str, Any]) -> tuple[str, ...] | None:
    """What makes two entries one broker account: the broker, where it connects, who logs in, and the
    account (account_id, else the name: the paper exchange keeps one account per name, and so do the
    adapters). Case-insensitive, as brokers and some file systems (the follower leases) are."""
    account = entry.get("account_id") or entry.get("name")
    if account is None:
        return None

    def norm(value: Any) -> str:
        return "" if value is None else str(value).strip().casefold()

    defaults = AccountConfig.model_fields
    return (*(norm(entry.get(k, defaults[k].default)) for k in _SAME_ACCOUNT), norm(account))


def account_clashes(data: dict[str, Any], line_of: LineOf) -> list[tuple[Loc, str]]:
    """(where, what) for each account name used twice, and each broker account configured twice:
    a follower on the leader's account, or two followers on one account."""

    def key_line(loc: Loc, entry: dict[str, Any]) -> Loc:
        return (*loc, "account_id" if entry.get("account_id") else "name")

    def entry_at(loc: Loc, entry: dict[str, Any]) -> str:
        line = line_of(key_line(loc, entry))
        return f"{entry.get('name')}, line {line}" if line else str(entry.get("name"))

    clashes: list[tuple[Loc, str]] = []
    names: dict[str, tuple[Loc, dict[str, Any]]] = {}
    accounts: dict[tuple[str, ...], tuple[Loc, dict[str, Any]]] = {}
    for loc, entry in _entries(data):
        name = entry.get("name")
        if isinstance(name, str) and name in names:
            first, _ = names[name]
            line = line_of((*first, "name"))
            clashes.append(
                (
                    (*loc, "name"),
                    f"{name!r} is already used by {key_of(first)}{f' (line {line})' if line else ''}; "
                    "every account needs its own name.",
                )
            )
            continue
        if isinstance(name, str):
            names[name] = (loc, entry)
        if (ident := _account_of(entry)) is None:
            continue
        if ident not in accounts:
            accounts[ident] = (loc, entry)
            continue
        first, first_entry = accounts[ident]
        account = f"{entry.get('broker', 'paper')} account {entry.get('account_id') or name!r}"
        if first[0] in ("leader", "leaders") and loc[0] == "leaders":
            why = (
                f"{name} is on {account}, like {key_of(first)} ({entry_at(first, first_entry)}): two leaders on "
                "one account would copy every order twice. Give each leader its own account, or remove one."
            )
        elif first[0] in ("leader", "leaders"):
            why = (
                f"{name} is on {account}, the leader's own account ({entry_at(first, first_entry)}): its copies "
                "would come back as leader orders and be copied again, a feedback loop. Give it an account "
                "of its own (account_id)."
            )
        else:
            why = (
                f"{name} is on {account}, like {key_of(first)} ({entry_at(first, first_entry)}): "
                "two followers on one account would double every order. Give each follower its own "
                "account (account_id), or remove one."
            )
        clashes.append((key_line(loc, entry), why))
    return clashes


def follow_problems(config: Config) -> list[tuple[Loc, str]]:
    """(where, what) for each follower that follows a leader not configured, and each mirror-mode
    follower of more than one leader (mirroring copies one leader's working orders as they are;
    summing several leaders' targets needs fills mode)."""
    names = [a.name for a in config.all_leaders]
    found: list[tuple[Loc, str]] = []
    for i, f in enumerate(config.followers):
        for j, want in enumerate(f.follows):
            if want.leader not in names:
                where, said = ("followers", i, "follows", j), f"{want.leader!r} is not a leader"
                found.append((where, f"{said}; the leaders are {', '.join(names)}."))
        if f.mode == "mirror" and len(config.follows(f)) > 1:
            found.append(
                (
                    ("followers", i, "mode"),
                    f"{f.name} mirrors working orders, which copies one leader as it is; it follows "
                    f"{', '.join(config.follows(f))}. Give it `follows: [{names[0]}]`, or `mode: fills` to "
                    "target the sum of several leaders' positions.",
                )
            )
    return found


# ------------------------------------------------------------------------- field errors, in a trader's words
_FORMATS = {
    "trading_hours": "write HH:MM-HH:MM (24-hour, local time), e.g. 09:30-16:00",
    "name": "use 1 to 40 letters, digits, '.', '_' or '-' (no spaces), e.g. alpha-1",
}
_PLAIN = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number (no decimals)",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": 'must be text; quote it when it looks like a number, e.g. "465"',
    "list_type": "must be a list: one entry per line, each starting with `- `",
}
_BOUNDS = {
    "greater_than": ("gt", "must be more than {}"),
    "greater_than_equal": ("ge", "must be {} or more"),
    "less_than": ("lt", "must be less than {}"),
    "less_than_equal": ("le", "must be {} or less"),
}
_MISSING = {
    "leader": " (e.g. `leader: {name: lead, broker: paper}`)",
    "name": " (e.g. `name: alpha`)",
    "symbol": " (e.g. `symbol: MNQ`)",
}


def _unwrap(tp: Any) -> Any:
    args = [a for a in get_args(tp) if a is not type(None)]
    return args[0] if get_origin(tp) in (Union, types.UnionType) and len(args) == 1 else tp


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The config model that the mapping at ``loc`` is validated as."""
    tp: Any = Config
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if (field := tp.model_fields.get(str(part))) is None:
                return None
            tp = field.annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, int | float) and float(value).is_integer() else str(value)


def _say(kind: str, loc: Loc, ctx: dict[str, Any], msg: str) -> str:
    """A pydantic error as what is wrong and how to write it: no type names, patterns or class names."""
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind in _BOUNDS:
        bound, text = _BOUNDS[kind]
        return text.format(_number(ctx.get(bound)))
    if kind == "missing":
        return f"is missing; add it{_MISSING.get(str(loc[-1]) if loc else '', '')}"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields) if model else [], n=1, cutoff=0.6)
        if close:
            return f"unknown key; did you mean {close[0]}?"
        return "unknown key; remove it, or see config.example.yaml for the keys allowed here"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "one of the values in config.example.yaml"))
        return f"use {expected}" if expected.count("'") == 4 else f"use one of {expected}"
    if kind == "string_pattern_mismatch":
        return _FORMATS.get(
            str(loc[-1]) if loc else "", "is not written the way this key takes; see config.example.yaml"
        )
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        if "symbol_map" in loc:
            return "must be a mapping like `NQ: {symbol: MNQ, factor: 10}`"
        if loc == ("leader",):
            return "must be a mapping of the leader's keys, like `leader: {name: lead, broker: paper}`"
        if len(loc) == 2 and loc[0] == "followers":
            return "must be a mapping of the follower's keys, like `- {name: alpha, broker: paper}`"
        return "must be a mapping: `key: value` lines indented under it (see config.example.yaml)"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    msg = re.sub(r",? or (an )?instance of \w+", "", msg)
    msg = re.sub(r"pattern '.*'", "the form shown in config.example.yaml", msg)
    return msg.replace("Input should be", "must be")


def _field_problems(exc: ValidationError, line_of: LineOf, source: str, skip: Sequence[Loc]) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc, kind, text = tuple(err["loc"]), err["type"], ""
        if any(loc[: len(s)] == s for s in skip):
            continue  # already said: a secret-looking key
        if "options" in loc and len(loc) > (cut := loc.index("options") + 2):
            loc, text = loc[:cut], "must be a plain value: text, a number, or true/false"  # one line, not one per type
        text = text or _say(kind, loc, err.get("ctx") or {}, err["msg"])
        problems.append(Problem(line_of(loc) or 0, source, key_of(loc), text if text[-1] in ".?" else text + "."))
    return problems


def parse_config(text: str, source: str = "<config>") -> Config:
    """The config in ``text``, or ConfigError with every problem found, each at its line."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise ConfigError(
            Problem(line, source, "", f"not valid YAML ({getattr(exc, 'problem', exc)}). Fix the syntax.")
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(Problem(0, source, "", "the config must be a mapping with at least a 'leader' key."))

    def line_of(loc: Loc) -> int | None:
        return _line_of(root, loc)

    secrets = _find_secret_keys(data)
    hint = {"market_data": _MARKET_KEYRING_HINT}
    problems = [
        Problem(line_of(loc) or 0, source, key_of(loc), hint.get(str(loc[0]), _KEYRING_HINT)) for loc in secrets
    ]
    problems += [Problem(line_of(loc) or 0, source, key_of(loc), why) for loc, why in account_clashes(data, line_of)]
    config = None
    # with `leaders:`, `leader` is its first entry: its problems are said once, at leaders[1]
    said = [*secrets, ("leader",)] if "leaders" in data and "leader" not in data else secrets
    try:
        config = Config.model_validate(data, context={_LOCATED: True})
    except ValidationError as exc:
        problems += _field_problems(exc, line_of, source, said)
    if config is not None:
        problems += [Problem(line_of(loc) or 0, source, key_of(loc), why) for loc, why in follow_problems(config)]
    if problems or config is None:
        raise ConfigError(problems)
    return config


def decode_config(raw: bytes, source: str) -> str:
    """The file's bytes as text; ConfigError at the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            Problem(
                line,
                source,
                "",
                f"byte 0x{raw[exc.start]:02X} at column {exc.start - line_start + 1} (byte offset {exc.start}) "
                "is not UTF-8 text. Save the file as UTF-8 (your editor's encoding setting, or "
                "`iconv -f latin1 -t utf-8 OLD > NEW`).",
            )
        ) from None


def load_config(path: str | Path) -> Config:
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            Problem(
                0,
                str(p),
                "",
                "no such config file. Check the path, or start from config.example.yaml "
                f"(`cp config.example.yaml {shlex.quote(str(p))}`).",
            )
        ) from None
    except OSError as exc:
        raise ConfigError(Problem(0, str(p), "", f"cannot be read ({exc.strerror}).")) from None
    return parse_config(decode_config(raw, str(p)), str(p))
