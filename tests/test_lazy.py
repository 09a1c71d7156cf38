"""Lazy GraphQL objects compute a field only when it is read, once, and never invent one."""

from __future__ import annotations

import gc
from decimal import Decimal
from types import SimpleNamespace

import pytest

from app.db.ids import decode_global_id
from app.runtime import YOUNG_THRESHOLD, tune_garbage_collector
from schema.catalog import ProductVariant


class _CountingRow(SimpleNamespace):
    """A row that counts how often each column is read."""

    def __getattribute__(self, name: str):  # type: ignore[no-untyped-def]
        if not name.startswith("_"):
            reads = object.__getattribute__(self, "_reads")
            reads[name] = reads.get(name, 0) + 1
        return object.__getattribute__(self, name)


def _variant_row() -> _CountingRow:
    row = _CountingRow(
        id=7,
        sku="SKU-7",
        title="M / Red",
        selected_options='[{"name": "Size", "value": "M"}]',  # JSON columns arrive as text
        stock_quantity=3,
        price=Decimal("19.99"),
        compare_at_price=None,
    )
    object.__setattr__(row, "_reads", {})
    return row


def test_a_field_is_computed_on_first_read_and_kept():
    row = _variant_row()
    variant = ProductVariant.from_row(row, "EUR")
    assert row._reads == {}
    assert variant.price.amount == Decimal("19.99") and variant.price.currency_code == "EUR"
    assert variant.price is variant.price
    assert row._reads == {"price": 1}
    assert decode_global_id(variant.id) == ("ProductVariant", 7)
    assert variant.compare_at_price is None
    assert variant.available_for_sale is True
    assert [(o.name, o.value) for o in variant.selected_options] == [("Size", "M")]


def test_an_unknown_attribute_is_an_attribute_error():
    variant = ProductVariant.from_row(_variant_row(), "EUR")
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = variant.nonsense  # type: ignore[attr-defined]
    assert not hasattr(variant, "__await__")


def test_the_collector_is_tuned_once_per_process():
    tune_garbage_collector()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0


def test_a_reader_must_name_a_declared_field():
    import strawberry

    from schema.lazy import LazyFields, lazy_fields

    @strawberry.type
    class Thing(LazyFields):
        READERS = {"nmae": lambda thing: "typo"}
        name: str

    with pytest.raises(TypeError, match="names 'nmae'"):
        lazy_fields(Thing)
