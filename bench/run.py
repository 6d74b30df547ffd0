"""Run every benchmark in bench/ (each prints its own figures)."""

import runpy
import sys
from pathlib import Path

here = Path(__file__).parent
if __name__ == "__main__":  # guarded: Dask's worker processes (bench_dask.py) re-import the main module
    for script in sorted(here.glob("bench_*.py")):
        if len(sys.argv) > 1 and not any(a in script.name for a in sys.argv[1:]):
            continue
        print(f"\n=== {script.name} ===", flush=True)
        runpy.run_path(str(script), run_name="__main__")
