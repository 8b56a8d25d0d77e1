"""Check the built distributions: one wheel and one sdist per package, right metadata.

Usage: ``python check_dists.py DIST_DIR`` (run by ``nox -s build``).
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

EXPECTED = {
    "reflow_core": ("reflow", None),
    "reflow_store_sqlite": ("reflow_store_sqlite", ("reflow.stores", "sqlite")),
    "reflow_store_postgres": ("reflow_store_postgres", ("reflow.stores", "postgresql")),
    "reflow_executor_slurm": ("reflow_executor_slurm", ("reflow.executors", "slurm")),
    "reflow_executor_pbs": ("reflow_executor_pbs", ("reflow.executors", "pbs")),
    "reflow_executor_lsf": ("reflow_executor_lsf", ("reflow.executors", "lsf")),
    "reflow_executor_sge": ("reflow_executor_sge", ("reflow.executors", "sge")),
    "reflow_executor_flux": ("reflow_executor_flux", ("reflow.executors", "flux")),
    "reflow_fake_schedulers": ("reflow_fake_schedulers", None),
}


def check(dist: Path) -> list[str]:
    problems: list[str] = []
    for project, (module, entry) in EXPECTED.items():
        wheels = list(dist.glob(f"{project}-*.whl"))
        sdists = list(dist.glob(f"{project}-*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            problems.append(
                f"{project}: expected one wheel and one sdist, found {wheels + sdists}"
            )
            continue
        with zipfile.ZipFile(wheels[0]) as whl:
            names = whl.namelist()
            if f"{module}/py.typed" not in names:
                problems.append(f"{project}: wheel lacks {module}/py.typed")
            meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
            meta = Parser().parsestr(whl.read(meta_name).decode())
            requires = meta.get_all("Requires-Dist") or []
            if project != "reflow_core" and not any(r.startswith("reflow-core") for r in requires):
                problems.append(f"{project}: does not declare its reflow-core range")
            if project == "reflow_core" and not any(
                r.startswith("reflow-store-sqlite") for r in requires
            ):
                problems.append("reflow_core: does not require its embedded default store")
            if entry is not None:
                ep_name = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
                text = whl.read(ep_name).decode()
                group, name = entry
                if f"[{group}]" not in text or f"{name} = " not in text:
                    problems.append(f"{project}: entry point {group}:{name} missing")
        with tarfile.open(sdists[0]) as sd:
            if not any(n.endswith("/tests") or "/tests/" in n for n in sd.getnames()):
                problems.append(f"{project}: sdist lacks its tests")
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1]))
    for line in found:
        print(f"check_dists: {line}", file=sys.stderr)
    print("check_dists: all distributions look right" if not found else "")
    sys.exit(1 if found else 0)
