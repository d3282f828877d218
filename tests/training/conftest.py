"""Fixtures of the training tests: the tiny problem the learning tests share."""

from tests.learning.conftest import tiny_problem  # noqa: F401 (a shared fixture)
