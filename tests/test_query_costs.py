"""The requested cost of every operation the test suite and the benchmark send, asserted exactly.

Each module-level GraphQL document of tests/test_*.py and bench/workloads.py that validates against the
schema is priced with its variables' defaults (a connection without `first` at the default page of 20), and
the whole table is compared with tests/query_costs.json. A change to the prices, to the schema's weights or
to a fixture shows up as a difference in that table, to be reviewed: regenerate it with
`STOREFRONT_WRITE_COSTS=1 .venv/bin/pytest tests/test_query_costs.py` and read the diff. tests/test_cost.py
derives the main figures by hand."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, parse, validate

from app.graphql.cost import CostAnalysis, CostPrices
from schema.costs import COST_WEIGHTS, LIST_SIZES
from schema.root import build_schema

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "tests" / "query_costs.json"
MODULES = ["bench.workloads", *(f"tests.{path.stem}" for path in sorted((ROOT / "tests").glob("test_*.py")))]


def _documents() -> dict[str, tuple[DocumentNode, OperationDefinitionNode]]:
    schema = build_schema()._schema
    found: dict[str, tuple[DocumentNode, OperationDefinitionNode]] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, value in sorted(vars(module).items()):
            if not name.isupper() or not isinstance(value, str):
                continue
            try:
                document = parse(value)
            except GraphQLError:
                continue
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if not operations or validate(schema, document):
                continue
            for operation in operations:
                label = f"{module_name}.{name}" + (f":{operation.name.value}" if len(operations) > 1 else "")
                found[label] = (document, operation)
    return found


def _costs() -> dict[str, int]:
    analysis = CostAnalysis(build_schema()._schema, CostPrices(weights=COST_WEIGHTS, list_sizes=LIST_SIZES))
    return {label: analysis.plan(*found).requested(None) for label, found in _documents().items()}


def test_every_fixture_query_costs_what_the_table_says() -> None:
    costs = _costs()
    if os.environ.get("STOREFRONT_WRITE_COSTS"):
        TABLE.write_text(json.dumps(costs, indent=2, sort_keys=True) + "\n")
    assert len(costs) >= 100, "the suite's documents were found"
    assert costs == json.loads(TABLE.read_text())


def test_the_table_holds_the_hand_derived_figures() -> None:
    # the same figures as tests/test_cost.py derives and the README gives
    table = json.loads(TABLE.read_text())
    assert table["bench.workloads.LISTING"] == 2201
    assert table["bench.workloads.PRODUCT_PAGE"] == 131
    # without its variables: no text search (`query: $query` is absent), so 1 + 24 x 6 alone
    assert table["bench.workloads.SEARCH"] == 1 + 24 * 6
    assert table["tests.test_cost.BOMB"] == 2020201
