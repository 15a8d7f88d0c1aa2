"""pytest plugin for mutation runs (``[tool.mutmut] pytest_add_cli_args``; tests/MUTATION.md).

mutmut runs, for each mutant, the tests that executed the mutated function during its stats
run. Many of those exercise the function only on the way to something else (a CLI run, a
benchmark script, a model fit in another stage); they rarely check its values and they cost
most of the time. While a mutant is under test (``MUTANT_UNDER_TEST`` names it), this plugin
keeps only the tests of the mutated module's own stage (and the independent references in
tests/reference/), and drops a few slow checks that read no values (AST scans, benchmark
and CLI smoke runs). It does nothing outside mutmut, during mutmut's stats run, or for the
clean and forced-fail runs.
"""

from __future__ import annotations

import os

# mutated module prefix -> test folders that judge it
STAGE_TESTS = {
    "mixpref.aggregation.": ("tests/aggregation/", "tests/reference/"),
    "mixpref.data.": ("tests/data/", "tests/reference/"),
    "mixpref.dpo.": ("tests/dpo/", "tests/reference/"),
    "mixpref.targets.": ("tests/targets/", "tests/reference/"),
    "mixpref.features.": ("tests/features/", "tests/reference/"),
    "mixpref.models.": ("tests/models/", "tests/reference/"),
}

# slow tests that read no values of the core modules (structure, CLI and benchmark smoke runs)
SKIP = (
    "tests/aggregation/test_registry.py::test_no_list_of_rule_names_in_the_package",
    "tests/aggregation/test_cli_and_benchmark.py::",
    "tests/features/test_benchmark_embed.py::",
    "tests/features/test_cli_embed.py::",
    "tests/models/test_cli_models.py::",
    "tests/models/test_studies_smoke.py::",
)


def _mutant():
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if name.startswith("mixpref.") else None


def pytest_collection_modifyitems(config, items):
    mutant = _mutant()
    if mutant is None:
        return
    folders = next((f for prefix, f in STAGE_TESTS.items() if mutant.startswith(prefix)), None)
    keep, drop = [], []
    for item in items:
        nodeid = item.nodeid.removeprefix("mutants/")
        ok = not nodeid.startswith(SKIP) and (folders is None or nodeid.startswith(folders))
        (keep if ok else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
