"""`python -m gpt2lib.prepare INPUT --out DIR`: tokenize a corpus into token shards (gpt2lib/training/prepare.py)."""

import sys

from gpt2lib.training.prepare import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
