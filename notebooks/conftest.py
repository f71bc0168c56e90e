"""pytest's settings for the notebooks (nbval): notebook 10 starts from the shipped small model in the tests,
whatever weights this machine has, so that its stored outputs hold everywhere (gpt2lib/finetune/start.py reads
GPT2LIB_START; nbval's kernels inherit this process's environment)."""

import os

os.environ["GPT2LIB_START"] = "shipped"
