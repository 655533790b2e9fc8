"""Evaluation configuration: suites, attacks, generation settings and judges."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    suite: Literal["quick", "default", "full"] = "default"
    max_new_tokens: int = Field(256, ge=1, le=8192, description="Generated tokens per response.")
    batch_size: int = Field(16, ge=1, le=4096)
    judge: str = Field("refusal_phrases", description="Judge name from the judge registry.")
    limit: int | None = Field(None, ge=1, description="Override: prompts per dataset.")
