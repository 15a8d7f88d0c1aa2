import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "benchmarks" / "embed.py"


def test_benchmark_script_runs_with_tiny_arguments(capsys):
    spec = importlib.util.spec_from_file_location("embed_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--n-texts", "12", "--device", "cpu", "--fixed-batch-size", "4"])
    names = [name for name, _ in rows]
    assert any("length-sorted" in n for n in names) and any("cache hit" in n for n in names)
    out = capsys.readouterr().out
    assert "tokens/s" in out and "max |cached - computed| = 0.00e+00" in out
    # replication makes distinct texts (identical ones would be encoded once)
    texts = module.load_texts(3000)
    assert len(set(texts)) == 3000
