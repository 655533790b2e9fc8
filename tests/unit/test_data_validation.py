"""validate_path and validate_dataset report problems instead of raising."""

from __future__ import annotations

from pathlib import Path

from mosr.data import validate_dataset, validate_path


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_generic_csv_passes(tmp_path):
    report = validate_path(write(tmp_path / "mine.csv", "id,prompt\n1,hello\n2,world\n"))
    assert report.ok
    assert report.rows == 2
    assert report.dataset is None


def test_generic_csv_problems(tmp_path):
    report = validate_path(write(tmp_path / "mine.csv", 'id,prompt\n1,hello\n2,"  "\n1,again\n'))
    assert report.rows == 3
    assert any("data row 2 (id 2): empty or whitespace-only prompt" in problem for problem in report.problems)
    assert any("duplicate id '1' in column id: data rows 1 and 3" in problem for problem in report.problems)


def test_generic_file_without_prompt_column(tmp_path):
    report = validate_path(write(tmp_path / "mine.csv", "id,body\n1,hello\n"))
    assert len(report.problems) == 1
    assert "no prompt column" in report.problems[0]
    assert "columns present: id, body" in report.problems[0]


def test_generic_jsonl_file(tmp_path):
    report = validate_path(write(tmp_path / "mine.jsonl", '{"text": "hi"}\n{"text": ""}\n'))
    assert report.rows == 2
    assert report.problems == ["data row 2 (id 1): empty or whitespace-only text"]


def test_generic_non_utf8_file(tmp_path):
    report = validate_path(write(tmp_path / "mine.csv", "prompt\nCafé\n".encode("latin-1")))
    assert len(report.problems) == 1
    assert "not valid UTF-8" in report.problems[0]
    assert validate_path(tmp_path / "mine.csv", encoding="latin-1").ok


def test_unknown_extension(tmp_path):
    report = validate_path(write(tmp_path / "mine.xlsx", "x"))
    assert "cannot tell the format" in report.problems[0]


def test_missing_path(tmp_path):
    report = validate_path(tmp_path / "absent.csv")
    assert "not found" in report.problems[0]


def test_registry_file_checked_with_its_entry(tmp_path):
    path = write(tmp_path / "data" / "xstest" / "xstest_prompts.csv", "id,prompt,type,label,focus,note\n1,Hi,homonyms,maybe,x,\n")
    report = validate_path(path)
    assert report.dataset == "xstest"
    assert len(report.problems) == 1
    assert "unexpected value 'maybe' in column 'label'" in report.problems[0]


def test_registry_file_missing_column(tmp_path):
    path = write(tmp_path / "data" / "xstest" / "xstest_prompts.csv", "id,prompt\n1,Hi\n")
    report = validate_path(path)
    assert report.dataset == "xstest"
    assert "missing column 'focus', 'label', 'note', 'type'" in report.problems[0]


def test_dataset_row_count_checked(tmp_path):
    write(tmp_path / "oktest" / "OKTest.csv", "prompt\none\ntwo\n")
    report = validate_dataset("oktest", data_dir=tmp_path)
    assert report.rows == 2
    assert report.problems == ["expected 300 records (the benchmark's documented count), found 2"]


def test_dataset_lists_every_problem(tmp_path):
    write(tmp_path / "oktest" / "OKTest.csv", 'prompt\n""\nfine\n"  "\n')
    report = validate_dataset("oktest", data_dir=tmp_path)
    assert report.rows == 1
    assert len(report.problems) == 2


def test_dataset_missing_file(tmp_path):
    report = validate_dataset("oktest", data_dir=tmp_path)
    assert not report.ok
    assert "oktest/OKTest.csv not found" in report.problems[0]
