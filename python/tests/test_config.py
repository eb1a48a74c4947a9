"""SystemConfigDAO on both backends."""

from __future__ import annotations

import asyncio
import os

import pytest

import affine_db
from affine_db.dao import SystemConfigDAO

VALUES = [
    ("str", "hello"),
    ("int", 10),
    ("int", -(2**63)),
    ("float", 1.0),
    ("float", 0.25),
    ("bool", True),
    ("bool", False),
    ("dict", {"a": 1, "b": [1.5, "x", None, {"c": True}]}),
    ("list", [1, 2.0, "three", {"four": 4}]),
]


@pytest.mark.parametrize("param_type,value", VALUES)
async def test_set_param_round_trips_each_type(store, param_type, value) -> None:
    dao = SystemConfigDAO()
    stored = await dao.set_param("p", value, param_type, description="what", updated_by="me")
    assert stored["param_value"] == value and type(stored["param_value"]) is type(value)
    assert (stored["param_type"], stored["description"], stored["updated_by"], stored["version"]) == (param_type, "what", "me", 1)
    again = await dao.get_param("p")
    assert again == stored
    got = await dao.get_param_value("p", default="unused")
    assert got == value and type(got) is type(value)


async def test_float_values_stay_floats_inside_dicts_and_ints_become_floats(store) -> None:
    dao = SystemConfigDAO()
    await dao.set_param("weights", {"a": 1.0, "b": 2}, "dict")
    value = await dao.get_param_value("weights")
    assert isinstance(value["a"], float) and isinstance(value["b"], int)
    await dao.set_param("ratio", 3, "float")
    ratio = await dao.get_param_value("ratio")
    assert ratio == 3.0 and isinstance(ratio, float)


async def test_versions_count_sets_even_concurrent_ones(store) -> None:
    dao = SystemConfigDAO()
    first = await dao.set_param("max_concurrent_tasks", 10, "int", description="Maximum concurrent sampling tasks")
    assert first["version"] == 1 and first["updated_by"] == "system"
    results = await asyncio.gather(*[dao.set_param("max_concurrent_tasks", i, "int") for i in range(6)])
    assert sorted(r["version"] for r in results) == [2, 3, 4, 5, 6, 7]
    assert (await dao.get_param("max_concurrent_tasks"))["version"] == 7


@pytest.mark.parametrize(
    "name,value,param_type,error",
    [
        ("p", "10", "int", affine_db.InvalidInput),
        ("p", True, "int", affine_db.InvalidInput),
        ("p", 1.5, "int", affine_db.InvalidInput),
        ("p", 2**64, "int", affine_db.InvalidInput),
        ("p", float("nan"), "float", affine_db.InvalidInput),
        ("p", "x", "float", affine_db.InvalidInput),
        ("p", 1, "bool", affine_db.InvalidInput),
        ("p", [1], "dict", affine_db.InvalidInput),
        ("p", {"a": 1}, "list", affine_db.InvalidInput),
        ("p", {"a": float("inf")}, "dict", affine_db.InvalidInput),
        ("p", 1, "decimal", affine_db.InvalidInput),
        ("a#b", 1, "int", affine_db.InvalidInput),
        ("", 1, "int", affine_db.InvalidInput),
        ("p", os.urandom(300_000).hex(), "str", affine_db.TooLarge),
    ],
)
async def test_bad_params_raise_before_anything_is_written(store, name, value, param_type, error) -> None:
    dao = SystemConfigDAO()
    with pytest.raises(error) as info:
        await dao.set_param(name, value, param_type)
    assert isinstance(info.value, ValueError)
    assert await dao.list_all_configs() == []


async def test_get_param_value_default_all_params_delete_and_list(store) -> None:
    dao = SystemConfigDAO()
    assert await dao.get_param("missing") is None
    assert await dao.get_param_value("missing") is None
    assert await dao.get_param_value("missing", default=5) == 5
    sentinel = object()
    assert await dao.get_param_value("missing", default=sentinel) is sentinel
    await dao.set_param("b", 2, "int")
    await dao.set_param("a", "x", "str")
    await dao.set_param("c", [1], "list")
    assert await dao.get_all_params() == {"a": "x", "b": 2, "c": [1]}
    assert [p["param_name"] for p in await dao.list_all_configs()] == ["a", "b", "c"]
    assert await dao.delete_param("b") is True
    assert await dao.delete_param("b") is False
    assert await dao.get_all_params() == {"a": "x", "c": [1]}
