from __future__ import annotations

import pytest

from jointspace.errors import BadInputError
from jointspace.zeroshot.templates import IMAGENET_80, fill, resolve_templates


def test_named_sets_and_user_templates():
    assert len(resolve_templates("imagenet80")) == 80 == len(set(IMAGENET_80))
    assert resolve_templates(None) == ("a photo of a {}.",)
    assert resolve_templates("a satellite photo of {}.") == ("a satellite photo of {}.",)
    assert fill("a {} with {braces}", "cat") == "a cat with {braces}"


def test_template_without_placeholder_is_rejected():
    with pytest.raises(BadInputError, match="exactly one"):
        resolve_templates(["a photo"])
