"""Multi-tenancy end to end through weaviate-client 4.24.1 (decision 0013, "Multi-tenancy config
and tenants API"): `multiTenancyConfig` on create and update (`enabled` immutable, the auto flags
not); the tenants API (`tenants.create`/`update`/`remove` are REST POST/PUT/DELETE
`/v1/schema/{C}/tenants`, `get`/`get_by_names` gRPC `TenantsGet`, `get_by_name` REST GET and
`exists` REST HEAD `/v1/schema/{C}/tenants/{name}`) with Weaviate's name, status and error rules;
one shard per tenant, so objects, queries, aggregates, delete_many, references and batches never
cross tenants; the four data-path errors; deactivation keeps data, auto activation and auto
creation; removal deletes data; restart and kill -9 leave every tenant whole. Answers are compared
with a plain-Python model: tenant -> {uuid: properties}."""

import math
import random
import threading
import time
import uuid

import pytest
from conftest import rest, weft_verify
from weaviate.classes.config import Configure, DataType, Property, ReferenceProperty, Reconfigure
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, QueryReference
from weaviate.classes.tenants import Tenant, TenantActivityStatus
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateInsertManyAllFailedError, WeaviateQueryError

ACTIVE, INACTIVE = TenantActivityStatus.ACTIVE, TenantActivityStatus.INACTIVE
ERRORS = (UnexpectedStatusCodeError, WeaviateQueryError, WeaviateInsertManyAllFailedError)
TENANTS = ["alpha", "beta", "Gamma_3", "delta-4"]
COUNTS = {"alpha": 6, "beta": 9, "Gamma_3": 3, "delta-4": 0}  # delta-4 stays empty
SHARED = uuid.UUID(int=0xF00D)  # one id in two tenants, a different object in each
SHARED_IN = {"alpha": {"title": "common shared alpha", "n": 100}, "beta": {"title": "common shared beta", "n": 200}}
NO_TENANT = "has multi-tenancy enabled, but request was without tenant"
WITH_TENANT = "has multi-tenancy disabled, but request was with tenant"


def oid(t, i): return uuid.UUID(int=(TENANTS.index(t) + 1) * 0x10000 + i)  # noqa: E704
def props(i): return {"title": f"common word{i % 3} item{i}", "n": i}  # noqa: E704


def vec(t, i):
    a, k = 0.3 * i + 0.05 * TENANTS.index(t), TENANTS.index(t)
    return [math.cos(a), math.sin(a), 0.2 * k + 0.1]


def shared_vec(t): return [1.0, 1.0, 1.0] if t == "alpha" else [-1.0, 1.0, 1.0]  # noqa: E704


def make_doc(client, name="Doc", **mt):
    return client.collections.create(
        name, vector_config=Configure.Vectors.self_provided(),
        properties=[Property(name="title", data_type=DataType.TEXT), Property(name="n", data_type=DataType.INT)],
        multi_tenancy_config=Configure.multi_tenancy(enabled=True, **mt))


def statuses(col):
    return {name: t.activity_status for name, t in col.tenants.get().items()}


def ids_in(col, tenant, **kw):
    return {o.uuid for o in col.with_tenant(tenant).query.fetch_objects(limit=10_000, **kw).objects}


def count_in(col, tenant):
    return col.with_tenant(tenant).aggregate.over_all(total_count=True).total_count


def error_of(call):
    with pytest.raises(ERRORS) as err:
        call()
    return str(err.value)


def check_model(doc, model):
    for t, objs in model.items():
        assert ids_in(doc, t) == set(objs), t
        assert count_in(doc, t) == len(objs), t


@pytest.fixture
def tenanted(weft):
    """Doc and Note (MT, Note.about -> Doc) with TENANTS, Plain (not MT); the model above written
    through insert_many (gRPC), insert (REST) and one client batch spanning two tenants."""
    model = {t: {oid(t, i): props(i) for i in range(COUNTS[t])} for t in TENANTS}
    with weft.client() as client:
        doc = make_doc(client)
        note = client.collections.create(
            "Note", vector_config=Configure.Vectors.self_provided(),
            properties=[Property(name="text", data_type=DataType.TEXT)],
            references=[ReferenceProperty(name="about", target_collection="Doc")],
            multi_tenancy_config=Configure.multi_tenancy(enabled=True))
        plain = client.collections.create("Plain", properties=[Property(name="title", data_type=DataType.TEXT)])
        doc.tenants.create([Tenant(name=t) for t in TENANTS])
        note.tenants.create(TENANTS)
        for t in TENANTS:
            items = [(u, p, vec(t, p["n"])) for u, p in model[t].items()]
            if len(items) > 1:
                res = doc.with_tenant(t).data.insert_many(
                    [DataObject(properties=p, uuid=u, vector=v) for u, p, v in items[:-1]])
                assert not res.has_errors, res.errors
            if items:
                u, p, v = items[-1]
                doc.with_tenant(t).data.insert(p, uuid=u, vector=v)
        with client.batch.fixed_size(batch_size=10) as batch:
            for t, p in SHARED_IN.items():
                batch.add_object(collection="Doc", properties=p, uuid=SHARED, vector=shared_vec(t), tenant=t)
        assert client.batch.failed_objects == []
        for t, p in SHARED_IN.items():
            model[t][SHARED] = p
        plain.data.insert({"title": "plain"}, uuid=uuid.UUID(int=1))
        yield client, model


def test_multi_tenancy_config_on_create_and_update(weft):
    with weft.client() as client:
        doc = make_doc(client)
        cfg = doc.config.get().multi_tenancy_config
        assert (cfg.enabled, cfg.auto_tenant_creation, cfg.auto_tenant_activation) == (True, False, False)
        client.collections.create("Plain")
        assert client.collections.get("Plain").config.get().multi_tenancy_config.enabled is False
        for cls, enabled in (("Doc", False), ("Plain", True)):
            status, body = rest(weft, "GET", f"/v1/schema/{cls}")
            body["multiTenancyConfig"] = {"enabled": enabled}
            status, body = rest(weft, "PUT", f"/v1/schema/{cls}", body)
            assert status == 422, (cls, status, body)
        assert client.collections.get("Plain").config.get().multi_tenancy_config.enabled is False
        doc.config.update(multi_tenancy_config=Reconfigure.multi_tenancy(
            auto_tenant_creation=True, auto_tenant_activation=True))
        cfg = doc.config.get().multi_tenancy_config
        assert (cfg.enabled, cfg.auto_tenant_creation, cfg.auto_tenant_activation) == (True, True, True)
        doc.config.update(multi_tenancy_config=Reconfigure.multi_tenancy(auto_tenant_creation=False))
        cfg = doc.config.get().multi_tenancy_config
        assert (cfg.enabled, cfg.auto_tenant_creation, cfg.auto_tenant_activation) == (True, False, True)


def test_tenants_api_statuses_names_and_errors(weft):
    with weft.client() as client:
        doc = make_doc(client)
        doc.tenants.create([Tenant(name="t1"), Tenant(name="t2", activity_status=INACTIVE), "t-3_x", "x" * 64])
        model = {"t1": ACTIVE, "t2": INACTIVE, "t-3_x": ACTIVE, "x" * 64: ACTIVE}
        assert statuses(doc) == model
        assert doc.tenants.get_by_name("t2").activity_status == INACTIVE
        assert doc.tenants.get_by_name("nope") is None
        assert {n: t.activity_status for n, t in doc.tenants.get_by_names(["t1", "nope", "t2"]).items()} == {
            "t1": ACTIVE, "t2": INACTIVE}
        assert doc.tenants.exists("t-3_x") and not doc.tenants.exists("nope")
        # On the wire statuses are Weaviate's stored names.
        status, body = rest(weft, "GET", "/v1/schema/Doc/tenants")
        assert status == 200
        assert sorted((t["name"], t["activityStatus"]) for t in body) == sorted(
            (n, "HOT" if s == ACTIVE else "COLD") for n, s in model.items())
        status, body = rest(weft, "GET", "/v1/schema/Doc/tenants/t2")
        assert status == 200 and (body["name"], body["activityStatus"]) == ("t2", "COLD"), body
        assert rest(weft, "GET", "/v1/schema/Doc/tenants/nope")[0] == 404

        doc.tenants.create([Tenant(name="t2", activity_status=ACTIVE), Tenant(name="t5")])  # t2 exists: skipped
        model["t5"] = ACTIVE
        assert statuses(doc) == model
        for bad in ["has space", "x" * 65, "dot.name", "ümlaut", "sl/ash"]:
            msg = error_of(lambda: doc.tenants.create([Tenant(name="fine"), Tenant(name=bad)]))
            assert "422" in msg and "is not a valid tenant name" in msg, (bad, msg)
        assert statuses(doc) == model  # nothing of a refused request is created
        msg = error_of(lambda: doc.tenants.update([Tenant(name="t1", activity_status=TenantActivityStatus.OFFLOADED)]))
        assert "422" in msg and "offload" in msg, msg
        msg = error_of(lambda: doc.tenants.update([Tenant(name="unknown", activity_status=INACTIVE)]))
        assert "422" in msg and "not found" in msg, msg
        assert statuses(doc) == model
        doc.tenants.update([Tenant(name="t1", activity_status=INACTIVE), Tenant(name="t2", activity_status=ACTIVE)])
        model.update(t1=INACTIVE, t2=ACTIVE)
        assert statuses(doc) == model
        doc.tenants.remove(["t1", "never-existed"])
        doc.tenants.remove("t1")  # removing again is fine
        del model["t1"]
        assert statuses(doc) == model

        plain = client.collections.create("Plain")
        for call in (lambda: plain.tenants.create(["a"]), lambda: plain.tenants.remove(["a"]),
                     lambda: plain.tenants.update([Tenant(name="a", activity_status=INACTIVE)]),
                     lambda: plain.tenants.get()):
            assert "multi-tenancy is not enabled for class" in error_of(call)


def test_each_tenant_sees_only_its_own_objects(weft, tenanted):
    client, model = tenanted
    doc = client.collections.get("Doc")
    check_model(doc, model)
    for t, objs in model.items():
        col = doc.with_tenant(t)
        got = col.query.fetch_object_by_id(SHARED)
        assert (got.properties if got else None) == SHARED_IN.get(t), t
        assert ids_in(doc, t, filters=Filter.by_property("n").greater_or_equal(2)) == {
            u for u, p in objs.items() if p["n"] >= 2}
        assert {o.uuid for o in col.query.bm25("word1", limit=100).objects} == {
            u for u, p in objs.items() if "word1" in p["title"].split()}
        assert {o.uuid for o in col.query.bm25("common", limit=100).objects} == set(objs)
        for u, p in objs.items():
            own = shared_vec(t) if u == SHARED else vec(t, p["n"])
            hits = col.query.near_vector(own, limit=3).objects
            assert hits[0].uuid == u and {h.uuid for h in hits} <= set(objs), (t, u)
        for other in TENANTS:
            for u in model[other]:
                assert col.data.exists(u) == (u in objs), (t, other, u)
        for u, p in objs.items():
            status, body = rest(weft, "GET", f"/v1/objects/Doc/{u}?tenant={t}")
            assert status == 200 and body["properties"] == p and body.get("tenant") == t, body
    assert rest(weft, "GET", f"/v1/objects/Doc/{oid('alpha', 0)}?tenant=beta")[0] == 404
    status, body = rest(weft, "GET", f"/v1/objects/Doc/{oid('alpha', 0)}")
    assert status == 422 and NO_TENANT in body, body
    assert {o.uuid for o in doc.with_tenant("delta-4").query.near_vector([1, 0, 0], limit=5).objects} == set()


def test_delete_many_and_references_stay_in_their_tenant(tenanted):
    client, model = tenanted
    doc, note = client.collections.get("Doc"), client.collections.get("Note")
    res = doc.with_tenant("beta").data.delete_many(where=Filter.by_property("n").less_than(4))
    gone = {u for u, p in model["beta"].items() if p["n"] < 4}
    assert res.matches == len(gone) == 4 and res.successful == 4
    model["beta"] = {u: p for u, p in model["beta"].items() if u not in gone}
    check_model(doc, model)  # alpha's and Gamma_3's n < 4 are untouched

    n_alpha, n_beta = uuid.UUID(int=0xA1), uuid.UUID(int=0xB1)
    note.with_tenant("alpha").data.insert({"text": "a"}, uuid=n_alpha, references={"about": [SHARED, oid("alpha", 0)]})
    note.with_tenant("beta").data.insert({"text": "b"}, uuid=n_beta)
    note.with_tenant("beta").data.reference_add(n_beta, "about", SHARED)
    expect = {("alpha", n_alpha): {"common shared alpha", props(0)["title"]}, ("beta", n_beta): {"common shared beta"}}
    for (t, n), titles in expect.items():
        assert ids_in(note, t) == {n}
        obj = note.with_tenant(t).query.fetch_object_by_id(
            n, return_references=QueryReference(link_on="about", return_properties=["title"]))
        assert {o.properties["title"] for o in obj.references["about"].objects} == titles, t
    assert note.with_tenant("beta").query.fetch_object_by_id(n_alpha) is None


def test_data_path_errors_name_the_problem(tenanted):
    client, model = tenanted
    doc, plain = client.collections.get("Doc"), client.collections.get("Plain")
    doc.tenants.update([Tenant(name="Gamma_3", activity_status=INACTIVE)])
    new = uuid.UUID(int=0xE0)
    calls = {
        "fetch_objects": lambda c: c.query.fetch_objects(),
        "near_vector": lambda c: c.query.near_vector([1.0, 0.0, 0.0]),
        "aggregate": lambda c: c.aggregate.over_all(total_count=True),
        "insert (REST)": lambda c: c.data.insert({"title": "x"}, uuid=new, vector=[1.0, 0.0, 0.0]),
        "insert_many (gRPC)": lambda c: c.data.insert_many(
            [DataObject(properties={"title": "x"}, uuid=new, vector=[1.0, 0.0, 0.0])]),
        "delete_many": lambda c: c.data.delete_many(where=Filter.by_property("title").equal("x")),
    }
    cases = [(doc, NO_TENANT), (plain.with_tenant("alpha"), WITH_TENANT),
             (doc.with_tenant("nope"), "tenant not found"), (doc.with_tenant("Gamma_3"), "tenant not active")]
    for col, expected in cases:
        for name, call in calls.items():
            msg = error_of(lambda: call(col))
            assert expected in msg, (name, expected, msg)
    # One batch over four destinations: only the good one is written.
    good, targets = uuid.UUID(int=0xE1), {None: NO_TENANT, "nope": "tenant not found", "Gamma_3": "tenant not active"}
    with client.batch.fixed_size(batch_size=10) as batch:
        batch.add_object(collection="Doc", properties=props(50), uuid=good, vector=vec("alpha", 50), tenant="alpha")
        for i, t in enumerate(targets):
            batch.add_object(collection="Doc", properties=props(i), uuid=uuid.UUID(int=0xE2 + i), tenant=t)
    failed = {f.object_.tenant: f.message for f in client.batch.failed_objects}
    assert failed.keys() == targets.keys()
    for t, expected in targets.items():
        assert expected in failed[t], (t, failed[t])
    model["alpha"][good] = props(50)
    doc.tenants.update([Tenant(name="Gamma_3", activity_status=ACTIVE)])
    check_model(doc, model)
    assert len(plain.query.fetch_objects().objects) == 1


def test_deactivation_keeps_data_and_auto_activation_wakes_tenants(tenanted):
    client, model = tenanted
    doc = client.collections.get("Doc")
    doc.tenants.update([Tenant(name=t, activity_status=INACTIVE) for t in TENANTS])
    assert statuses(doc) == {t: INACTIVE for t in TENANTS}
    assert "tenant not active" in error_of(lambda: doc.with_tenant("alpha").query.fetch_objects())
    doc.tenants.update([Tenant(name=t, activity_status=ACTIVE) for t in TENANTS])
    check_model(doc, model)

    doc.config.update(multi_tenancy_config=Reconfigure.multi_tenancy(auto_tenant_activation=True))
    doc.tenants.deactivate(["alpha", "beta", "Gamma_3"])
    assert ids_in(doc, "alpha") == set(model["alpha"])  # a read activates
    assert statuses(doc) == {"alpha": ACTIVE, "beta": INACTIVE, "Gamma_3": INACTIVE, "delta-4": ACTIVE}
    doc.with_tenant("beta").data.insert(props(40), uuid=oid("beta", 40), vector=vec("beta", 40))  # REST write
    res = doc.with_tenant("Gamma_3").data.insert_many(
        [DataObject(properties=props(41), uuid=oid("Gamma_3", 41), vector=vec("Gamma_3", 41))])  # gRPC write
    assert not res.has_errors, res.errors
    model["beta"][oid("beta", 40)], model["Gamma_3"][oid("Gamma_3", 41)] = props(40), props(41)
    assert statuses(doc) == {t: ACTIVE for t in TENANTS}
    check_model(doc, model)


def test_auto_tenant_creation_on_writes_only(weft):
    with weft.client() as client:
        col = make_doc(client, "Auto", auto_tenant_creation=True)
        model = {"by-insert": {uuid.UUID(int=1): props(1)},
                 "by_insert_many": {uuid.UUID(int=i): props(i) for i in range(2, 5)}}
        col.with_tenant("by-insert").data.insert(props(1), uuid=uuid.UUID(int=1))
        res = col.with_tenant("by_insert_many").data.insert_many(
            [DataObject(properties=p, uuid=u) for u, p in model["by_insert_many"].items()])
        assert not res.has_errors, res.errors
        assert statuses(col) == {t: ACTIVE for t in model}
        assert "tenant not found" in error_of(lambda: col.with_tenant("by-query").query.fetch_objects())
        assert not col.tenants.exists("by-query")
        check_model(col, model)
        col.config.update(multi_tenancy_config=Reconfigure.multi_tenancy(auto_tenant_creation=False))
        assert "tenant not found" in error_of(lambda: col.with_tenant("later").data.insert(props(9)))
        assert statuses(col) == {t: ACTIVE for t in model}


def test_removing_a_tenant_deletes_its_data_and_shards_follow_tenants(weft, tenanted):
    client, model = tenanted
    doc = client.collections.get("Doc")
    status, shards = rest(weft, "GET", "/v1/schema/Doc/shards")
    assert status == 200 and sorted(s["name"] for s in shards) == sorted(TENANTS), shards
    assert sorted(s.name for s in doc.config.get_shards()) == sorted(TENANTS)
    doc.tenants.remove(["alpha"])
    assert not doc.tenants.exists("alpha")
    assert "tenant not found" in error_of(lambda: doc.with_tenant("alpha").query.fetch_objects())
    status, shards = rest(weft, "GET", "/v1/schema/Doc/shards")
    assert sorted(s["name"] for s in shards) == sorted(set(TENANTS) - {"alpha"})
    doc.tenants.create(["alpha"])
    model["alpha"] = {}
    check_model(doc, model)
    assert sorted(s["name"] for s in rest(weft, "GET", "/v1/schema/Doc/shards")[1]) == sorted(TENANTS)
    assert doc.with_tenant("alpha").query.fetch_object_by_id(SHARED) is None
    assert doc.with_tenant("beta").query.fetch_object_by_id(SHARED).properties == SHARED_IN["beta"]
    assert rest(weft, "GET", f"/v1/objects/Doc/{oid('alpha', 0)}?tenant=alpha")[0] == 404


def test_tenants_statuses_and_data_survive_restarts(weft, tenanted):
    client, model = tenanted
    doc = client.collections.get("Doc")
    doc.tenants.deactivate("Gamma_3")
    expected = {t: INACTIVE if t == "Gamma_3" else ACTIVE for t in TENANTS}
    for restart in ("terminate", "kill"):
        if restart == "terminate":
            assert weft.terminate() == 0
        else:
            weft.stop()
        weft.start()
        with weft.client() as c:
            doc = c.collections.get("Doc")
            assert doc.config.get().multi_tenancy_config.enabled
            assert statuses(doc) == expected, restart
            assert "tenant not active" in error_of(lambda: doc.with_tenant("Gamma_3").query.fetch_objects())
            check_model(doc, {t: objs for t, objs in model.items() if t != "Gamma_3"})
            assert ids_in(c.collections.get("Note"), "alpha") == set()
    with weft.client() as c:
        doc = c.collections.get("Doc")
        doc.tenants.activate("Gamma_3")
        check_model(doc, model)


def test_a_thousand_and_one_tenants_in_one_call(weft):
    names = [f"t{i:04d}" for i in range(1001)]
    with weft.client() as client:
        doc = make_doc(client)
        doc.tenants.create([Tenant(name=n) for n in names])
        assert statuses(doc) == {n: ACTIVE for n in names}
        assert len(rest(weft, "GET", "/v1/schema/Doc/tenants")[1]) == 1001
        assert set(doc.tenants.get_by_names(["t0000", "t1000", "t9999"])) == {"t0000", "t1000"}
        doc.with_tenant("t0500").data.insert(props(1), uuid=uuid.UUID(int=1))
    assert weft.terminate() == 0
    weft.start()
    with weft.client() as client:
        doc = client.collections.get("Doc")
        assert len(doc.tenants.get()) == 1001
        check_model(doc, {"t0500": {uuid.UUID(int=1): props(1)}, "t0001": {}, "t1000": {}})
        doc.with_tenant("t1000").data.insert(props(2), uuid=uuid.UUID(int=2))
        assert ids_in(doc, "t1000") == {uuid.UUID(int=2)}


def test_kill9_while_creating_tenants_keeps_every_acknowledged_one(weft, seed):
    rng = random.Random(seed)
    size, batches = 50, 30
    kill_after = rng.randint(2, 16) * size
    with weft.client() as client:
        make_doc(client)
    acked, in_doubt, died = [], [], []

    def creator():
        with weft.client() as c:
            col = c.collections.get("Doc")
            for b in range(batches):
                names = [f"k{b:03d}-{i:02d}" for i in range(size)]
                try:
                    col.tenants.create([Tenant(name=n) for n in names])
                except Exception as e:  # the server died mid-call: these may or may not exist
                    in_doubt.extend(names)
                    died.append(repr(e))
                    return
                acked.extend(names)

    t = threading.Thread(target=creator, daemon=True)
    t.start()
    deadline = time.monotonic() + 300
    while len(acked) < kill_after and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    weft.kill9()
    t.join(timeout=120)
    assert len(acked) >= kill_after, f"only {len(acked)} tenants acknowledged (seed {seed}): {died}"
    run = weft_verify(weft.data)
    assert run.returncode == 0, run.stdout + run.stderr

    weft.start()
    with weft.client() as client:
        col = client.collections.get("Doc")
        listed = statuses(col)
        lost = sorted(set(acked) - set(listed))
        assert not lost, f"{len(lost)} acknowledged tenants lost, e.g. {lost[:5]} (seed {seed})"
        assert set(listed) <= set(acked) | set(in_doubt)
        assert set(listed.values()) == {ACTIVE}
        for name in sorted(listed):
            u = uuid.uuid5(uuid.NAMESPACE_DNS, name)
            col.with_tenant(name).data.insert({"title": name, "n": 1}, uuid=u, vector=[1.0, 0.5, 0.25])
            assert ids_in(col, name) == {u}, name
    assert weft.terminate() == 0
    run = weft_verify(weft.data)
    assert run.returncode == 0, run.stdout + run.stderr


def test_kill9_while_deactivating_and_removing_leaves_each_tenant_whole(weft, seed):
    rng = random.Random(seed)
    names = [f"s{i:02d}" for i in range(40)]
    data = {n: {uuid.UUID(int=(i + 1) * 1000 + j): props(j) for j in range(1 + i % 4)} for i, n in enumerate(names)}
    with weft.client() as client:
        col = make_doc(client)
        col.tenants.create(names)
        for n, objs in data.items():
            res = col.with_tenant(n).data.insert_many(
                [DataObject(properties=p, uuid=u, vector=vec("alpha", p["n"])) for u, p in objs.items()])
            assert not res.has_errors, res.errors
    state = {n: "ACTIVE" for n in names}  # last acknowledged state, None = removed
    pending, acked, died, finished = {}, [0], [], []
    kill_after = rng.randint(3, 40)

    def churn():
        ops = random.Random(seed + 1)
        with weft.client() as c:
            tenants = c.collections.get("Doc").tenants
            for _ in range(500):
                alive = [n for n in names if state[n] is not None]
                if len(alive) < 3:
                    break
                picked = ops.sample(alive, ops.randint(1, 3))
                kind = ops.choice(["INACTIVE", "INACTIVE", "ACTIVE", "remove"])
                target = {n: None if kind == "remove" else kind for n in picked}
                pending.update(target)
                try:
                    if kind == "remove":
                        tenants.remove(picked)
                    else:
                        tenants.update([Tenant(name=n, activity_status=TenantActivityStatus(kind)) for n in picked])
                except Exception as e:  # the server died mid-call: each picked tenant is old or new
                    died.append(repr(e))
                    return
                state.update(target)
                pending.clear()
                acked[0] += 1
        finished.append(True)

    t = threading.Thread(target=churn, daemon=True)
    t.start()
    deadline = time.monotonic() + 300
    while acked[0] < kill_after and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.002)
    weft.kill9()
    t.join(timeout=120)
    assert acked[0] >= kill_after or finished, f"only {acked[0]} calls acknowledged (seed {seed}): {died}"
    run = weft_verify(weft.data)
    assert run.returncode == 0, run.stdout + run.stderr

    weft.start()
    with weft.client() as client:
        col = client.collections.get("Doc")
        listed = {n: s.value for n, s in statuses(col).items()}
        assert set(listed) <= set(names)
        for n in names:
            allowed = {state[n]} | ({pending[n]} if n in pending else set())
            assert listed.get(n) in allowed, f"{n}: {listed.get(n)} not in {allowed} (seed {seed})"
            if n in listed:
                if listed[n] == "INACTIVE":
                    col.tenants.activate(n)
                assert ids_in(col, n) == set(data[n]), f"{n}: partial data (seed {seed})"
                assert count_in(col, n) == len(data[n])
        assert statuses(col) == {n: ACTIVE for n in listed}


def test_backup_and_restore_of_a_multi_tenant_class_keeps_every_tenant(make_weft, tmp_path):
    """A backup holds every tenant's shard (active or not) with its status; a restore on a fresh
    server brings back the tenants, their statuses and their objects, and nothing else."""
    from weaviate.classes.backup import BackupStorage

    env = {"ENABLE_MODULES": "backup-filesystem", "BACKUP_FILESYSTEM_PATH": str(tmp_path / "bk")}
    src = make_weft(env).start()
    model = {}
    with src.client() as client:
        mt = client.collections.create("Tenanted", properties=[Property(name="t", data_type=DataType.TEXT)],
                                       multi_tenancy_config=Configure.multi_tenancy(enabled=True),
                                       vector_config=Configure.Vectors.self_provided())
        names = [f"t{i}" for i in range(6)]
        mt.tenants.create([Tenant(name=n) for n in names])
        for i, n in enumerate(names[:5]):  # t5 stays empty (its shard never opened)
            objs = [DataObject(properties={"t": f"{n} object {j}"}, uuid=uuid.UUID(int=1000 * i + j),
                               vector=[1.0, float(j)]) for j in range(10 + i)]
            assert not mt.with_tenant(n).data.insert_many(objs).has_errors
            model[n] = {o.uuid for o in objs}
        model[names[5]] = set()
        mt.tenants.update([Tenant(name=n, activity_status=INACTIVE) for n in ("t1", "t3")])
        done = client.backup.create("mt-backup", BackupStorage.FILESYSTEM, wait_for_completion=True)
        assert done.status.value == "SUCCESS", done
        # Changes after the backup are not in it.
        mt.with_tenant("t0").data.insert({"t": "later"}, uuid=uuid.UUID(int=99999), vector=[0.0, 1.0])
    src.stop()
    dst = make_weft(env).start()
    with dst.client() as client:
        done = client.backup.restore("mt-backup", BackupStorage.FILESYSTEM, wait_for_completion=True)
        assert done.status.value == "SUCCESS", done
        mt = client.collections.get("Tenanted")
        got = {n: t.activity_status for n, t in mt.tenants.get().items()}
        assert got == {n: (INACTIVE if n in ("t1", "t3") else ACTIVE) for n in model}
        mt.tenants.update([Tenant(name=n, activity_status=ACTIVE) for n in ("t1", "t3")])
        for n, ids in model.items():
            found = {o.uuid for o in mt.with_tenant(n).query.fetch_objects(limit=100).objects}
            assert found == ids, n
        assert mt.with_tenant("t2").query.near_vector([1.0, 3.0], limit=1).objects[0].uuid == uuid.UUID(int=2003)
    dst.stop()
    run = weft_verify(dst.data)
    assert run.returncode == 0, run.stdout + run.stderr
