"""The host-neutral fixture suite (tests/fixtures/*.json) through the Python
kit. FIXTURE=name runs the fixtures whose name contains `name`."""
import json
import os
from pathlib import Path

from fixture_runner import run_fixture

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures"


def test_every_fixture_passes_through_the_python_kit():
    only = os.environ.get("FIXTURE")
    paths = sorted(p for p in FIXTURES.glob("*.json") if not only or only in p.stem)
    failures = []
    for path in paths:
        problems = run_fixture(json.loads(path.read_text()))
        if problems:
            failures.append(f"{path.stem}:\n  " + "\n  ".join(problems))
    # The conformance line `.ci/run` compares across hosts.
    print(f"fixtures (python): {len(paths) - len(failures)} of {len(paths)} passed")
    assert paths, "no fixture ran"
    assert not failures, f"{len(failures)} of {len(paths)} fixtures failed:\n" + "\n".join(failures)
