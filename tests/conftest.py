"""Hypothesis profiles. `HYPOTHESIS_PROFILE=long pytest tests/test_properties.py` for a deep run.

`max_examples` is per test. tests/test_properties.py runs its lint-gated property once per
blueprint, so a profile's budget of lint-gated specs (50 by default, 500 in `long`) is split
across the blueprints; `long` also puts 3x as many specs through the properties that need no
lint. Tests that set their own `max_examples` (tests/test_rendering.py) keep it under every
profile; they do take `derandomize` and the rest from it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from generator.blueprint import registry

# Lint-gated specs per run, all blueprints together (12 each of 4 by default). One costs ~1.5 s
# on 2 idle cores (cfn-lint over ~8 templates, the IAM stack alone ~1 s): the default run of
# tests/test_properties.py takes ~85 s there.
LINTED_SPECS = {"default": 50, "long": 500}
_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def _per_blueprint(total: int) -> int:
    return max(1, total // len(registry()))


# Reproducible in CI: the same examples on every run, and no example database to replay.
settings.register_profile(
    "default",
    max_examples=_per_blueprint(LINTED_SPECS["default"]),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_SLOW_DATA,
)
# Exploration: fresh random examples each run, failures kept in .hypothesis/ and replayed.
settings.register_profile(
    "long",
    max_examples=_per_blueprint(LINTED_SPECS["long"]),
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_DATA,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
