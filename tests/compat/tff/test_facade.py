"""The facade's top-level names."""

import fedrun.compat.tff as tff


def test_version_names_the_tff_api_followed():
    assert tff.__version__ == "0.87.0"
