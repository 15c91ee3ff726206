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


REVIVE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "revive_torch.py"


def test_the_revive_example_tells_the_story():
    """ReDo ends with far fewer dead units than plain training at the same learning rate."""
    result = subprocess.run([sys.executable, str(REVIVE)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    final = result.stdout.split("After 20 epochs")[1].splitlines()
    rows = {
        parts[0]: parts[1:] for parts in (line.split() for line in final) if parts and parts[0] in ("plain", "ReDo")
    }
    assert set(rows) == {"plain", "ReDo"}, result.stdout
    plain_dead, redo_dead = int(rows["plain"][1]), int(rows["ReDo"][1])
    assert plain_dead >= 50 and redo_dead * 4 < plain_dead, rows
    assert float(rows["ReDo"][0]) > 0.5, rows  # it still learns
    assert result.stdout.count("\n    1 ") == 2  # a table per run, epoch by epoch
