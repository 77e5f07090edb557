"""The engine setting: registry, validation, the CLI flags and their errors, and that the engine never
enters a cache key."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

from core.cli import main
from core.engine import ENGINES, EngineConfig, EngineError, check_address, current_engine, use_engine


def test_engines_are_registered_lazily_with_local_as_default():
    assert ENGINES.names() == ["local", "ray"]
    assert ENGINES.target("ray") == "core.engine.ray:RayEngine"
    assert current_engine().name == "local" and not current_engine().distributed
    assert EngineConfig("embedded").name == "local"


@pytest.mark.parametrize("address", ["auto", "local", "ray://head:10001", "10.0.0.2:6379", "[::1]:6379"])
def test_good_addresses(address):
    assert check_address(address) == address


@pytest.mark.parametrize("address", ["", "head", "ray://head", "http://head:80", "head:0", "head:70000", "a b:1"])
def test_bad_addresses_name_the_flag_and_the_fix(address):
    with pytest.raises(EngineError, match="ray_address=") as e:
        check_address(address)
    assert "ray start --head" in str(e.value)
    assert e.value.render("cli").startswith("--ray-address ")
    assert e.value.render("ui", {"ray_address": "Ray address"}).startswith("Ray address = ")


def test_engine_settings_travel_to_child_processes_through_the_environment(monkeypatch):
    cfg = EngineConfig("ray", "ray://head:10001", actors=3)
    assert EngineConfig.from_env(cfg.to_env()) == cfg
    monkeypatch.setenv("ALIGNSCOPE_ENGINE", "spark")
    with pytest.raises(EngineError, match="ALIGNSCOPE_ENGINE"):
        current_engine()


def test_the_engine_never_enters_a_cache_key():
    from core import fingerprint
    from core.fingerprint import embedding_key, job_id
    from core.settings import EmbedSettings

    assert "engine" not in {f.name for f in dataclasses.fields(EmbedSettings)}
    for builder in (embedding_key, fingerprint.batches_key, fingerprint.stats_key, fingerprint.distance_block_key):
        assert not any("engine" in p or "ray" in p for p in inspect.signature(builder).parameters)
    s = EmbedSettings()
    local = (s.to_dict(), job_id("embed", {"settings": s.to_dict()}))
    use_engine(EngineConfig("ray", "local"), connect=False, export=False)
    assert (s.to_dict(), job_id("embed", {"settings": s.to_dict()})) == local


def test_cli_bad_address_is_a_clear_error_before_any_work(capsys, monkeypatch):
    import core.pipeline

    monkeypatch.setattr(core.pipeline, "resolve_corpus", lambda *a: pytest.fail("work started"))
    code = main(["embed", "--corpus", "proofnet", "--engine", "ray", "--ray-address", "127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "--ray-address 127.0.0.1:9 cannot be reached" in err and "ray start --head" in err
    assert "Traceback" not in err
    assert main(["align", "--target", "a", "--sources", "b", "--engine", "ray", "--ray-address", "nowhere"]) == 2
    assert "--ray-address nowhere is not a Ray address" in capsys.readouterr().err
    assert main(["diversity", "--corpus", "a", "--ray-actors", "2"]) == 2
    assert "add --engine ray" in capsys.readouterr().err
    assert main(["embed", "--corpus", "a", "--engine", "ray", "--ray-actors", "0"]) == 2
    assert "--ray-actors 0 is not a positive" in capsys.readouterr().err


def test_every_computing_command_takes_the_engine_flags():
    from core.cli import build_parser

    parser = build_parser()
    for argv in (["embed", "--corpus", "a"], ["diversity", "--corpus", "a"], ["align", "--target", "a", "--sources", "b"],
                 ["experiment", "--target", "a"], ["validate", "run"]):
        args = parser.parse_args([*argv, "--engine", "ray", "--ray-address", "auto"])
        assert (args.engine, args.ray_address) == ("ray", "auto")
