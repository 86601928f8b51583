"""Settings from the environment and flags, the CLI's refusals, and the backend factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from trl_jobs_mcp.jobs.backends import make_backend
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec
from trl_jobs_mcp.server.cli import main
from trl_jobs_mcp.server.settings import Settings, SettingsError, is_loopback


def test_defaults_are_local_stdio_on_loopback() -> None:
    settings = Settings.from_env({})
    assert (settings.backend, settings.transport, settings.host, settings.port) == ("local", "stdio", "127.0.0.1",
                                                                                     8000)
    assert settings.read_only is False and settings.max_cost_usd is None and settings.secret_values() == []


def test_environment_is_read_and_flags_win() -> None:
    env = {"TRL_JOBS_BACKEND": "HF", "TRL_JOBS_HOME": "~/jobs-here", "TRL_JOBS_LOCAL_SLOTS": "3",
           "TRL_JOBS_READ_ONLY": "yes", "TRL_JOBS_MAX_COST_USD": "2.5", "HF_TOKEN": "hf_tokenvalue",
           "TRL_JOBS_HF_NAMESPACE": "my-org", "TRL_JOBS_AUTH_TOKEN": "bearer-value"}
    settings = Settings.from_env(env, local_slots=5, backend=None)
    assert settings.backend == "hf" and settings.local_slots == 5 and settings.read_only is True
    assert settings.home == Path("~/jobs-here").expanduser() and settings.max_cost_usd == 2.5
    assert settings.hf_namespace == "my-org"
    assert sorted(settings.secret_values()) == ["bearer-value", "hf_tokenvalue"]
    assert "hf_tokenvalue" not in repr(settings) and "bearer-value" not in repr(settings)
    assert settings.backend_settings() == {"home": settings.home, "slots": 5, "log_mb": None, "token": "hf_tokenvalue",
                                           "namespace": "my-org", "endpoint": None, "ray_address": None,
                                           "ray_token": None, "ray_cluster_env": False}


def test_the_older_hub_token_variable_is_honoured() -> None:
    assert Settings.from_env({"HUGGING_FACE_HUB_TOKEN": "hf_oldname"}).hf_token == "hf_oldname"


@pytest.mark.parametrize(("env", "names"), [
    ({"TRL_JOBS_LOCAL_SLOTS": "two"}, ["TRL_JOBS_LOCAL_SLOTS", "whole number"]),
    ({"TRL_JOBS_LOCAL_SLOTS": "0"}, ["TRL_JOBS_LOCAL_SLOTS", ">= 1"]),
    ({"TRL_JOBS_READ_ONLY": "maybe"}, ["TRL_JOBS_READ_ONLY", "true"]),
    ({"TRL_JOBS_MAX_COST_USD": "-1"}, ["TRL_JOBS_MAX_COST_USD", "0 or more"]),
    ({"TRL_JOBS_BACKEND": "slurm"}, ["TRL_JOBS_BACKEND", "local, hf, ray"]),
    ({"TRL_JOBS_PORT": "70000"}, ["TRL_JOBS_PORT", "65535"]),
])
def test_a_bad_value_names_its_variable_and_what_it_accepts(env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    for name in names:
        assert name in str(caught.value)


def test_http_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(SettingsError, match="--auth-token"):
        Settings.from_env({}, transport="http", host="0.0.0.0")
    assert Settings.from_env({}, transport="http", host="0.0.0.0", auth_token="t0ken").auth_token == "t0ken"
    assert Settings.from_env({}, transport="http", host="::1").host == "::1"


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                                ("[::1]", True), ("127.0.0.2", True), ("0.0.0.0", False),
                                                ("192.168.1.4", False), ("example.com", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_cli_refuses_bad_settings_with_exit_code_2(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRL_JOBS_AUTH_TOKEN", raising=False)
    with pytest.raises(SystemExit) as caught:
        main(["--transport", "http", "--host", "10.1.2.3"])
    assert caught.value.code == 2
    assert "needs a bearer token" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--slots", "0"])
    assert caught.value.code == 2 and "--slots" in capsys.readouterr().err


def test_backend_factory_imports_the_chosen_backend_and_drops_foreign_settings(tmp_path: Path) -> None:
    backend = make_backend("local", home=tmp_path, slots=2, token="hf_unused", namespace=None)
    assert backend.name == "local"
    with pytest.raises(InvalidJobSpec) as caught:
        make_backend("slurm")
    assert caught.value.field == "backend" and "local, hf, ray" in str(caught.value)
