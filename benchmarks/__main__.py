"""Run every benchmark module (or the ones named on the command line) and print its figures.

`python -m benchmarks quote reports` runs `bench_quote` and `bench_reports`. Each module
builds its own throwaway data, except `bench_reports`, which reads the configured database
as it is (fill it with `manage.py seed_scale` first; without orders it says it is skipped).
"""

import importlib
import os
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    root = Path(__file__).resolve().parent
    sys.path.insert(0, str(root.parent))
    names = sorted(m.name for m in pkgutil.iter_modules([str(root)]) if m.name.startswith("bench_"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    for name in wanted:
        print(f"=== {name} ===", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
