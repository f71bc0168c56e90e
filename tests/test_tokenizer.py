import hashlib
from importlib import resources

import pytest

from gpt2lib import END_OF_TEXT_ID, get_tokenizer

SHIPPED_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"


@pytest.fixture(scope="module")
def tokenizer():
    return get_tokenizer()


def test_ranks_are_shipped_as_package_data_unchanged():
    data = resources.files("gpt2lib").joinpath("data/gpt2.tiktoken").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHIPPED_RANKS_SHA256


def test_vocabulary_matches_gpt2(tokenizer):
    assert tokenizer.name == "gpt2"
    assert tokenizer.n_vocab == 50257
    assert tokenizer.eot_token == END_OF_TEXT_ID == 50256
    assert tokenizer.decode([50255]) == " gazed"


@pytest.mark.parametrize(
    "text, ids",
    [
        ("Every effort moves you", [6109, 3626, 6100, 345]),
        ("Every day holds a", [6109, 1110, 6622, 257]),
        ("Hello, I am", [15496, 11, 314, 716]),
        ("The quick brown fox jumps over the lazy dog.", [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]),
    ],
)
def test_known_token_ids(tokenizer, text, ids):
    assert tokenizer.encode(text) == ids


@pytest.mark.parametrize(
    "text",
    [
        "naïve café, Ünïcödé and 日本語のテキスト",
        "emoji: 🤖🚀 and a family 👨‍👩‍👧",
        "line one\nline two\r\n\ttabbed\n\n",
        "runs   of    spaces      and trailing   ",
        "",
    ],
)
def test_decode_inverts_encode(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_end_of_text_is_special_only_when_allowed(tokenizer):
    text = "The end.<|endoftext|>"
    with pytest.raises(ValueError, match="allowed_special"):
        tokenizer.encode(text)
    assert tokenizer.encode(text, allowed_special={"<|endoftext|>"})[-1] == END_OF_TEXT_ID
    as_plain_text = tokenizer.encode(text, disallowed_special=())
    assert END_OF_TEXT_ID not in as_plain_text
    assert tokenizer.decode(as_plain_text) == text


def test_pre_tokenization_splits_contractions_and_numbers(tokenizer):
    pieces = [tokenizer.decode([i]) for i in tokenizer.encode("I'll pay 1234 dollars")]
    assert pieces[:2] == ["I", "'ll"]
    assert "".join(pieces) == "I'll pay 1234 dollars"
