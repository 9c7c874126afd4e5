"""The bind-address rule and the Host allow-list."""

import pytest

from jointspace.errors import BadInputError
from jointspace.serve.settings import ServeSettings, check_bind, is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"])
def test_loopback_is_always_allowed(host):
    assert is_loopback(host)
    check_bind(host, has_tokens=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org", ""])
def test_other_addresses_need_tokens(host):
    assert not is_loopback(host)
    with pytest.raises(BadInputError, match="without access tokens") as err:
        check_bind(host, has_tokens=False)
    assert "token create" in err.value.hint
    check_bind(host, has_tokens=True)


def test_host_allow_list():
    assert "127.0.0.1" in ServeSettings().hosts() and "evil.example" not in ServeSettings().hosts()
    assert ServeSettings(tokens_file="t").hosts() == ["*"]
    assert ServeSettings(allowed_hosts=["search.lan"]).hosts() == ["search.lan"]
