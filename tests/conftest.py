"""Test-wide: no unit test may reach the network (only loopback is allowed); the slowest files run first."""

import socket

import pytest

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK and host is not None:
            raise socket.gaierror(f"tests must not use the network (looked up {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(sock, address):
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            raise OSError(f"tests must not use the network (tried {address!r})")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


# The files that take longest, slowest first, as measured under `make test` on a 2-core machine. They start first
# (make test passes --no-loadscope-reorder, so xdist keeps this order), and the many short files then fill in
# on whichever worker is free, so that the two workers end together. An out-of-date list costs time, nothing else.
SLOWEST_FIRST = [
    "notebooks/08_pretraining.ipynb",
    "notebooks/10_fine_tuning.ipynb",
    "notebooks/07_generating_text_fast.ipynb",
    "tests/test_distributed.py",
    "notebooks/06_loading_pretrained_weights.ipynb",
    "tests/test_exercises.py",
    "notebooks/09_training_for_real.ipynb",
    "tests/test_student_copies.py",
    "tests/test_training.py",
    "notebooks/00_tokens.ipynb",
]


def pytest_collection_modifyitems(config, items):
    """Run the slowest files first, each file's tests (each notebook's cells) still in their order."""
    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        return SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)
    items.sort(key=rank)  # a stable sort: the order within a file, and among the other files, is kept
