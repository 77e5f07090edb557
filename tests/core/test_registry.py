"""core.registry.Registry: lazy targets, aliases, errors, and the views used for estimators and job kinds."""
import pytest

from core.registry import Registry, RegistryError


def test_lazy_target_alias_and_meta():
    reg = Registry("thing")
    reg.register("dumps", "json:dumps", aliases=("to-json",), cost="cheap")
    import json

    assert reg.get("to-json") is json.dumps and reg.canonical("to-json") == "dumps"
    assert reg.meta("dumps") == {"cost": "cheap"} and reg.aliases("dumps") == ["to-json"]
    assert "to-json" in reg and list(reg) == ["dumps"] and reg.items() == [("dumps", "json:dumps")]


def test_unknown_name_lists_the_known_ones():
    reg = Registry("thing", fix_hint="(flag --thing)")
    reg.register("a", "json:dumps")
    with pytest.raises(RegistryError, match="Unknown thing 'b'") as info:
        reg.get("b")
    assert "use one of: a." in str(info.value) and "--thing" in str(info.value)


def test_same_target_twice_is_fine_another_is_an_error():
    reg = Registry("thing")
    reg.register("a", "json:dumps")
    reg.register("a", "json:dumps")
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("a", "json:loads")


def test_targets_view_behaves_like_the_old_dict():
    reg = Registry("thing")
    reg.register("a", "json:dumps", aliases=("aa",))
    view = reg.targets
    assert view["a"] == "json:dumps" and view.get("zz", None) is None and dict(view) == {"a": "json:dumps"}
    view["b"] = "json:loads"
    assert reg.target("b") == "json:loads"
    del view["a"]
    assert "a" not in reg and "aa" not in reg and list(view) == ["b"]


def test_estimators_and_job_kinds_use_registries():
    from core.estimators import REGISTRY, get_estimator
    from core.jobs import JOB_KINDS, JOBS

    assert isinstance(REGISTRY, Registry) and "closed_form_head" in REGISTRY
    assert type(get_estimator("closed_form_head")) is REGISTRY.get("closed_form_head")
    assert JOB_KINDS["mix_verify"] == JOBS.target("mix_verify") == "core.mixture.jobs:verify_job"


def test_build_instantiates_by_name_or_alias_and_describe_lists_attributes():
    from dataclasses import dataclass

    @dataclass
    class Thing:
        size: int = 1
        unit = "tokens"
        description = "a thing"

    reg = Registry("thing")
    reg.register("b-thing", Thing, aliases=("bt",))
    reg.register("a-thing", "collections:OrderedDict")
    assert reg.build("bt", size=3) == Thing(size=3)
    with pytest.raises(TypeError):
        reg.build("b-thing", nosuch=1)
    with pytest.raises(RegistryError, match="Unknown thing 'c'"):
        reg.build("c")
    rows = reg.describe("__doc__")
    assert [r["name"] for r in rows] == ["a-thing", "b-thing"]                  # sorted by name
    assert rows[0]["__doc__"].startswith("Dictionary that remembers")         # read off the loaded target
    reg.unregister("a-thing")
    assert reg.describe("description", "unit") == [{"name": "b-thing", "aliases": ["bt"], "description": "a thing",
                                                    "unit": "tokens"}]
