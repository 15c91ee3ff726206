"""python/examples/dying_relu_torch.py as a user runs it: its final table shows the story
(ReLU collapses at the high learning rate, PReLU does not). Its time is measured, not
asserted (speed lives in benchmarks): 10-20 s on 2 cores, see the README."""

import pathlib
import subprocess
import sys
import time

from conftest import optional

optional("torch")

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "dying_relu_torch.py"


def test_the_torch_example_tells_the_story(tmp_path):
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--csv", str(tmp_path / "t.csv")], capture_output=True, text=True, timeout=300
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    print(f"the example took {elapsed:.1f} s")
    final = result.stdout.split("After 30 epochs")[1].splitlines()
    rows = {}
    for line in final:
        parts = line.split()
        if len(parts) == 5 and parts[0] in ("ReLU", "PReLU"):
            rows[(parts[0], float(parts[1]))] = (float(parts[2]), int(parts[3]), int(parts[4]))
    assert len(rows) == 4, result.stdout
    relu_high, prelu_high = rows[("ReLU", 0.05)], rows[("PReLU", 0.05)]
    assert relu_high[2] >= 100, rows  # many dead ReLU units at lr 0.05
    assert prelu_high[2] == 0 and prelu_high[0] > relu_high[0] + 0.2, rows
    assert rows[("ReLU", 0.001)][0] > 0.9 and rows[("PReLU", 0.001)][0] > 0.9, rows
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].startswith("window,layer,kind") and len(lines) == 1 + 4 * 30 * 3
