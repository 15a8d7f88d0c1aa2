import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "benchmarks" / "gpu.py"


def test_gpu_script_plans_every_check():
    out = subprocess.run([sys.executable, str(SCRIPT), "--plan"], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 3
    assert all("--device cuda" in line for line in lines)
    for script in ("fit.py", "aggregate.py", "embed.py"):
        path = SCRIPT.parent / script
        assert path.exists() and any(str(path) in line for line in lines)
