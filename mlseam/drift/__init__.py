"""Drift: profiles of a version's training inputs and holdout outputs, and PSI against live windows.

```python
reference = profile_inputs(service.kind, train.inputs)   # at retrain, stored with the version
report = compare(reference, live_inputs)                 # later: PSI per statistic, one verdict
report.verdict, report.top, report.summary               # "stable" / "moderate" / "drifted"
```

Verdicts: PSI below ``MODERATE_FROM`` (0.1) is stable, below ``DRIFTED_FROM`` (0.25) moderate,
from there drifted; the window's verdict is its most drifting statistic's.
"""

from mlseam.drift.build import profile_inputs, profile_outputs, profile_window
from mlseam.drift.profile import Binned, Distribution, Profile, ReferenceProfile, Shares
from mlseam.drift.psi import DRIFTED_FROM, EMPTY_SHARE, MODERATE_FROM, DriftVerdict, psi
from mlseam.drift.report import DriftReport, StatisticDrift, compare

__all__ = [
    "DRIFTED_FROM",
    "EMPTY_SHARE",
    "MODERATE_FROM",
    "Binned",
    "Distribution",
    "DriftReport",
    "DriftVerdict",
    "Profile",
    "ReferenceProfile",
    "Shares",
    "StatisticDrift",
    "compare",
    "profile_inputs",
    "profile_outputs",
    "profile_window",
    "psi",
]
