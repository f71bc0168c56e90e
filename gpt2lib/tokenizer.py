"""GPT-2's byte-pair-encoding tokenizer, built offline from ranks shipped with the package.

`tiktoken.get_encoding("gpt2")` downloads its vocabulary on first use. This module builds
the same encoding from `gpt2lib/data/gpt2.tiktoken`, so tokenizing never needs a network,
and wraps it with checks on its input.

The text "<|endoftext|>" inside a string is refused by default, because it is ambiguous:
pass allowed_special={"<|endoftext|>"} to encode it as the special token 50256 (GPT-2's
document separator), or disallowed_special=() to encode it as ordinary text.
"""

import base64
import functools
from collections.abc import Collection, Sequence
from importlib import resources

import tiktoken
import torch
from tiktoken_ext.openai_public import r50k_pat_str  # GPT-2's pre-tokenization regex

from gpt2lib.validation import is_int

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


class GPT2Tokenizer:
    """tiktoken's "gpt2" encoding with clear errors for bad input; other tiktoken methods pass through."""

    def __init__(self, encoding: tiktoken.Encoding):
        self.encoding = encoding

    def encode(self, text: str, allowed_special: Collection[str] | str = frozenset(),
               disallowed_special: Collection[str] | str = "all") -> list[int]:
        """Token ids of text. "<|endoftext|>" in text is refused unless allowed_special or disallowed_special say what it means."""
        if not isinstance(text, str):
            hint = "; decode bytes first, e.g. data.decode('utf-8')" if isinstance(text, (bytes, bytearray)) else ""
            raise TypeError(f"text must be a str, got {type(text).__name__}{hint}")
        for name, value in (("allowed_special", allowed_special), ("disallowed_special", disallowed_special)):
            if value != "all" and (isinstance(value, str) or not isinstance(value, Collection)
                                   or not all(isinstance(token, str) for token in value)):
                raise TypeError(f'{name} must be "all" or a set of special-token strings such as {{{END_OF_TEXT!r}}}, '
                                f"got {value!r}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"text is not valid Unicode at position {error.start}: {error.reason}") from error
        allowed = allowed_special == "all" or END_OF_TEXT in allowed_special
        if END_OF_TEXT in text and disallowed_special == "all" and not allowed:
            raise ValueError(
                f"text contains {END_OF_TEXT!r}: pass allowed_special={{{END_OF_TEXT!r}}} to encode it as the special "
                f"token {END_OF_TEXT_ID}, or disallowed_special=() to encode it as ordinary text"
            )
        return self.encoding.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """The text of a sequence of token ids: a list of ints or a 1-D tensor, e.g. decode(generate(...)[0])."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1 or ids.is_meta or ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
                raise ValueError(f"ids must be a 1-D integer tensor (one sequence), got shape {tuple(ids.shape)}, "
                                 f"dtype {ids.dtype}; for a batch, decode each row")
            ids = ids.tolist()
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
            raise TypeError(f"ids must be a list of token ids or a 1-D tensor, got {type(ids).__name__}")
        bad = [i for i in ids if not is_int(i) or not 0 <= i < VOCAB_SIZE]
        if bad:
            raise ValueError(f"token id {bad[0]!r} is not an integer in 0..{VOCAB_SIZE - 1}")
        return self.encoding.decode([int(i) for i in ids])

    def __getattr__(self, name: str):
        if name == "encoding" or not hasattr(self.encoding, name):  # "encoding" unset while copying: no recursion
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.encoding, name)  # eot_token, n_vocab, name, decode_single_token_bytes, ...

    def __repr__(self) -> str:
        return f"GPT2Tokenizer(n_vocab={self.encoding.n_vocab})"


@functools.cache
def get_tokenizer() -> GPT2Tokenizer:
    """Return GPT-2's tokenizer (equal to tiktoken's "gpt2" encoding), built without a network.

    >>> get_tokenizer().encode("Hello, I am")
    [15496, 11, 314, 716]
    """
    encoding = tiktoken.Encoding(
        name="gpt2",
        pat_str=r50k_pat_str,
        mergeable_ranks=load_bpe_ranks(),
        special_tokens={END_OF_TEXT: END_OF_TEXT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )
    return GPT2Tokenizer(encoding)
