"""`make mutation`: the score of the last `mutmut run` over service/domain/, and its survivors.

Reads what mutmut left in mutants/ (`mutmut export-cicd-stats`, `mutmut results`) and prints
the share of mutants the unit tier killed (a timeout counts as killed), then every survivor
and every mutant no test reaches, one per line, for `mutmut show <name>`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTMUT = [str(Path(sys.executable).with_name("mutmut"))]


def main() -> int:
    subprocess.run([*MUTMUT, "export-cicd-stats"], cwd=ROOT, check=True, capture_output=True)
    stats = json.loads((ROOT / "mutants" / "mutmut-cicd-stats.json").read_text())
    killed = stats["killed"] + stats["timeout"]
    judged = killed + stats["survived"] + stats["no_tests"] + stats["suspicious"]
    results = subprocess.run(
        [*MUTMUT, "results", "--all", "true"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    lines = [line.strip() for line in results.splitlines() if line.strip()]
    left = [line for line in lines if line.endswith((": survived", ": no tests"))]
    for line in sorted(left):
        print(f"  {line}")
    score = 100.0 * killed / judged if judged else 0.0
    print(
        f"mutation score {score:.1f}% of service/domain/: {killed} of {judged} mutants killed,"
        f" {stats['survived']} survived, {stats['no_tests']} reached by no test"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
