"""Optional vLLM generation backend for GPU users (``pip install 'mosr[vllm]'``).

The prompts are the same token ids the Hugging Face backend uses (chat template, one BOS,
prefill appended), decoded greedily with the same stop tokens, so results are comparable.

LoRA parity: vLLM applies a PEFT adapter through ``LoRARequest`` with its own LoRA kernels,
and its fused attention and sampling code differs from transformers. Greedy outputs usually
match the Hugging Face backend token for token at first, then can drift after small
numerical differences (float16/bfloat16 especially). Before comparing methods across
backends, generate one evaluation set with both and compare the judged rates.
vLLM also caps the adapter rank (``max_lora_rank``, 16 by default); it is set here from the
adapter config.

NOTE: this module is not exercised by the test suite (no GPU or vLLM in CI); only its
missing-package error is tested.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mosr.errors import MosrError
from mosr.evaluation.generation import Generation


def require_vllm():
    """Import vllm, or raise a clear error naming the extra to install."""
    try:
        import vllm
    except ImportError:
        raise MosrError(
            "the vllm backend needs the vllm package, which is not installed; install it on a GPU "
            "machine with: pip install 'mosr[vllm]' (or set evaluate.backend=hf)"
        ) from None
    return vllm


class VllmGenerator:
    """Greedy generation with vLLM for a model source (folder or Hub id) and an optional LoRA adapter."""

    def __init__(self, model_source: str, adapter: str | None = None, dtype: str = "auto", max_model_len: int | None = None):
        vllm = require_vllm()
        self.adapter = adapter
        lora_options = {}
        if adapter is not None:
            rank = json.loads((Path(adapter) / "adapter_config.json").read_text()).get("r", 16)
            lora_options = {"enable_lora": True, "max_lora_rank": max(8, int(rank))}
        self.engine = vllm.LLM(model=model_source, dtype=dtype, max_model_len=max_model_len, **lora_options)
        self._vllm = vllm

    def generate(self, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int, stop_ids: Sequence[int]) -> list[Generation]:
        params = self._vllm.SamplingParams(temperature=0.0, max_tokens=max_new_tokens, stop_token_ids=list(stop_ids))
        lora_request = None
        if self.adapter is not None:
            from vllm.lora.request import LoRARequest

            lora_request = LoRARequest("mosr-adapter", 1, str(self.adapter))
        prompts = [{"prompt_token_ids": list(ids)} for ids in prompt_ids]
        outputs = self.engine.generate(prompts, params, lora_request=lora_request, use_tqdm=False)
        results = []
        for output in outputs:
            completion = output.outputs[0]
            results.append(Generation(
                text=completion.text.strip(),
                raw=completion.text,
                num_tokens=len(completion.token_ids),
                stopped=completion.finish_reason == "stop",
            ))
        return results
