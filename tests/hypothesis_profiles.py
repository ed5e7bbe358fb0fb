"""Hypothesis profiles for the property tests (tests/test_properties.py).

ci (the default): derandomized and without an example database, so every run, on CI or on a
laptop, checks the same examples in the same order, sized to keep the property suite well under
two minutes on two cores. deep: random and remembering failures in .hypothesis/, many times the
examples; run it before a release or after changing a validator or a macro:

    HYPOTHESIS_PROFILE=deep ./dev test tests/test_properties.py
    ./dev test tests/test_properties.py --hypothesis-profile=deep

Each property test sizes itself from the loaded profile's max_examples (see EXAMPLES in
test_properties.py).
"""

import os
from typing import Any

from hypothesis import HealthCheck, Phase, settings

COMMON: dict[str, Any] = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    max_examples=40,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    **COMMON,
)
settings.register_profile("deep", max_examples=400, **COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
