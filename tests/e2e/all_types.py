"""The every-data-type schema and sample values shared by the round-trip tests."""

import datetime
import uuid

from weaviate.classes.config import DataType, Property
from weaviate.classes.data import GeoCoordinate

ALL_TYPES = [
    Property(name="text", data_type=DataType.TEXT),
    Property(name="int", data_type=DataType.INT),
    Property(name="number", data_type=DataType.NUMBER),
    Property(name="boolean", data_type=DataType.BOOL),
    Property(name="date", data_type=DataType.DATE),
    Property(name="uuid", data_type=DataType.UUID),
    Property(name="texts", data_type=DataType.TEXT_ARRAY),
    Property(name="ints", data_type=DataType.INT_ARRAY),
    Property(name="numbers", data_type=DataType.NUMBER_ARRAY),
    Property(name="booleans", data_type=DataType.BOOL_ARRAY),
    Property(name="dates", data_type=DataType.DATE_ARRAY),
    Property(name="uuids", data_type=DataType.UUID_ARRAY),
    Property(name="geo", data_type=DataType.GEO_COORDINATES),
    Property(
        name="obj",
        data_type=DataType.OBJECT,
        nested_properties=[
            Property(name="name", data_type=DataType.TEXT),
            Property(name="size", data_type=DataType.INT),
            Property(name="tags", data_type=DataType.TEXT_ARRAY),
            Property(name="weights", data_type=DataType.NUMBER_ARRAY),
            Property(
                name="inner",
                data_type=DataType.OBJECT,
                nested_properties=[Property(name="deep", data_type=DataType.BOOL)],
            ),
        ],
    ),
    Property(
        name="objs",
        data_type=DataType.OBJECT_ARRAY,
        nested_properties=[
            Property(name="k", data_type=DataType.TEXT),
            Property(name="v", data_type=DataType.NUMBER),
        ],
    ),
]


def sample_properties() -> dict:
    """One value for every property of `ALL_TYPES`."""
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc)
    later = datetime.datetime(2025, 6, 7, 8, 9, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    ref = uuid.UUID("6a4f1c2e-3b5d-4e7f-8a9b-0c1d2e3f4a5b")
    return {
        "text": "héllo wörld",
        "int": 42,
        "number": 2.5,
        "boolean": True,
        "date": when,
        "uuid": ref,
        "texts": ["a", "b"],
        "ints": [1, -2, 2**40],
        "numbers": [1.5, -0.25],
        "booleans": [True, False, True],
        "dates": [when, later],
        "uuids": [ref, uuid.UUID(int=7)],
        "geo": GeoCoordinate(latitude=52.52, longitude=13.405),
        "obj": {
            "name": "n",
            "size": 3,
            "tags": ["t1", "t2"],
            "weights": [0.5, 1.25],
            "inner": {"deep": False},
        },
        "objs": [{"k": "a", "v": 1.5}, {"k": "b", "v": 2.0}],
    }

