from __future__ import annotations

import types

import clearsight
from clearsight.settings import SETTINGS, markdown_table

from .conftest import ROOT


def test_all_is_sorted_and_nothing_else_is_exported() -> None:
    assert clearsight.__all__ == sorted(clearsight.__all__)
    public = {
        n for n, v in vars(clearsight).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    } - {"annotations", "threading", "Sequence", "Any"}
    assert public <= set(clearsight.__all__) | {"__version__"}


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text()
    assert markdown_table() == doc, "regenerate docs/settings.md: clearsight settings --markdown > docs/settings.md"
    for s in SETTINGS:
        assert s.env in doc


def test_error_codes_are_rekognition_codes() -> None:
    assert clearsight.InvalidParameterException("x").to_dict() == {
        "__type": "InvalidParameterException", "message": "x"}
    assert issubclass(clearsight.ImageTooLargeException, clearsight.ClearSightError)


def test_accuracy_doc_has_the_current_calibration_tables() -> None:
    from clearsight.calibration import available_models, markdown_table

    doc = (ROOT / "docs" / "accuracy.md").read_text()
    for model in available_models()["models"]:
        assert markdown_table(model) in doc, f"docs/accuracy.md is stale for {model}"
