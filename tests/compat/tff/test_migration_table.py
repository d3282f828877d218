"""docs/migrating-from-tff.md's status table agrees with the facade: every row's name
behaves as its status says, and every public facade name has a row."""

import pathlib
import re
import types

import pytest

import fedrun.compat.tff as tff
from fedrun.compat.tff import unsupported

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "migrating-from-tff.md"

# Public members of facade modules that are fedrun's own plumbing, not TFF names.
FEDRUN_HELPERS = {
    "tff.Computation",
    "tff.Value",
    "tff.UnsupportedError",
    "tff.aggregators.as_native",
    "tff.learning.metrics.check_metrics_aggregator",
    "tff.learning.models.example_spec",
    "tff.learning.optimizers.from_keras",
    "tff.learning.optimizers.to_fedrun",
    "tff.simulation.datasets.emnist.file_names",
    "tff.simulation.datasets.shakespeare.FILE_NAMES",
    "tff.templates.NativeAggregationProcess",
    "tff.templates.bridge_process",
    "tff.templates.placed_at_clients",
    "tff.templates.placed_at_server",
    "tff.templates.server_nest",
    "tff.types.convert",
    "tff.types.federated",
    "tff.types.has_sequence",
    "tff.types.is_assignable",
    "tff.types.to_dataset",
    "tff.types.to_spec",
}

TABLES = {
    "tff": unsupported.TOP_LEVEL,
    "tff.learning": unsupported.LEARNING,
    "tff.learning.models": unsupported.LEARNING_MODELS,
    "tff.learning.algorithms": unsupported.LEARNING_ALGORITHMS,
    "tff.learning.templates": unsupported.LEARNING_TEMPLATES,
    "tff.simulation": unsupported.SIMULATION,
    "tff.simulation.datasets": unsupported.SIMULATION_DATASETS,
    "tff.aggregators": unsupported.AGGREGATORS,
    "tff.backends": unsupported.BACKENDS,
    "tff.backends.native": unsupported.BACKENDS,
    "tff.tensorflow": unsupported.TENSORFLOW,
    "tff.types": unsupported.TYPES,
}


def table_rows():
    text = DOC.read_text()
    body = text.split("<!-- status table: begin -->")[1].split("<!-- status table: end -->")[0]
    return [
        re.match(r"\| `([^`]+)` \| (\w+) \|", line).groups()
        for line in body.splitlines()
        if line.startswith("| `")
    ]


ROWS = table_rows()


def resolve(name):
    value = tff
    for part in name.split(".")[1:]:
        value = getattr(value, part)
    return value


def public_names(module, prefix, seen):
    for name in module.__all__:
        value = getattr(module, name)
        full = f"{prefix}.{name}"
        if isinstance(value, types.ModuleType):
            if value not in seen:
                seen.append(value)
                yield from public_names(value, full, seen)
        elif full not in FEDRUN_HELPERS:
            yield full


def test_rows_are_unique_with_known_statuses():
    names = [name for name, _ in ROWS]
    assert len(names) == len(set(names))
    assert {status for _, status in ROWS} <= {"supported", "differs", "unsupported"}


@pytest.mark.parametrize("name, status", ROWS, ids=[name for name, _ in ROWS])
def test_each_row_behaves_as_its_status_says(name, status):
    if status == "unsupported":
        with pytest.raises(
            tff.UnsupportedError, match=re.escape(name) + " is not supported by fedrun"
        ):
            resolve(name)
    else:
        assert resolve(name) is not None


def test_every_public_facade_name_has_a_row():
    documented = {name for name, status in ROWS if status != "unsupported"}
    assert set(public_names(tff, "tff", [])) == documented


def test_every_refused_name_has_a_row():
    refused = {
        f"{module}.{name}"
        for module, table in TABLES.items()
        for name in table
        if module != "tff.backends.native"
    }
    refused |= {f"tff.backends.{name}" for name in unsupported.BACKENDS}
    assert refused == {name for name, status in ROWS if status == "unsupported"}


def test_unknown_names_point_at_the_guide():
    with pytest.raises(AttributeError, match=r"are listed in docs/migrating-from-tff.md\)"):
        _ = tff.learning.no_such_name
