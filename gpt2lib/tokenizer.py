"""GPT-2's byte-pair-encoding tokenizer, built offline from ranks shipped with the package.

`tiktoken.get_encoding("gpt2")` downloads its vocabulary on first use. This module builds
the same encoding from `gpt2lib/data/gpt2.tiktoken`, so tokenizing never needs a network.
"""

import base64
import functools
from importlib import resources

import tiktoken
from tiktoken_ext.openai_public import r50k_pat_str  # GPT-2's pre-tokenization regex

END_OF_TEXT = "<|endoftext|>"
END_OF_TEXT_ID = 50256
VOCAB_SIZE = 50257  # 50,256 merged byte sequences + <|endoftext|>


def load_bpe_ranks() -> dict[bytes, int]:
    """Read the shipped ranks: one line per token, its bytes in base64, a space, its rank."""
    text = resources.files("gpt2lib").joinpath("data/gpt2.tiktoken").read_text("ascii")
    ranks = {}
    for line in text.splitlines():
        token_b64, rank = line.split()
        ranks[base64.b64decode(token_b64)] = int(rank)
    return ranks


@functools.cache
def get_tokenizer() -> tiktoken.Encoding:
    """Return GPT-2's tokenizer (equal to tiktoken's "gpt2" encoding), built without a network.

    >>> get_tokenizer().encode("Hello, I am")
    [15496, 11, 314, 716]
    """
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=r50k_pat_str,
        mergeable_ranks=load_bpe_ranks(),
        special_tokens={END_OF_TEXT: END_OF_TEXT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )
