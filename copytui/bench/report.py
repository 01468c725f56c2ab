"""The benchmark's output: targets met or missed, a rich table, and JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from copytui.bench.runner import Result

# (scenario, followers or None for any, metric path, limit, label)
_LATENCY_TARGETS: tuple[tuple[str, int | None, tuple[str, str], float, str], ...] = (
    ("overhead", 20, ("internal_ms", "p50"), 1.0, "20 followers p50 < 1 ms"),
    ("overhead", 20, ("internal_ms", "p99"), 5.0, "20 followers p99 < 5 ms"),
    ("overhead", 100, ("internal_ms", "p99"), 20.0, "100 followers p99 < 20 ms"),
    ("e2e", None, ("e2e_ms", "p99"), 80.0, "e2e, 50 ms broker latency, p99 < 80 ms"),
)
DESK_LIMIT = 1.2
MARKET_LIMIT = 1.2
"""Market data beside the copy path: no more than noise (the desk's budget, the same machine)."""
ADAPTER_LIMIT = 1.5  # each adapter's overhead within 1.5x paper's, p50 and p99
NAIVE_P50_LIMIT = 0.35  # paper's p50 at most 0.35x the naive copier's
BURST_LIMIT = 1.2  # a burst drained within 1.2x its own duration


def ratios(res: Result) -> list[dict[str, Any]]:
    """Each adapter's overhead over paper's and over the wire's floor, per follower count."""
    out: list[dict[str, Any]] = []
    for s in res.scenarios:
        if s["name"] != "overhead" or not s.get("internal_ms"):
            continue
        n, mine = s["followers"], s["internal_ms"]
        paper = (res.find("overhead", "paper", n) or {}).get("internal_ms") or {}
        wire = (res.find("floor", "wire", n) or {}).get("internal_ms") or {}
        row: dict[str, Any] = {"adapter": s["adapter"], "followers": n, "p50": mine["p50"], "p99": mine["p99"]}
        for base, figures in (("paper", paper), ("floor", wire)):
            for q in ("p50", "p99"):
                row[f"{q}_vs_{base}"] = _ratio(mine[q], figures.get(q))
        out.append(row)
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


def targets(res: Result) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, followers, (group, key), limit, label in _LATENCY_TARGETS:
        for s in res.scenarios:
            if s["name"] != name or (followers is not None and s["followers"] != followers):
                continue
            value = (s.get(group) or {}).get(key)
            met = None if value is None else value < limit
            out.append(
                {"target": label, "adapter": s["adapter"], "followers": s["followers"], "value": value, "met": met}
            )
    for r in ratios(res):
        if r["adapter"] == "paper" or r["followers"] not in (20, 100):
            continue
        for q in ("p50", "p99"):
            value = r[f"{q}_vs_paper"]
            out.append(
                {
                    "target": f"{r['followers']} followers {q} within {ADAPTER_LIMIT:g}x paper",
                    "adapter": r["adapter"],
                    "followers": r["followers"],
                    "value": value,
                    "met": None if value is None else value <= ADAPTER_LIMIT,
                }
            )
    if res.baseline_p50_ratio is not None:
        out.append(
            {
                "target": f"paper p50 at most {NAIVE_P50_LIMIT:g}x the naive copier's",
                "adapter": "paper",
                "value": res.baseline_p50_ratio,
                "met": res.baseline_p50_ratio <= NAIVE_P50_LIMIT,
            }
        )
    if "desk" in res.plan.only:
        r = res.tui_p99_ratio
        out.append(
            {
                "target": "desk overhead at p99 <= 20%",
                "adapter": "paper",
                "value": r,
                "met": None if r is None else r <= DESK_LIMIT,
            }
        )
    if "market" in res.plan.only:
        r = res.market_p99_ratio
        out.append(
            {
                "target": f"market data does not slow the copy path (p99 <= {MARKET_LIMIT:g}x without)",
                "adapter": "paper",
                "value": r,
                "met": None if r is None else r <= MARKET_LIMIT,
            }
        )
    for s in res.scenarios:
        if s["name"] == "burst":
            out.append(
                {
                    "target": f"burst of {s['events']}: 0 lost",
                    "adapter": s["adapter"],
                    "followers": s["followers"],
                    "value": s["lost"],
                    "met": s["lost"] == 0,
                }
            )
            took = (s["sent_s"] + s["drain_s"]) / s["sent_s"] if s.get("sent_s") else None
            out.append(
                {
                    "target": f"burst drained within {BURST_LIMIT:g}x its duration",
                    "adapter": s["adapter"],
                    "followers": s["followers"],
                    "value": None if took is None else round(took, 2),
                    "met": None if took is None else took <= BURST_LIMIT,
                }
            )
    return out


def to_json(res: Result) -> str:
    return json.dumps(res.to_json(), indent=2)


def _ms(d: dict[str, Any] | None, key: str) -> str:
    return "-" if not d or d.get(key) is None else f"{d[key]:.3f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _verdict(met: bool | None) -> str:
    return "[dim]n/a[/]" if met is None else ("[green]met[/]" if met else "[bold red]MISSED[/]")


def render(res: Result, console: Console) -> None:
    t = Table(title="copytui bench" + (" --quick" if res.plan.quick else ""), title_justify="left")
    for col in ("scenario", "adapter", "followers", "n"):
        t.add_column(col, justify="right" if col in ("followers", "n") else "left")
    for col in ("p50 ms", "p90 ms", "p99 ms", "max ms", "e2e p50", "e2e p99"):
        t.add_column(col, justify="right")
    t.add_column("notes")
    for s in res.scenarios:
        i, e = s.get("internal_ms"), s.get("e2e_ms")
        notes = []
        if s.get("broker_latency_ms"):
            notes.append(f"broker {s['broker_latency_ms']:g} ms")
        if s["name"] == "burst":
            notes.append(f"lost {s['lost']}, drain {s['drain_s']:.3f}s, deepest queue {s['max_queue']}")
        if s["incomplete"]:
            notes.append(f"[red]{s['incomplete']} incomplete[/]")
        # a simulated broker's answer is part of its own run: shown beside the overhead
        show_e2e = s["name"] in ("e2e", "baseline_e2e") or (s["name"] == "overhead" and s["adapter"] != "paper")
        t.add_row(
            s["name"],
            s["adapter"],
            str(s["followers"]),
            str(s["samples"]),
            _ms(i, "p50"),
            _ms(i, "p90"),
            _ms(i, "p99"),
            _ms(i, "max"),
            _ms(e, "p50") if show_e2e else "",
            _ms(e, "p99") if show_e2e else "",
            "; ".join(notes),
        )
    console.print(t)

    m = Table(title="summary", title_justify="left")
    m.add_column("measure")
    m.add_column("value", justify="right")
    j = res.journal
    m.add_row("journal rows/s (signal + 20 intents, written and updated)", f"{j['rows_per_s']:,}" if j else "-")
    if j:
        m.add_row("journal commit of a signal (p50 / p99 ms)", f"{j['commit_ms']['p50']} / {j['commit_ms']['p99']}")
        m.add_row("journal flush every 5 signals (p50 / p99 ms)", f"{j['flush_ms']['p50']} / {j['flush_ms']['p99']}")
    where = f"at {res.rss_followers} followers" if res.rss_followers else "of the run"
    m.add_row(f"peak RSS {where}", f"{res.rss_mb:.1f} MB" if res.rss_mb else "-")
    m.add_row("RSS before the first scenario", f"{res.rss_start_mb:.1f} MB")
    if res.load_start and res.load_end:
        m.add_row("load average (1 min) at start / end", f"{res.load_start[0]:g} / {res.load_end[0]:g}")
    m.add_row("desk p99 ratio (with / without)", f"{res.tui_p99_ratio:.3f}" if res.tui_p99_ratio else "null")
    m.add_row(
        "market data p50 / p99 ratio (with / without)",
        f"{res.market_p50_ratio:.3f} / {res.market_p99_ratio:.3f}" if res.market_p99_ratio else "null",
    )
    m.add_row("copytui / naive copier, p99", f"{res.baseline_ratio:.3f}" if res.baseline_ratio else "-")
    m.add_row("copytui / naive copier, p50", f"{res.baseline_p50_ratio:.3f}" if res.baseline_p50_ratio else "-")
    console.print(m)

    rt = Table(title="overhead over paper and over the wire's floor (same run)", title_justify="left")
    for col in ("adapter", "followers", "p50 ms", "p99 ms", "p50/paper", "p99/paper", "p50/floor", "p99/floor"):
        rt.add_column(col, justify="left" if col == "adapter" else "right")
    for r in ratios(res):
        rt.add_row(
            r["adapter"], str(r["followers"]), f"{r['p50']:.3f}", f"{r['p99']:.3f}",
            *(_x(r[k]) for k in ("p50_vs_paper", "p99_vs_paper", "p50_vs_floor", "p99_vs_floor")),
        )  # fmt: skip
    console.print(rt)

    tt = Table(title="targets", title_justify="left")
    for col in ("target", "adapter", "value", "result"):
        tt.add_column(col)
    for tg in targets(res):
        v = tg["value"]
        tt.add_row(tg["target"], tg["adapter"], "-" if v is None else f"{v:g}", _verdict(tg["met"]))
    console.print(tt)
    for note in res.notes:
        console.print(f"note: {note}")


def markdown(res: Result) -> str:
    """The same result as Markdown tables, for the README."""

    def cell(d: dict[str, Any] | None, key: str) -> str:
        return "" if not d or d.get(key) is None else f"{d[key]:.3f}"

    lines = [
        "| scenario | adapter | followers | n | p50 ms | p90 ms | p99 ms | max ms | e2e p50 ms | e2e p99 ms | notes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in res.scenarios:
        i, e = s.get("internal_ms"), s.get("e2e_ms")
        show_e2e = s["name"] in ("e2e", "baseline_e2e")
        notes = f"broker {s['broker_latency_ms']:g} ms" if s.get("broker_latency_ms") else ""
        if s["name"] == "burst":
            notes = f"{s['events']} events in {s['sent_s']:g}s: lost {s['lost']}, drain {s['drain_s']:.2f}s, "
            notes += f"deepest queue {s['max_queue']}"
        lines.append(
            f"| {s['name']} | {s['adapter']} | {s['followers']} | {s['samples']} | {cell(i, 'p50')} | {cell(i, 'p90')}"
            f" | {cell(i, 'p99')} | {cell(i, 'max')} | {cell(e, 'p50') if show_e2e else ''}"
            f" | {cell(e, 'p99') if show_e2e else ''} | {notes} |"
        )
    j = res.journal
    summary = [
        ("journal rows/s (signal + 20 intents, written and updated)", f"{j['rows_per_s']:,}" if j else "-"),
        (
            "journal commit of one signal, p50 / p99 ms",
            f"{j['commit_ms']['p50']} / {j['commit_ms']['p99']}" if j else "-",
        ),
        (f"peak RSS at {res.rss_followers or '-'} followers", f"{res.rss_mb:.1f} MB" if res.rss_mb else "-"),
        ("desk p99 ratio (with / without)", f"{res.tui_p99_ratio:.2f}" if res.tui_p99_ratio else "null"),
        (
            "market data p50 / p99 ratio (with / without)",
            f"{res.market_p50_ratio:.2f} / {res.market_p99_ratio:.2f}" if res.market_p99_ratio else "null",
        ),
        ("copytui / naive copier at p99 (p50)", f"{res.baseline_ratio} ({res.baseline_p50_ratio})"),
        ("load average (1 min) at start / end", " / ".join(f"{x[0]:g}" for x in (res.load_start, res.load_end) if x)),
    ]
    lines += ["", "| measure | value |", "| --- | ---: |", *(f"| {k} | {v} |" for k, v in summary)]
    lines += [
        "",
        "| adapter | followers | p50 ms | p99 ms | p50 / paper | p99 / paper | p50 / floor | p99 / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in ratios(res):
        lines.append(
            f"| {r['adapter']} | {r['followers']} | {r['p50']:.3f} | {r['p99']:.3f} | "
            + " | ".join(_x(r[k]) for k in ("p50_vs_paper", "p99_vs_paper", "p50_vs_floor", "p99_vs_floor"))
            + " |"
        )
    lines += ["", "| target | adapter | measured | result |", "| --- | --- | ---: | --- |"]
    for t in targets(res):
        result = "n/a" if t["met"] is None else ("met" if t["met"] else "**missed**")
        lines.append(f"| {t['target']} | {t['adapter']} | {'-' if t['value'] is None else t['value']} | {result} |")
    return "\n".join(lines)
