import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "benchmarks" / "gpu.py"


def test_gpu_script_plans_every_check():
    out = subprocess.run([sys.executable, str(SCRIPT), "--plan"], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    # shared-responses fit, maximal lotteries, embedding, fresh-responses fit, distributed fit
    # (the last runs only where more than one GPU is visible, but is always planned)
    assert len(lines) == 5
    assert all("--device cuda" in line for line in lines)
    for script in ("fit.py", "aggregate.py", "embed.py", "scale.py"):
        path = SCRIPT.parent / script
        assert path.exists() and any(str(path) in line for line in lines)
    assert any("--shape fresh" in line for line in lines)
