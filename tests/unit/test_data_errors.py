"""Bad benchmark input raises a DataError that names the file or value and the fix.

Each test writes a small file where a registry entry expects it, under a temporary data folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mosr.data import load_prompts, load_records, resolve_data_dir
from mosr.errors import DataError

XSTEST_HEADER = "id,prompt,type,label,focus,note\n"


def write(data_dir: Path, relative: str, content: str | bytes) -> Path:
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_csv_with_unclosed_quote(tmp_path):
    write(tmp_path, "oktest/OKTest.csv", 'prompt\nfine\n"never closed\n')
    with pytest.raises(DataError) as caught:
        load_records("oktest", data_dir=tmp_path)
    message = str(caught.value)
    assert "OKTest.csv" in message
    assert "EOF inside string starting at line 3" in message
    assert "double quotes" in message


def test_csv_with_extra_field(tmp_path):
    write(tmp_path, "oktest/OKTest.csv", "prompt\nfine\nsplit, by a comma\n")
    with pytest.raises(DataError, match=r"OKTest\.csv.*line 3"):
        load_records("oktest", data_dir=tmp_path)


def test_csv_with_extra_field_in_first_row(tmp_path):
    write(tmp_path, "oktest/OKTest.csv", "prompt\nsplit, by a comma\nsecond, row\n")
    with pytest.raises(DataError, match=r"OKTest\.csv.*\(line 2\) has more fields than the 1 column name"):
        load_records("oktest", data_dir=tmp_path)


def test_empty_csv_file(tmp_path):
    write(tmp_path, "oktest/OKTest.csv", "")
    with pytest.raises(DataError, match=r"OKTest\.csv is empty"):
        load_records("oktest", data_dir=tmp_path)


def test_malformed_json_reports_line_and_column(tmp_path):
    write(tmp_path, "x_boundary/data/test/OKTest.json", '{"data": [\n  {"messages": ]\n]}')
    with pytest.raises(DataError) as caught:
        load_records("xb_oktest", data_dir=tmp_path)
    message = str(caught.value)
    assert "OKTest.json is not valid JSON" in message
    assert "line 2, column 16" in message


def test_json_without_expected_key(tmp_path):
    write(tmp_path, "x_boundary/data/test/OKTest.json", '{"rows": []}')
    with pytest.raises(DataError, match=r"expected the key 'data' at the top level; found rows"):
        load_records("xb_oktest", data_dir=tmp_path)


def test_malformed_jsonl_reports_line(tmp_path):
    write(tmp_path, "gsm8k/test.jsonl", '{"question": "1+1?", "answer": "#### 2"}\n{"question": "2+2?", "answer": \n')
    with pytest.raises(DataError, match=r"test\.jsonl is not valid JSON Lines: line 2"):
        load_records("gsm8k", data_dir=tmp_path)


def test_non_utf8_file_names_offset_and_encodings(tmp_path):
    write(tmp_path, "oktest/OKTest.csv", "prompt\nCafé au lait\n".encode("latin-1"))
    with pytest.raises(DataError) as caught:
        load_records("oktest", data_dir=tmp_path)
    message = str(caught.value)
    assert "OKTest.csv is not valid UTF-8" in message
    assert "byte 0xe9 at byte offset 10 (line 2)" in message
    assert "--encoding latin-1" in message
    assert "mac_roman" in message


def test_encoding_parameter_reads_latin1(tmp_path):
    write(tmp_path, "oktest/OKTest.csv", "prompt\nCafé au lait\n".encode("latin-1"))
    records = load_prompts("oktest", data_dir=tmp_path, encoding="latin-1")
    assert [record.text for record in records] == ["Café au lait"]


def test_encoding_parameter_reads_mac_roman(tmp_path):
    write(tmp_path, "oktest/OKTest.csv", "prompt\nCafé au lait\n".encode("mac_roman"))
    records = load_prompts("oktest", data_dir=tmp_path, encoding="mac_roman")
    assert [record.text for record in records] == ["Café au lait"]


def test_unknown_encoding(tmp_path):
    write(tmp_path, "oktest/OKTest.csv", "prompt\nhello\n")
    with pytest.raises(DataError, match=r"unknown encoding 'klingon'"):
        load_records("oktest", data_dir=tmp_path, encoding="klingon")


def test_missing_column_lists_present_columns(tmp_path):
    write(tmp_path, "xstest/xstest_prompts.csv", "id,prompt,kind,label,focus,note\n1,Kill a process,homonyms,safe,kill,\n")
    with pytest.raises(DataError) as caught:
        load_records("xstest", data_dir=tmp_path)
    message = str(caught.value)
    assert "xstest_prompts.csv: missing column 'type'" in message
    assert "columns present: id, prompt, kind, label, focus, note" in message


def test_blank_prompts_named_by_id(tmp_path):
    write(tmp_path, "oktest/OKTest.csv", 'prompt\nfine\n"   "\nalso fine\n""\n')
    with pytest.raises(DataError) as caught:
        load_records("oktest", data_dir=tmp_path)
    message = str(caught.value)
    assert "2 problems" in message
    assert "id oktest:1" in message
    assert "id oktest:3" in message
    assert "empty or whitespace-only text" in message


def test_duplicate_ids_named(tmp_path):
    rows = "1,Kill a process,homonyms,safe,kill,\n2,Shoot a photo,homonyms,safe,shoot,\n1,Kill a thread,homonyms,safe,kill,\n"
    write(tmp_path, "xstest/xstest_prompts.csv", XSTEST_HEADER + rows)
    with pytest.raises(DataError) as caught:
        load_records("xstest", data_dir=tmp_path)
    message = str(caught.value)
    assert "duplicate id xstest:1" in message
    assert "data row 1 and" in message
    assert "data row 3" in message


def test_unexpected_label_value(tmp_path):
    write(tmp_path, "xstest/xstest_prompts.csv", XSTEST_HEADER + "1,Kill a process,homonyms,maybe,kill,\n")
    with pytest.raises(DataError, match=r"unexpected value 'maybe' in column 'label'; expected one of 'safe', 'unsafe'"):
        load_records("xstest", data_dir=tmp_path)


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(DataError) as caught:
        load_records("xstset")
    message = str(caught.value)
    assert "unknown dataset 'xstset'" in message
    assert "did you mean 'xstest'" in message
    assert "mosr data list" in message


def test_missing_file_names_file_and_folder(tmp_path):
    with pytest.raises(DataError) as caught:
        load_records("oktest", data_dir=tmp_path)
    message = str(caught.value)
    assert "oktest/OKTest.csv not found" in message
    assert str(tmp_path) in message
    assert "--data-dir" in message


def test_missing_data_folder(tmp_path):
    with pytest.raises(DataError, match=r"does not exist; pass --data-dir PATH or set MOSR_DATA_DIR"):
        resolve_data_dir(tmp_path / "absent")


def test_data_folder_that_is_a_file(tmp_path):
    file_path = write(tmp_path, "file.txt", "x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        resolve_data_dir(file_path)


def test_no_data_folder_given(monkeypatch):
    monkeypatch.delenv("MOSR_DATA_DIR", raising=False)
    with pytest.raises(DataError, match=r"pass --data-dir PATH or set MOSR_DATA_DIR"):
        resolve_data_dir()


def test_data_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MOSR_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path.resolve()


def test_argument_overrides_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MOSR_DATA_DIR", str(tmp_path / "absent"))
    assert resolve_data_dir(tmp_path) == tmp_path.resolve()


def test_load_prompts_rejects_other_kinds(tmp_path):
    with pytest.raises(DataError, match="dataset mmlu contains multiple_choice, not prompts"):
        load_prompts("mmlu", data_dir=tmp_path)


def test_good_file_loads_with_stable_ids(tmp_path):
    write(tmp_path, "xstest/xstest_prompts.csv", XSTEST_HEADER + "7,Kill a process,homonyms,safe,kill,\n9,Kill a person,contrast_homonyms,unsafe,kill,\n")
    records = load_prompts("xstest", data_dir=tmp_path)
    assert [record.id for record in records] == ["xstest:7", "xstest:9"]
    assert [record.group for record in records] == ["pseudo_malicious", "malicious"]
    assert [record.category for record in records] == ["homonyms", "contrast_homonyms"]
