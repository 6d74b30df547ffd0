"""``embeval run CONFIG.toml``: models × datasets × commands from one config, one combined report.

config.py reads and validates the TOML (every problem is found before anything runs);
runner.py expands the jobs into items and runs them through the library functions in
:mod:`embeval.api`, dispatched by command name (:data:`embeval.batch.runner.COMMANDS`).
"""

from embeval.batch.config import BatchConfig, load_config
from embeval.batch.runner import COMMANDS, run_batch, write_outputs

__all__ = ["COMMANDS", "BatchConfig", "load_config", "run_batch", "write_outputs"]
