"""`python -m gpt2lib.train` (and `torchrun -m gpt2lib.train`): the training command of gpt2lib/training/cli.py."""

from gpt2lib.training.cli import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    run()
