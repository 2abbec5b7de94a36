"""A clinic's code map: the example loads, and every mistake in one is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from calfrules import Engine
from calfrules.formats.code_map import CodeMapError, code_map_from_data, load_code_map
from calfrules.formats.fhir_input import findings_from_resources

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "code-map.toml"
GOOD = """# a clinic
[[map]]
system = "http://example.org/ehr"
code = "CP"
finding = "calf_pain"

[[map]]
system = "http://example.org/ehr"
code = "LEFT"
finding = "pain_side"
value = "left"
"""


def test_the_example_code_map_loads_against_the_vocabulary(engine: Engine) -> None:
    code_map = load_code_map(EXAMPLE, engine.vocabulary)
    assert {entry.finding for entry in code_map.entries} == {
        "calf_pain",
        "calf_circumference_diff_cm",
        "pain_side",
        "previous_dvt",
    }
    dvt = code_map.lookup("http://snomed.info/sct", "128053003")
    assert dvt is not None and dvt.value is True and dvt.condition_status == ("resolved", "inactive", "remission")
    assert code_map.lookup("http://snomed.info/sct", "nothing") is None


def test_a_mapped_local_code_becomes_its_finding(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(GOOD)
    code_map = load_code_map(path, engine.vocabulary)
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://example.org/ehr", "code": "CP"}]},
        "valueBoolean": True,
    }
    assert findings_from_resources([observation], engine.vocabulary, code_map).findings == {"calf_pain": True}
    unmapped = findings_from_resources([observation], engine.vocabulary)
    assert unmapped.findings == {} and unmapped.unknown == ("http://example.org/ehr|CP",)


BAD: list[tuple[str, str]] = [
    (
        GOOD.replace('"calf_pain"', '"calf_pian"'),
        "map entry 1 (line 2) (http://example.org/ehr|CP): finding 'calf_pian' is not in the vocabulary; did you mean",
    ),
    (
        GOOD.replace('value = "left"', 'value = "up"'),
        "map entry 2 (line 7) (http://example.org/ehr|LEFT): value: pain_side: expected one of left, right, both",
    ),
    (
        GOOD.replace('code = "CP"', 'code = "LEFT"'),
        "map entry 2 (line 7) (http://example.org/ehr|LEFT): http://example.org/ehr|LEFT is already mapped",
    ),
    (GOOD.replace('system = "http://example.org/ehr"\ncode = "CP"', 'system = "ehr"\ncode = "CP"'), "must be a URI"),
    (GOOD.replace('finding = "calf_pain"', 'findng = "calf_pain"'), "unknown key findng"),
    (GOOD.replace('code = "CP"\n', ""), "'code' is required"),
    (GOOD + 'condition_status = ["gone"]\n', "condition_status must list some of active"),
    (GOOD + "[extra]\n", "a code map holds only [[map]] entries; remove extra"),
    ("[[map]\n", "not valid TOML"),
    ("map = 3\n", "'map' must be a list of tables"),
    (GOOD + "value2 = [1]\n", "unknown key value2"),
    (GOOD.replace('value = "left"', "value = [1]"), "value must be true, false, a number or a choice"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_code_map_is_one_clear_error_naming_the_file_and_entry(
    engine: Engine, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "clinic-map.toml"
    path.write_text(text)
    with pytest.raises(CodeMapError) as caught:
        load_code_map(path, engine.vocabulary)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_finding_ids_are_checked_when_first_used_if_not_at_load(engine: Engine) -> None:
    code_map = code_map_from_data({"map": [{"system": "x:y", "code": "1", "finding": "nope_nothing"}]}, "inline")
    with pytest.raises(CodeMapError, match=r"inline: map entry 1 .*'nope_nothing' is not in the vocabulary"):
        findings_from_resources([], engine.vocabulary, code_map)


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CodeMapError, match=r"absent\.toml: cannot read the code map"):
        load_code_map(tmp_path / "absent.toml")
