from __future__ import annotations

import subprocess
import sys


def test_engine_and_cli_never_import_textual() -> None:
    code = (
        "import sys; import calfrules, calfrules.cli; from calfrules import load_engine; "
        "e = load_engine(); e.assess({'findings': {'calf_pain': True}}); "
        "from click.testing import CliRunner; CliRunner().invoke(calfrules.cli.cli, ['vocab', '--json']); "
        "print([m for m in sys.modules if m.split('.')[0] == 'textual'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
