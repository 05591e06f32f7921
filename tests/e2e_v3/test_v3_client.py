"""The v3 Python client (`weaviate-client==3.26.7`) against the real `weft` binary: schema,
batches with references, `client.query.get` / `aggregate` / `raw` (GraphQL), data objects,
tenants and backups. Expected answers come from a model of the corpus in Python."""

import math
import uuid

import pytest
import weaviate
from weaviate import Tenant

GENRES = ["fiction", "science", "history"]
WORDS = ["apple", "banana", "cherry", "delta"]
AUTHORS = [("Ann Lee", uuid.UUID(int=1000)), ("Bob Ray", uuid.UUID(int=1001)), ("Ann Ko", uuid.UUID(int=1002))]


def book(i: int) -> dict:
    return {
        "id": uuid.UUID(int=i + 1),
        "title": f"book {i} {WORDS[i % 4]}",
        "genre": GENRES[i % 3],
        "year": 1990 + i,
        "price": i * 1.5,
        "tags": ["red", "blue"] if i % 2 == 0 else ["green"],
        "location": {"latitude": 52.0 + i * 0.01, "longitude": 4.0},
        "published": f"20{10 + i % 10:02d}-01-01T00:00:00Z",
        "author": AUTHORS[i % 3],
        "vector": [math.cos(i / 10), math.sin(i / 10), 0.1],
    }


BOOKS = [book(i) for i in range(20)]


@pytest.fixture
def server(make_weft, tmp_path):
    root = tmp_path / "backups"
    root.mkdir()
    w = make_weft({"ENABLE_MODULES": "backup-filesystem", "BACKUP_FILESYSTEM_PATH": str(root)}).start()
    client = weaviate.Client(f"http://127.0.0.1:{w.port}")
    client.schema.create_class({"class": "Author", "vectorizer": "none",
                                "properties": [{"name": "name", "dataType": ["text"]}]})
    client.schema.create_class({
        "class": "Book", "vectorizer": "none",
        "vectorIndexConfig": {"distance": "cosine"},
        "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "genre", "dataType": ["text"], "tokenization": "field"},
            {"name": "year", "dataType": ["int"]},
            {"name": "price", "dataType": ["number"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "location", "dataType": ["geoCoordinates"]},
            {"name": "published", "dataType": ["date"]},
            {"name": "writtenBy", "dataType": ["Author"]},
        ],
    })
    client.batch.configure(batch_size=7)
    with client.batch as batch:
        for name, aid in AUTHORS:
            batch.add_data_object({"name": name}, "Author", uuid=aid, vector=[0.0, 0.0, 1.0])
        for b in BOOKS:
            props = {k: b[k] for k in ("title", "genre", "year", "price", "tags", "location", "published")}
            batch.add_data_object(props, "Book", uuid=b["id"], vector=b["vector"])
        for b in BOOKS:
            batch.add_reference(from_object_uuid=str(b["id"]), from_object_class_name="Book",
                                from_property_name="writtenBy", to_object_uuid=str(b["author"][1]),
                                to_object_class_name="Author")
    yield w, client
    w.stop()


def books_of(res) -> list:
    assert "errors" not in res, res
    return res["data"]["Get"]["Book"]


def test_batch_import_with_references_lands_whole(server):
    _, client = server
    res = client.query.aggregate("Book").with_meta_count().do()
    assert res["data"]["Aggregate"]["Book"][0]["meta"]["count"] == 20
    got = books_of(client.query.get("Book", ["title", "writtenBy { ... on Author { name } }"])
                   .with_where({"path": ["id"], "operator": "Equal", "valueText": str(BOOKS[4]["id"])}).do())
    assert got == [{"title": BOOKS[4]["title"], "writtenBy": [{"name": BOOKS[4]["author"][0]}]}]


def test_get_with_where_filters(server):
    _, client = server

    def titles(where):
        return sorted(b["title"] for b in books_of(client.query.get("Book", ["title"]).with_where(where).do()))

    def model(pred):
        return sorted(b["title"] for b in BOOKS if pred(b))

    assert titles({"path": ["genre"], "operator": "Equal", "valueText": "science"}) == model(lambda b: b["genre"] == "science")
    assert titles({"operator": "And", "operands": [
        {"path": ["year"], "operator": "GreaterThan", "valueInt": 2000},
        {"path": ["tags"], "operator": "ContainsAny", "valueText": ["red", "yellow"]},
    ]}) == model(lambda b: b["year"] > 2000 and "red" in b["tags"])
    assert titles({"path": ["writtenBy", "Author", "name"], "operator": "Like", "valueText": "Ann*"}) == \
        model(lambda b: b["author"][0].startswith("Ann"))
    assert titles({"path": ["price"], "operator": "LessThanEqual", "valueNumber": 6.0}) == model(lambda b: b["price"] <= 6.0)
    assert titles({"path": ["published"], "operator": "GreaterThanEqual", "valueDate": "2015-01-01T00:00:00Z"}) == \
        model(lambda b: b["published"] >= "2015")
    # 1 km around the first book: books 0 (0 m) and 1 (~1.1 km) are 0 and 1.1 km away.
    assert titles({"path": ["location"], "operator": "WithinGeoRange", "valueGeoRange": {
        "geoCoordinates": {"latitude": 52.0, "longitude": 4.0}, "distance": {"max": 1000.0}}}) == [BOOKS[0]["title"]]
    assert titles({"path": ["genre"], "operator": "NotEqual", "valueText": "fiction"}) == \
        model(lambda b: b["genre"] != "fiction")


def test_get_sort_limit_offset_and_after(server):
    _, client = server
    got = books_of(client.query.get("Book", ["title", "year"]).with_sort({"path": ["year"], "order": "desc"})
                   .with_limit(3).with_offset(2).do())
    assert [b["year"] for b in got] == [2007, 2006, 2005]
    first = books_of(client.query.get("Book", ["title"]).with_additional(["id"]).with_limit(5).do())
    ids = [b["_additional"]["id"] for b in first]
    assert ids == sorted(ids)
    after = books_of(client.query.get("Book", ["title"]).with_after(ids[-1]).with_limit(3)
                     .with_additional(["id", "vector", "creationTimeUnix", "lastUpdateTimeUnix"]).do())
    assert [b["_additional"]["id"] for b in after] == [str(b["id"]) for b in BOOKS[5:8]]
    assert len(after[0]["_additional"]["vector"]) == 3
    assert after[0]["_additional"]["creationTimeUnix"].isdigit()


def test_get_near_vector_and_near_object(server):
    _, client = server
    q = [1.0, 0.0, 0.1]
    got = books_of(client.query.get("Book", ["title"]).with_near_vector({"vector": q, "distance": 0.05})
                   .with_limit(5).with_additional(["distance", "id"]).do())
    distances = [b["_additional"]["distance"] for b in got]
    assert distances == sorted(distances) and all(d <= 0.05 for d in distances) and len(got) >= 2
    assert got[0]["_additional"]["id"] == str(BOOKS[0]["id"])
    near = books_of(client.query.get("Book", ["title"]).with_near_object({"id": str(BOOKS[10]["id"]), "certainty": 0.9})
                    .with_limit(3).with_additional(["certainty"]).do())
    assert near[0]["title"] == BOOKS[10]["title"]
    assert all(b["_additional"]["certainty"] >= 0.9 for b in near)


def test_get_bm25_and_hybrid(server):
    _, client = server
    got = books_of(client.query.get("Book", ["title"]).with_bm25("cherry", ["title^2"])
                   .with_additional(["score", "explainScore"]).do())
    assert sorted(b["title"] for b in got) == sorted(b["title"] for b in BOOKS if "cherry" in b["title"])
    assert all(float(b["_additional"]["score"]) > 0 for b in got)
    hyb = books_of(client.query.get("Book", ["title"]).with_hybrid("cherry", alpha=0.5, vector=[1.0, 0.0, 0.1],
                                                                  properties=["title"], fusion_type="rankedFusion")
                   .with_limit(5).with_additional(["score"]).do())
    assert len(hyb) == 5
    assert any("cherry" in b["title"] for b in hyb)


def test_get_group_by(server):
    _, client = server
    res = client.query.get("Book", ["title"]).with_near_vector({"vector": [1.0, 0.0, 0.1]}) \
        .with_group_by(["genre"], 2, 3) \
        .with_additional({"group": ["id", "count", "maxDistance", "minDistance",
                                    "groupedBy { path value }", "hits { title _additional { id distance } }"]}).do()
    groups = [b["_additional"]["group"] for b in books_of(res)]
    assert len(groups) == 2
    for g in groups:
        assert g["groupedBy"]["path"] == ["genre"] and g["groupedBy"]["value"] in GENRES
        assert 1 <= g["count"] == len(g["hits"]) <= 3
        assert g["minDistance"] <= g["maxDistance"]
        assert all(h["title"] in {b["title"] for b in BOOKS if b["genre"] == g["groupedBy"]["value"]} for h in g["hits"])


def test_aggregate(server):
    _, client = server
    res = client.query.aggregate("Book").with_fields("year { minimum maximum mean count }").do()
    y = res["data"]["Aggregate"]["Book"][0]["year"]
    assert (y["minimum"], y["maximum"], y["count"]) == (1990, 2009, 20)
    assert y["mean"] == pytest.approx(1999.5)
    res = client.query.aggregate("Book").with_where({"path": ["year"], "operator": "GreaterThan", "valueInt": 1994}) \
        .with_fields("genre { count topOccurrences(limit: 2) { value occurs } }").with_meta_count().do()
    a = res["data"]["Aggregate"]["Book"][0]
    assert a["meta"]["count"] == 15
    top = a["genre"]["topOccurrences"]
    assert len(top) == 2 and top[0]["occurs"] == 5
    res = client.query.aggregate("Book").with_group_by_filter(["genre"]).with_fields("groupedBy { path value }") \
        .with_meta_count().do()
    groups = {g["groupedBy"]["value"]: g["meta"]["count"] for g in res["data"]["Aggregate"]["Book"]}
    assert groups == {g: sum(1 for b in BOOKS if b["genre"] == g) for g in GENRES}
    res = client.query.aggregate("Book").with_near_vector({"vector": [1.0, 0.0, 0.1], "certainty": 0.5}) \
        .with_object_limit(4).with_meta_count().do()
    assert res["data"]["Aggregate"]["Book"][0]["meta"]["count"] == 4


def test_tenants_through_graphql(server):
    _, client = server
    client.schema.create_class({"class": "Note", "vectorizer": "none", "multiTenancyConfig": {"enabled": True},
                                "properties": [{"name": "text", "dataType": ["text"]}]})
    client.schema.add_class_tenants("Note", [Tenant(name="t1"), Tenant(name="t2")])
    for i in range(6):
        client.data_object.create({"text": f"note {i}"}, "Note", uuid=uuid.UUID(int=500 + i),
                                  vector=[1.0, i / 10, 0.0], tenant="t1" if i < 4 else "t2")
    res = client.query.get("Note", ["text"]).with_tenant("t1").with_near_vector({"vector": [1.0, 0.0, 0.0]}) \
        .with_limit(10).do()
    assert [n["text"] for n in res["data"]["Get"]["Note"]] == ["note 0", "note 1", "note 2", "note 3"]
    # The v3 client writes `objectLimit: 10tenant: "t1"` (no separator).
    res = client.query.aggregate("Note").with_near_vector({"vector": [1.0, 0.0, 0.0], "certainty": 0.5}) \
        .with_object_limit(10).with_meta_count().with_tenant("t2").with_limit(5).do()
    assert "errors" not in res, res
    assert res["data"]["Aggregate"]["Note"][0]["meta"]["count"] == 2
    res = client.query.get("Note", ["text"]).do()
    assert res["data"]["Get"]["Note"] is None
    assert "multi-tenancy enabled" in res["errors"][0]["message"]


def test_data_objects_and_references(server):
    _, client = server
    oid = client.data_object.create({"title": "fresh", "year": 2024}, "Book", vector=[0.5, 0.5, 0.5])
    got = client.data_object.get_by_id(oid, class_name="Book")
    assert got["properties"]["title"] == "fresh"
    client.data_object.update({"year": 2025}, "Book", oid)
    assert client.data_object.get_by_id(oid, class_name="Book")["properties"]["year"] == 2025
    client.data_object.reference.add(from_uuid=oid, from_property_name="writtenBy", to_uuid=str(AUTHORS[1][1]),
                                     from_class_name="Book", to_class_name="Author")
    res = client.query.get("Book", ["title", "writtenBy { ... on Author { name } }"]) \
        .with_where({"path": ["id"], "operator": "Equal", "valueText": oid}).do()
    assert books_of(res)[0]["writtenBy"] == [{"name": AUTHORS[1][0]}]
    assert client.data_object.exists(oid, class_name="Book")
    client.data_object.delete(oid, class_name="Book")
    assert not client.data_object.exists(oid, class_name="Book")


def test_backup_and_restore_through_the_v3_client(server):
    _, client = server
    done = client.backup.create(backup_id="v3-backup", backend="filesystem",
                                include_classes=["Author", "Book"], wait_for_completion=True)
    assert done["status"] == "SUCCESS", done
    client.schema.delete_class("Book")
    client.schema.delete_class("Author")
    done = client.backup.restore(backup_id="v3-backup", backend="filesystem", wait_for_completion=True)
    assert done["status"] == "SUCCESS", done
    res = client.query.aggregate("Book").with_meta_count().do()
    assert res["data"]["Aggregate"]["Book"][0]["meta"]["count"] == 20
    got = books_of(client.query.get("Book", ["title", "writtenBy { ... on Author { name } }"])
                   .with_where({"path": ["id"], "operator": "Equal", "valueText": str(BOOKS[2]["id"])}).do())
    assert got[0]["writtenBy"] == [{"name": BOOKS[2]["author"][0]}]


def test_raw_queries_and_errors(server):
    _, client = server
    res = client.query.raw("{Get{Nope{title}}}")
    assert "data" not in res
    assert res["errors"][0]["message"].startswith('Cannot query field "Nope" on type "GetObjectsObj".')
    res = client.query.raw("{Get{Book(limit: 1){title}} Aggregate{Author{meta{count}}}}")
    assert res["data"]["Aggregate"]["Author"][0]["meta"]["count"] == 3
    assert len(res["data"]["Get"]["Book"]) == 1
    res = client.query.raw("{Explore(nearVector: {vector: [0, 0, 1]} limit: 3){beacon className distance}}")
    assert {h["className"] for h in res["data"]["Explore"]} == {"Author"}
