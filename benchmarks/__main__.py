"""`make bench`: measure and print the figures the issues set targets for."""

from __future__ import annotations

import sys

from benchmarks import core, notebook, relay


def main() -> int:
    rows = core.run_all() + notebook.run_all() + relay.run_all()
    width = max(len(r.name) for r in rows)
    print(f"{'benchmark'.ljust(width)}  {'measured':>14}  {'target':>14}  ok")
    print("-" * (width + 36))
    failed = 0
    for row in rows:
        failed += not row.ok
        print(f"{row.name.ljust(width)}  {row.measured:>14}  {row.target:>14}  {'yes' if row.ok else 'NO'}")
        for note in row.notes:
            print(f"{''.ljust(width)}    {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
