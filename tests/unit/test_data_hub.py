"""The Hub loader fails with a clear DataError when the Hub cannot be reached."""

from __future__ import annotations

import pytest

from mosr.data import load_hub
from mosr.errors import DataError


def test_offline_hub_raises_data_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # An empty cache, so that an earlier download cannot satisfy the request.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    with pytest.raises(DataError) as caught:
        load_hub("xstest")
    message = str(caught.value)
    assert "could not load xstest from the Hugging Face Hub (walledai/XSTest, split test)" in message
    assert "--source local" in message


def test_dataset_without_hub_source():
    with pytest.raises(DataError, match="dataset oktest has no Hugging Face Hub source"):
        load_hub("oktest")
