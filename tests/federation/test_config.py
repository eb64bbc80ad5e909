"""FEDERATION_SCHEME and FEDERATION_ALLOW_PRIVATE: parsed, validated, documented."""

from __future__ import annotations

import pytest

from united.config import ConfigError, load

pytestmark = pytest.mark.mode_independent


def test_defaults_are_https_and_no_private_addresses(tmp_path):
    config = load({"UNITED_DATA_DIR": str(tmp_path)})
    assert config.federation_scheme == "https"
    assert config.federation_allow_private == ()


def test_values_are_parsed(tmp_path):
    config = load(
        {
            "UNITED_DATA_DIR": str(tmp_path),
            "FEDERATION_SCHEME": "HTTP",
            "FEDERATION_ALLOW_PRIVATE": "127.0.0.1/32, 10.0.0.0/8,::1",
        }
    )
    assert config.federation_scheme == "http"
    assert config.federation_allow_private == ("127.0.0.1/32", "10.0.0.0/8", "::1")


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"FEDERATION_SCHEME": "gopher"}, "FEDERATION_SCHEME"),
        ({"FEDERATION_ALLOW_PRIVATE": "10.0.0.0/33"}, "FEDERATION_ALLOW_PRIVATE"),
        ({"FEDERATION_ALLOW_PRIVATE": "localhost"}, "FEDERATION_ALLOW_PRIVATE"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, env, name):
    with pytest.raises(ConfigError) as info:
        load({"UNITED_DATA_DIR": str(tmp_path), **env})
    assert name in str(info.value)
