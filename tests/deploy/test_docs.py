"""The READMEs' curl lines work from a fresh clone: every file they upload is in the repository."""

from __future__ import annotations

import re

import pytest

from tests.deploy.helpers import REPO_ROOT

READMES = ["README.md", "digit-service/README.md", "captcha-service/README.md", "meter-service/README.md"]
UPLOAD = re.compile(r"(?:-F \w+=@|--data-binary @|base64 -w0 )([\w./-]+)")


@pytest.mark.parametrize("readme", READMES)
def test_every_uploaded_file_is_shipped(readme: str) -> None:
    text = (REPO_ROOT / readme).read_text()
    uploaded = {match.group(1) for line in text.splitlines() if "curl" in line or "base64" in line
                for match in UPLOAD.finditer(line)}  # fmt: skip
    assert uploaded, f"no uploads found in {readme}"
    missing = sorted(path for path in uploaded if not (REPO_ROOT / path).is_file())
    assert not missing, f"{readme} uploads files the repository does not have: {missing}"
