"""Every shell script of the repository, and the one cloud-init runs, through shellcheck."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy.helpers import REPO_ROOT, run, tool


def shell_scripts() -> list[str]:
    """Files of the repository (git's view: ignored scratch files are not) ending in .sh or starting
    with a bash/sh shebang, like .ci/run."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"])
    assert listed.returncode == 0, listed.stderr
    found = []
    for name in sorted(set(listed.stdout.splitlines())):
        path = REPO_ROOT / name
        if not path.is_file():
            continue
        if path.suffix == ".sh":
            found.append(name)
        elif path.suffix == "":
            with path.open("rb") as handle:
                first = handle.readline(64)
            if first.startswith(b"#!") and (b"bash" in first or b"/sh" in first):
                found.append(name)
    return found


def test_the_scripts_are_found():
    assert {"scripts/bootstrap.sh", ".ci/run"} <= set(shell_scripts())


@pytest.mark.parametrize("script", shell_scripts())
def test_shellcheck(script):
    result = run([tool("shellcheck"), script])
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_the_cloud_init_install_script(tmp_path):
    config = yaml.safe_load((REPO_ROOT / "deploy/cloud-init.yaml").read_text())
    scripts = [entry for entry in config["write_files"] if entry["content"].startswith("#!")]
    assert scripts
    for entry in scripts:
        path = tmp_path / entry["path"].rsplit("/", 1)[-1]
        path.write_text(entry["content"])
        result = run([tool("shellcheck"), str(path)])
        assert result.returncode == 0, f"{entry['path']} in deploy/cloud-init.yaml:\n{result.stdout}"


def test_shellcheck_catches_a_bad_script(tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/bash\nrm -rf $1/*\n")
    assert run([tool("shellcheck"), str(bad)]).returncode != 0
