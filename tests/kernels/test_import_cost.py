"""``import lstmkit`` (every CLI start) stays light: torch's compiler stack is not imported."""

import subprocess
import sys

from lstmkit import kernels


def test_the_constant_mark_is_the_one_torchs_decorator_sets():
    import torch._dynamo

    def theirs():
        return 1

    def ours():
        return 1

    before = set(vars(theirs))
    torch._dynamo.assume_constant_result(theirs)
    added = {k: getattr(theirs, k) for k in set(vars(theirs)) - before}
    kernels._assume_constant_result(ours)
    assert added and {k: getattr(ours, k) for k in vars(ours)} == added
    assert kernels.compile_backend._dynamo_marked_constant is True


def test_import_does_not_load_torch_dynamo():
    code = "import sys, lstmkit, lstmkit.cli; print(sorted(m for m in ('torch._dynamo', 'sympy') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]", r.stdout
