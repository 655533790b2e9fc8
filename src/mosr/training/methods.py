"""Methods as declarative presets: which training components each method turns on.

The table follows the MOSR method comparison: every method trains on the same data and budget,
and differs only in these switches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mosr.errors import ConfigError
from mosr.training.config import METHODS, TrainConfig

RefusalSwitch = Literal["on", "off", "config"]


@dataclass(frozen=True)
class Components:
    """Training components of one method."""

    erasure: bool
    oaw: bool
    caa: bool
    refusal: RefusalSwitch


METHOD_COMPONENTS: dict[str, Components] = {
    "refusal_sft": Components(erasure=False, oaw=False, caa=False, refusal="on"),
    "deep_align": Components(erasure=False, oaw=False, caa=True, refusal="on"),
    "rr": Components(erasure=True, oaw=False, caa=False, refusal="config"),
    "mosr_no_oaw": Components(erasure=True, oaw=False, caa=True, refusal="on"),
    "mosr_no_caa": Components(erasure=True, oaw=True, caa=False, refusal="config"),
    "mosr": Components(erasure=True, oaw=True, caa=True, refusal="on"),
}
assert set(METHOD_COMPONENTS) == set(METHODS)


@dataclass(frozen=True)
class ResolvedComponents:
    """Components of a method after the config's optional switches are applied."""

    erasure: bool
    oaw: bool
    caa: bool
    refusal: bool
    compliance: bool


def resolve_components(config: TrainConfig) -> ResolvedComponents:
    """Apply ``refusal_when_optional`` and the loss weights to the method's table entry."""
    if config.method not in METHOD_COMPONENTS:
        raise ConfigError(f"unknown method {config.method!r}; use one of {', '.join(METHODS)}")
    table = METHOD_COMPONENTS[config.method]
    refusal = table.refusal == "on" or (table.refusal == "config" and config.refusal_when_optional)
    refusal = refusal and config.lambda_refusal > 0
    if table.caa and not refusal:
        raise ConfigError(
            f"method {config.method!r} uses Context-Aware Augmentation, which trains through the refusal "
            "cross-entropy, but train.lambda_refusal is 0; set it above 0"
        )
    return ResolvedComponents(
        erasure=table.erasure,
        oaw=table.oaw,
        caa=table.caa,
        refusal=refusal,
        compliance=config.lambda_compliance > 0,
    )
