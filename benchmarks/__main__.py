"""Run every benchmark module (or the ones named on the command line), print each one's
figures, and end with one table of them all.

`python -m benchmarks quote reports` runs `bench_quote` and `bench_reports`; with no name
(`make bench`) every module runs. Each module builds its own throwaway data, except
`bench_reports`, which reads the configured database as it is (fill it with
`manage.py seed_scale` first; without orders it is "skipped").

A module's `main()` may return rows for the table — dicts with `figure`, `value`, `unit`,
`statements` (per request) and, for figures measured over HTTP, `floor_ratio`: the rate as
a fraction of the raw PostgreSQL floor the module measured beside it. A module that
returns none gets one row saying whether it ran or was skipped.
"""

import contextlib
import importlib
import io
import os
import pkgutil
import sys
import time
import timeit
from pathlib import Path


class _Tee(io.TextIOBase):
    """Writes through to the terminal and keeps a copy (to tell "skipped" from a run)."""

    def __init__(self, stream) -> None:
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def _value(row: dict) -> str:
    value = row.get("value")
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def _table(rows: list[dict]) -> None:
    head = ("benchmark", "figure", "value", "unit", "statements/request", "× raw PG floor")
    lines = [
        (
            row["benchmark"],
            row["figure"],
            _value(row),
            row.get("unit", ""),
            "" if row.get("statements") is None else str(row["statements"]),
            "" if row.get("floor_ratio") is None else f"{row['floor_ratio']:.1%}",
        )
        for row in rows
    ]
    widths = [max(len(str(cells[i])) for cells in [head, *lines]) for i in range(len(head))]
    aligns = ["<", "<", ">", "<", ">", ">"]

    def show(cells) -> None:
        print("  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(cells, aligns, widths, strict=True)))

    print()
    print("=== summary ===")
    show(head)
    show(["-" * w for w in widths])
    for cells in lines:
        show(cells)


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    root = Path(__file__).resolve().parent
    sys.path.insert(0, str(root.parent))
    names = sorted(m.name for m in pkgutil.iter_modules([str(root)]) if m.name.startswith("bench_"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    rows: list[dict] = []
    failed = False
    speeds: list[float] = []
    for name in wanted:
        short = name.removeprefix("bench_")
        print(f"=== {name} ===", flush=True)
        speeds.append(machine_speed())
        print(f"machine speed: sum(range(1000)) takes {speeds[-1]:.1f} µs now", flush=True)
        tee = _Tee(sys.stdout)
        began = time.perf_counter()
        try:
            with contextlib.redirect_stdout(tee):
                result = importlib.import_module(f"benchmarks.{name}").main()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - one failing must not hide the rest
            failed = True
            print(f"{name} failed: {exc!r}", flush=True)
            rows.append({"benchmark": short, "figure": "FAILED", "value": repr(exc)[:60]})
            continue
        if result:
            rows.extend({"benchmark": short} | row for row in result)
        else:
            output = tee.copy.getvalue()
            skipped = "skipped" in output.lower()
            rows.append(
                {
                    "benchmark": short,
                    "figure": "skipped" if skipped else "see its output above",
                    "value": None if skipped else f"{time.perf_counter() - began:.0f} s run",
                }
            )
    speeds.append(machine_speed())
    if len(wanted) > 1 or rows:
        _table(rows)
    print(
        f"machine speed over the run: sum(range(1000)) took {min(speeds):.1f}–"
        f"{max(speeds):.1f} µs (a 2023 laptop: about 8); compare figures taken at unlike "
        "speeds only by running both versions alternately"
    )
    return 1 if failed else 0


def machine_speed() -> float:
    """µs per `sum(range(1000))`, the best of five: how fast this machine runs Python at
    this moment (a shared machine's speed can swing twofold within a minute)."""
    return min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
