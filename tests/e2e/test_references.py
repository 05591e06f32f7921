"""Cross-references end to end through weaviate-client 4.24.1: collections with single- and
multi-target reference properties (`config.get()`); adding references with `reference_add`
(REST `POST …/references/{prop}`), `reference_add_many` and `batch.add_reference` (REST
`POST /v1/batch/references`), `insert(references=…)` (REST) and `insert_many` (gRPC
`BatchObjects`); `reference_replace` (PUT) and `reference_delete` (DELETE, every identical beacon);
`return_references` nested two deep with properties and metadata on `fetch_object_by_id`,
`fetch_objects` and `near_vector`, multi-target with `QueryReference.MultiTarget`; the errors
(missing target 422 on REST writes, unchecked in batches, missing source 404); ref and ref-count
filters, one and two hops, in queries, `aggregate` and `delete_many`; deleting a target leaves the
referrers' beacons alone; and a kill -9 under reference batches keeps every acknowledged one.
Every answer is compared with a plain-Python model of which object references which."""

import math
import random
import threading
import time
import uuid
from collections import Counter
from types import SimpleNamespace

import pytest
from conftest import rest, weft_verify
from weaviate.classes.config import Configure, DataType, Property, ReferenceProperty
from weaviate.classes.data import DataObject, DataReference, ReferenceToMulti
from weaviate.classes.query import Filter, MetadataQuery, QueryReference
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateQueryError

AUTHORS = [("Ada", 36), ("Borges", 86), ("Calvino", 61), ("Dickens", 58), ("Eco", 84), ("Ferrante", 40)]
BOOKS = range(12)
# book -> authors (None: the property is never set); book 5 holds the same author twice.
WRITTEN_BY = {0: [0], 1: [1], 2: [1, 2], 3: None, 4: [3], 5: [4, 4], 6: [5, 0], 7: [2], 8: None,
              9: [0, 1, 2], 10: [4], 11: [3, 5]}
REVIEWS = range(8)
ABOUT = {0: [0], 1: [2], 2: [5], 3: [9], 4: [3], 5: None, 6: [6, 11], 7: [1]}
SHELVES = {0: {"Book": [0, 2], "Author": [1]}, 1: {"Author": [3, 4]}}
MISSING = uuid.UUID(int=0xE000)


def A(i): return uuid.UUID(int=0xA000 + i)  # noqa: E704
def B(i): return uuid.UUID(int=0xB000 + i)  # noqa: E704
def R(i): return uuid.UUID(int=0xC000 + i)  # noqa: E704
def S(i): return uuid.UUID(int=0xD000 + i)  # noqa: E704


def year(i): return 1900 + 10 * i  # noqa: E704
def vec(i): return [math.cos(i), math.sin(i), 1.0, 0.5]  # noqa: E704
def authors_of(b): return WRITTEN_BY.get(b) or []  # noqa: E704
def about(r): return ABOUT.get(r) or []  # noqa: E704
def beacon(cls, u): return f"weaviate://localhost/{cls}/{u}"  # noqa: E704


def stored(server, cls, oid, prop):
    """The beacons the object holds in `prop`, as REST `GET /v1/objects` shows them (sorted)."""
    status, body = rest(server, "GET", f"/v1/objects/{cls}/{oid}")
    assert status == 200, body
    return sorted(r["beacon"] for r in body["properties"].get(prop) or [])


def refs(obj, prop):
    """The resolved targets of `prop` on a query result (an absent entry counts as none)."""
    got = obj.references or {}
    return got[prop].objects if prop in got else []


def ids(result):
    return sorted(o.uuid for o in result.objects)


def create_schema(client):
    self_provided = Configure.Vectors.self_provided()
    author = client.collections.create("Author", vector_config=self_provided, properties=[
        Property(name="name", data_type=DataType.TEXT), Property(name="age", data_type=DataType.INT)])
    book = client.collections.create(
        "Book", vector_config=self_provided,
        properties=[Property(name="title", data_type=DataType.TEXT), Property(name="year", data_type=DataType.INT)],
        references=[ReferenceProperty(name="writtenBy", target_collection="Author")])
    review = client.collections.create(
        "Review", vector_config=self_provided, properties=[Property(name="text", data_type=DataType.TEXT)],
        references=[ReferenceProperty(name="about", target_collection="Book")])
    shelf = client.collections.create(
        "Shelf", vector_config=self_provided, properties=[Property(name="label", data_type=DataType.TEXT)],
        references=[ReferenceProperty.MultiTarget(name="holds", target_collections=["Book", "Author"])])
    return SimpleNamespace(author=author, book=book, review=review, shelf=shelf)


def insert_authors_and_books(lib):
    res = lib.author.data.insert_many(
        [DataObject(properties={"name": n, "age": a}, uuid=A(i)) for i, (n, a) in enumerate(AUTHORS)])
    assert not res.has_errors, res.errors
    res = lib.book.data.insert_many(
        [DataObject(properties={"title": f"book {i}", "year": year(i)}, uuid=B(i), vector=vec(i)) for i in BOOKS])
    assert not res.has_errors, res.errors


@pytest.fixture
def library(weft):
    """The model above, written through four different client calls."""
    with weft.client() as client:
        lib = create_schema(client)
        insert_authors_and_books(lib)
        res = lib.book.data.reference_add_many([
            DataReference(from_property="writtenBy", from_uuid=B(b), to_uuid=[A(a) for a in authors])
            for b, authors in WRITTEN_BY.items() if authors
        ])
        assert not res.has_errors, res.errors
        res = lib.review.data.insert_many([
            DataObject(properties={"text": f"review {r}"}, uuid=R(r),
                       references={"about": [B(b) for b in about(r)]} if ABOUT[r] else None)
            for r in REVIEWS
        ])
        assert not res.has_errors, res.errors
        lib.shelf.data.insert({"label": "shelf 0"}, uuid=S(0),
                              references={"holds": ReferenceToMulti(target_collection="Book", uuids=[B(0), B(2)])})
        lib.shelf.data.reference_add(S(0), "holds", ReferenceToMulti(target_collection="Author", uuids=A(1)))
        res = lib.shelf.data.insert_many([DataObject(
            properties={"label": "shelf 1"}, uuid=S(1),
            references={"holds": ReferenceToMulti(target_collection="Author", uuids=[A(3), A(4)])})])
        assert not res.has_errors, res.errors
        yield lib


def test_schema_shows_reference_properties_with_their_targets(weft):
    with weft.client() as client:
        lib = create_schema(client)
        cfg = lib.book.config.get()
        assert sorted(p.name for p in cfg.properties) == ["title", "year"]
        assert {r.name: r.target_collections for r in cfg.references} == {"writtenBy": ["Author"]}
        assert {r.name: r.target_collections for r in lib.review.config.get().references} == {"about": ["Book"]}
        assert {r.name: r.target_collections for r in lib.shelf.config.get().references} == {
            "holds": ["Book", "Author"]}
        assert lib.author.config.get().references == []
        lib.book.config.add_reference(ReferenceProperty(name="editedBy", target_collection="Author"))
        assert {r.name: r.target_collections for r in lib.book.config.get().references} == {
            "writtenBy": ["Author"], "editedBy": ["Author"]}
    status, body = rest(weft, "GET", "/v1/schema/Shelf")
    assert status == 200
    assert {p["name"]: p["dataType"] for p in body["properties"]} == {"label": ["text"], "holds": ["Book", "Author"]}


def test_every_way_of_adding_replacing_and_deleting_references(weft):
    with weft.client() as client:
        lib = create_schema(client)
        insert_authors_and_books(lib)
        book = lib.book
        model = {b: [] for b in BOOKS}
        book.data.reference_add(B(0), "writtenBy", A(0))
        book.data.reference_add(B(0), "writtenBy", A(0))  # duplicates are kept
        model[0] += [0, 0]
        res = book.data.reference_add_many([
            DataReference(from_property="writtenBy", from_uuid=B(1), to_uuid=A(1)),
            DataReference(from_property="writtenBy", from_uuid=B(2), to_uuid=[A(1), A(2)]),
        ])
        assert not res.has_errors, res.errors
        model[1] += [1]
        model[2] += [1, 2]
        with book.batch.fixed_size(batch_size=2) as batch:
            batch.add_reference(from_uuid=B(3), from_property="writtenBy", to=A(2))
            batch.add_reference(from_uuid=B(4), from_property="writtenBy", to=[A(3), A(4)])
        assert book.batch.failed_references == []
        model[3] += [2]
        model[4] += [3, 4]
        book.data.insert({"title": "book 12", "year": year(12)}, uuid=B(12), vector=vec(12),
                         references={"writtenBy": [A(3), A(5)]})
        res = book.data.insert_many([
            DataObject(properties={"title": "book 13", "year": year(13)}, uuid=B(13), vector=vec(13),
                       references={"writtenBy": A(5)}),
            DataObject(properties={"title": "book 14", "year": year(14)}, uuid=B(14), vector=vec(14),
                       references={"writtenBy": [A(0), A(1), A(0)]}),
        ])
        assert not res.has_errors, res.errors
        model.update({12: [3, 5], 13: [5], 14: [0, 1, 0]})

        def check():
            for b, authors in model.items():
                # Class-less beacons from the client are stored with the single target class.
                assert stored(weft, "Book", B(b), "writtenBy") == sorted(beacon("Author", A(a)) for a in authors), b
                obj = book.query.fetch_object_by_id(
                    B(b), return_references=QueryReference(link_on="writtenBy", return_properties=["name"]))
                assert obj.properties == {"title": f"book {b}", "year": year(b)}
                got = refs(obj, "writtenBy")
                assert sorted(o.uuid for o in got) == sorted(A(a) for a in authors), b
                assert all(o.collection == "Author" for o in got)
                assert sorted(o.properties["name"] for o in got) == sorted(AUTHORS[a][0] for a in authors)
                assert all(set(o.properties) == {"name"} for o in got)
            zero = ids(book.query.fetch_objects(filters=Filter.by_ref_count("writtenBy").equal(0), limit=100))
            assert zero == sorted(B(b) for b, authors in model.items() if not authors)

        check()
        book.data.reference_replace(B(2), "writtenBy", [A(5), A(0)])
        model[2] = [5, 0]
        status, body = rest(weft, "GET", f"/v1/objects/Book/{B(2)}")
        assert [r["beacon"] for r in body["properties"]["writtenBy"]] == [beacon("Author", A(5)), beacon("Author", A(0))]
        book.data.reference_replace(B(1), "writtenBy", [])
        model[1] = []
        book.data.reference_replace(B(5), "writtenBy", A(4))  # a property never set before
        model[5] = [4]
        book.data.reference_delete(B(0), "writtenBy", A(0))  # removes both copies
        model[0] = []
        book.data.reference_delete(B(14), "writtenBy", A(0))
        model[14] = [1]
        book.data.reference_delete(B(4), "writtenBy", A(3))
        book.data.reference_delete(B(4), "writtenBy", A(5))  # not there: 204, nothing changes
        model[4] = [4]
        check()


def test_nested_and_multi_target_return_references(library):
    lib = library
    created = {o.uuid: o.metadata.creation_time for o in lib.book.query.fetch_objects(
        limit=100, return_metadata=MetadataQuery(creation_time=True)).objects}
    assert len(created) == len(BOOKS) and all(created.values())
    nested = QueryReference(
        link_on="about", return_properties=["title"], return_metadata=MetadataQuery(creation_time=True),
        return_references=QueryReference(link_on="writtenBy", return_properties=["name", "age"]))

    def check_review(obj):
        r = obj.uuid.int - 0xC000
        assert obj.properties == {"text": f"review {r}"}
        books = refs(obj, "about")
        assert sorted(b.uuid for b in books) == sorted(B(b) for b in about(r)), r
        for b in books:
            i = b.uuid.int - 0xB000
            assert b.collection == "Book"
            assert b.properties == {"title": f"book {i}"}
            assert b.metadata.creation_time == created[b.uuid]
            authors = refs(b, "writtenBy")
            assert sorted(a.uuid for a in authors) == sorted(A(a) for a in authors_of(i)), i
            for a in authors:
                name, age = AUTHORS[a.uuid.int - 0xA000]
                assert a.properties == {"name": name, "age": age}

    res = lib.review.query.fetch_objects(limit=100, return_references=nested)
    assert ids(res) == [R(r) for r in REVIEWS]
    for obj in res.objects:
        check_review(obj)
    check_review(lib.review.query.fetch_object_by_id(R(6), return_references=nested))

    # near_vector; no return_properties on the reference means every non-reference property.
    res = lib.book.query.near_vector(vec(3), limit=100, return_references=QueryReference(link_on="writtenBy"))
    assert ids(res) == [B(b) for b in BOOKS]
    for obj in res.objects:
        got = refs(obj, "writtenBy")
        assert sorted(a.uuid for a in got) == sorted(A(a) for a in authors_of(obj.uuid.int - 0xB000))
        assert all(a.properties == dict(zip(("name", "age"), AUTHORS[a.uuid.int - 0xA000])) for a in got)

    # Multi-target: only the requested collection's targets come back.
    for target, props in (("Book", ["title"]), ("Author", ["name"])):
        res = lib.shelf.query.fetch_objects(limit=100, return_references=QueryReference.MultiTarget(
            link_on="holds", target_collection=target, return_properties=props))
        assert ids(res) == [S(0), S(1)]
        for obj in res.objects:
            got = refs(obj, "holds")
            want = SHELVES[obj.uuid.int - 0xD000].get(target, [])
            make = B if target == "Book" else A
            assert sorted(o.uuid for o in got) == sorted(make(i) for i in want), (target, obj.uuid)
            assert all(o.collection == target and set(o.properties) == set(props) for o in got)


def test_reference_errors_and_unchecked_batch_targets(weft, library):
    book = library.book
    before = stored(weft, "Book", B(0), "writtenBy")

    def fails(status, call, *args, text=None, **kwargs):
        with pytest.raises(UnexpectedStatusCodeError) as e:
            call(*args, **kwargs)
        assert e.value.status_code == status, str(e.value)
        if text is not None:
            assert text in str(e.value)

    fails(422, book.data.reference_add, B(0), "writtenBy", MISSING, text="no object with id")
    fails(422, book.data.reference_add, B(0), "title", A(0), text="is not a reference-type")
    fails(422, book.data.reference_add, B(0), "nope", A(0), text="no such prop with name 'nope'")
    fails(404, book.data.reference_add, B(99), "writtenBy", A(0))
    fails(422, book.data.reference_replace, B(0), "writtenBy", [A(1), MISSING], text="no object with id")
    fails(404, book.data.reference_replace, B(99), "writtenBy", [A(1)])
    fails(404, book.data.reference_delete, B(99), "writtenBy", A(1))
    fails(422, book.data.insert, {"title": "x", "year": 1}, uuid=B(50), references={"writtenBy": MISSING},
          text="no object with id")
    assert stored(weft, "Book", B(0), "writtenBy") == before
    assert book.query.fetch_object_by_id(B(50)) is None
    # gRPC BatchObjects checks targets like a REST write, object by object.
    res = book.data.insert_many([
        DataObject(properties={"title": "book 51", "year": 1}, uuid=B(51), references={"writtenBy": A(0)}),
        DataObject(properties={"title": "book 52", "year": 1}, uuid=B(52), references={"writtenBy": MISSING}),
    ])
    assert set(res.errors) == {1} and "no object with id" in res.errors[1].message
    assert stored(weft, "Book", B(51), "writtenBy") == [beacon("Author", A(0))]
    assert book.query.fetch_object_by_id(B(52)) is None
    # /v1/batch/references does not check targets: the beacon is kept, and skipped on read.
    res = book.data.reference_add_many([
        DataReference(from_property="writtenBy", from_uuid=B(3), to_uuid=MISSING),
        DataReference(from_property="writtenBy", from_uuid=B(99), to_uuid=A(0)),
        DataReference(from_property="nope", from_uuid=B(3), to_uuid=A(0)),
        DataReference(from_property="writtenBy", from_uuid=B(3), to_uuid=A(2)),
    ])
    assert set(res.errors) == {1, 2}, res.errors
    assert "not found" in res.errors[1].message and "nope" in res.errors[2].message
    assert stored(weft, "Book", B(3), "writtenBy") == sorted([beacon("Author", MISSING), beacon("Author", A(2))])
    obj = book.query.fetch_object_by_id(B(3), return_references=QueryReference(link_on="writtenBy"))
    assert [o.uuid for o in refs(obj, "writtenBy")] == [A(2)]
    two = ids(book.query.fetch_objects(filters=Filter.by_ref_count("writtenBy").equal(2), limit=100))
    assert two == sorted([B(3)] + [B(b) for b in BOOKS if len(authors_of(b)) == 2])


def books_by(pred):
    return sorted(B(b) for b in BOOKS if any(pred(*AUTHORS[a]) for a in authors_of(b)))


def books_counting(pred):
    return sorted(B(b) for b in BOOKS if pred(len(authors_of(b))))


def reviews_about(books):
    return sorted(R(r) for r in REVIEWS if any(B(b) in books for b in about(r)))


def test_reference_filters_match_the_model(library):
    lib = library
    everything = set(books_counting(lambda n: True))
    book_cases = [
        (Filter.by_ref("writtenBy").by_property("name").equal("Borges"), books_by(lambda n, a: n == "Borges")),
        (Filter.by_ref("writtenBy").by_property("name").like("*o"), books_by(lambda n, a: n.endswith("o"))),
        (Filter.by_ref("writtenBy").by_property("age").greater_than(60), books_by(lambda n, a: a > 60)),
        (Filter.by_ref_count("writtenBy").equal(0), books_counting(lambda n: n == 0)),
        (Filter.by_ref_count("writtenBy").greater_than(1), books_counting(lambda n: n > 1)),
        (Filter.by_ref_count("writtenBy").less_or_equal(1), books_counting(lambda n: n <= 1)),
        (Filter.by_ref("writtenBy").by_property("name").equal("Ada") | Filter.by_ref_count("writtenBy").equal(0),
         sorted(set(books_by(lambda n, a: n == "Ada")) | set(books_counting(lambda n: n == 0)))),
        (Filter.by_ref("writtenBy").by_property("age").greater_than(60) & Filter.by_property("year").greater_or_equal(1950),
         [b for b in books_by(lambda n, a: a > 60) if b.int - 0xB000 >= 5]),
        (Filter.not_(Filter.by_ref("writtenBy").by_property("name").equal("Ada")),
         sorted(everything - set(books_by(lambda n, a: n == "Ada")))),
        (Filter.by_ref("writtenBy").by_property("name").equal("Nobody"), []),
    ]
    for f, want in book_cases:
        assert ids(lib.book.query.fetch_objects(filters=f, limit=100)) == want, f
        assert ids(lib.book.query.near_vector(vec(0), filters=f, limit=100)) == want, f
    borges = set(books_by(lambda n, a: n == "Borges"))
    review_cases = [
        (Filter.by_ref("about").by_property("year").greater_than(1950),
         reviews_about({B(b) for b in BOOKS if year(b) > 1950})),
        (Filter.by_ref("about").by_ref("writtenBy").by_property("name").equal("Borges"), reviews_about(borges)),
        (Filter.by_ref("about").by_ref("writtenBy").by_property("age").less_than(50),
         reviews_about(set(books_by(lambda n, a: a < 50)))),
        (Filter.by_ref_count("about").equal(0), [R(r) for r in REVIEWS if not about(r)]),
    ]
    for f, want in review_cases:
        assert want, f  # every case selects something
        assert ids(lib.review.query.fetch_objects(filters=f, limit=100)) == want, f
    shelf_cases = [
        (Filter.by_ref_multi_target("holds", target_collection="Author").by_property("name").equal("Eco"), [S(1)]),
        (Filter.by_ref_multi_target("holds", target_collection="Author").by_property("name").equal("Borges"), [S(0)]),
        (Filter.by_ref_multi_target("holds", target_collection="Book").by_property("year").less_than(1915), [S(0)]),
        (Filter.by_ref_multi_target("holds", target_collection="Book").by_property("year").greater_than(1950), []),
    ]
    for f, want in shelf_cases:
        assert ids(lib.shelf.query.fetch_objects(filters=f, limit=100)) == want, f
    with pytest.raises(WeaviateQueryError, match="expected reference property with a single target"):
        lib.shelf.query.fetch_objects(filters=Filter.by_ref("holds").by_property("name").equal("Eco"))

    old = Filter.by_ref("writtenBy").by_property("age").greater_than(60)
    assert lib.book.aggregate.over_all(total_count=True, filters=old).total_count == len(books_by(lambda n, a: a > 60))
    hop = Filter.by_ref("about").by_ref("writtenBy").by_property("name").equal("Borges")
    assert lib.review.aggregate.over_all(total_count=True, filters=hop).total_count == len(reviews_about(borges))

    early = {B(b) for b in BOOKS if year(b) < 1950}
    res = lib.review.data.delete_many(where=Filter.by_ref("about").by_property("year").less_than(1950), verbose=True)
    assert res.matches == res.successful == len(reviews_about(early)) and res.failed == 0
    assert sorted(o.uuid for o in res.objects) == reviews_about(early)
    assert ids(lib.review.query.fetch_objects(limit=100)) == sorted(set(R(r) for r in REVIEWS) - set(reviews_about(early)))
    res = lib.book.data.delete_many(where=Filter.by_ref_count("writtenBy").equal(0))
    assert res.matches == res.successful == len(books_counting(lambda n: n == 0))
    assert ids(lib.book.query.fetch_objects(limit=100)) == books_counting(lambda n: n > 0)


def test_deleting_a_target_leaves_the_referrers_beacons(weft, library):
    lib = library
    borges = [b for b in BOOKS if 1 in authors_of(b)]
    assert lib.author.data.delete_by_id(A(1))
    assert lib.book.data.delete_by_id(B(9))
    by_borges = Filter.by_ref("writtenBy").by_property("name").equal("Borges")
    for b in borges:
        if b == 9:
            continue  # deleted itself
        assert stored(weft, "Book", B(b), "writtenBy") == sorted(beacon("Author", A(a)) for a in authors_of(b))
    assert stored(weft, "Review", R(3), "about") == [beacon("Book", B(9))]
    assert stored(weft, "Shelf", S(0), "holds") == sorted([beacon("Book", B(0)), beacon("Book", B(2)), beacon("Author", A(1))])

    def resolved(b):
        obj = lib.book.query.fetch_object_by_id(B(b), return_references=QueryReference(link_on="writtenBy"))
        return sorted(o.uuid for o in refs(obj, "writtenBy"))

    assert resolved(2) == [A(2)] and resolved(1) == []
    obj = lib.review.query.fetch_object_by_id(R(3), return_references=QueryReference(link_on="about"))
    assert refs(obj, "about") == []
    res = lib.shelf.query.fetch_objects(limit=10, return_references=QueryReference.MultiTarget(
        link_on="holds", target_collection="Author"))
    assert {o.uuid: sorted(a.uuid for a in refs(o, "holds")) for o in res.objects} == {S(0): [], S(1): [A(3), A(4)]}
    assert ids(lib.book.query.fetch_objects(filters=by_borges, limit=100)) == []
    # The count is of stored beacons, so it does not change.
    counted = ids(lib.book.query.fetch_objects(filters=Filter.by_ref_count("writtenBy").greater_than(1), limit=100))
    assert counted == [b for b in books_counting(lambda n: n > 1) if b != B(9)]
    # The same id again: the untouched beacons resolve and filter again.
    lib.author.data.insert({"name": "Borges", "age": 86}, uuid=A(1))
    assert resolved(2) == sorted([A(1), A(2)]) and resolved(1) == [A(1)]
    assert ids(lib.book.query.fetch_objects(filters=by_borges, limit=100)) == [B(b) for b in borges if b != 9]


def test_kill9_during_reference_batches_keeps_every_acknowledged_reference(weft, seed):
    rng = random.Random(seed)
    n_authors, n_books, chunk, batches = 300, 100, 50, 60
    kill_after = rng.randint(4, 25) * chunk
    with weft.client() as client:
        lib = create_schema(client)
        for start in range(0, n_authors, 100):
            res = lib.author.data.insert_many([DataObject(properties={"name": f"author {i}", "age": i % 90}, uuid=A(i))
                                               for i in range(start, start + 100)])
            assert not res.has_errors, res.errors
        res = lib.book.data.insert_many([DataObject(properties={"title": f"book {i}", "year": year(i)}, uuid=B(i),
                                                    vector=vec(i)) for i in range(n_books)])
        assert not res.has_errors, res.errors
    acked, in_doubt, failed, died = [], [], [], []
    pairs = random.Random(seed + 1)

    def sender():
        with weft.client() as c:
            col = c.collections.get("Book")
            for _ in range(batches):
                todo = [(pairs.randrange(n_books), pairs.randrange(n_authors)) for _ in range(chunk)]
                try:
                    res = col.data.reference_add_many(
                        [DataReference(from_property="writtenBy", from_uuid=B(b), to_uuid=A(a)) for b, a in todo])
                except Exception as e:  # the server died mid-call: these may or may not be stored
                    in_doubt.extend(todo)
                    died.append(repr(e))
                    return
                for i, pair in enumerate(todo):
                    (failed if i in res.errors else acked).append(pair)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    deadline = time.monotonic() + 300
    while len(acked) < kill_after and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    weft.kill9()
    t.join(timeout=120)
    assert not failed, f"{len(failed)} valid references were refused"
    assert len(acked) >= kill_after, f"only {len(acked)} references acknowledged (seed {seed}): {died}"
    run = weft_verify(weft.data)
    assert run.returncode == 0, run.stdout + run.stderr

    weft.start()
    with weft.client() as client:
        book = client.collections.get("Book")
        empty = []
        for b in range(n_books):
            got = Counter(stored(weft, "Book", B(b), "writtenBy"))
            want = Counter(beacon("Author", A(a)) for bb, a in acked if bb == b)
            maybe = want + Counter(beacon("Author", A(a)) for bb, a in in_doubt if bb == b)
            lost = want - got
            assert not lost, f"book {b}: acknowledged references lost: {dict(lost)} (seed {seed})"
            extra = got - maybe
            assert not extra, f"book {b}: references never sent: {dict(extra)} (seed {seed})"
            if not got:
                empty.append(B(b))
            obj = book.query.fetch_object_by_id(B(b), return_references=QueryReference(link_on="writtenBy"))
            assert Counter(beacon("Author", o.uuid) for o in refs(obj, "writtenBy")) == got, b
        zero = ids(book.query.fetch_objects(filters=Filter.by_ref_count("writtenBy").equal(0), limit=1000))
        assert zero == sorted(empty)
    weft.terminate()
    run = weft_verify(weft.data)
    assert run.returncode == 0, run.stdout + run.stderr
