"""A challenger answering a sampled share of live requests in shadow, in its own process, beside the champion."""

from mlseam.runtime.shadow.challenger import select_challenger
from mlseam.runtime.shadow.process import ChallengerProcess, ShadowJob
from mlseam.runtime.shadow.runner import ShadowRunner

__all__ = ["ChallengerProcess", "ShadowJob", "ShadowRunner", "select_challenger"]
