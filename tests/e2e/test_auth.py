"""API-key authentication and the admin list with the official client, over REST and gRPC."""

import json
import urllib.error
import urllib.request

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.init import Auth
from weaviate.exceptions import (
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateBaseError,
)

ADMIN_KEY = "admin-secret-key"
READER_KEY = "reader-secret-key"

AUTH_ENV = {
    "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "false",
    "AUTHENTICATION_APIKEY_ENABLED": "true",
    "AUTHENTICATION_APIKEY_ALLOWED_KEYS": f"{ADMIN_KEY},{READER_KEY}",
    "AUTHENTICATION_APIKEY_USERS": "alice,bob",
    "AUTHORIZATION_ADMINLIST_ENABLED": "true",
    "AUTHORIZATION_ADMINLIST_USERS": "alice",
    "AUTHORIZATION_ADMINLIST_READONLY_USERS": "bob",
}


def request(server, method, path, body=None, key=None):
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def server(make_weft):
    return make_weft(AUTH_ENV).start()


def connect(server, key):
    return weaviate.connect_to_local(
        port=server.port, grpc_port=server.grpc_port, auth_credentials=Auth.api_key(key)
    )


def test_without_a_key_everything_but_the_open_endpoints_is_401(server):
    for path in ["/v1", "/v1/.well-known/live", "/v1/.well-known/ready"]:
        status, _ = request(server, "GET", path)
        assert status == 200, path
    status, _ = request(server, "GET", "/v1/.well-known/openid-configuration")
    assert status == 404
    for method, path, body in [
        ("GET", "/v1/meta", None),
        ("GET", "/v1/schema", None),
        ("POST", "/v1/schema", {"class": "A"}),
        ("GET", "/v1/objects", None),
        ("POST", "/v1/objects", {"class": "A"}),
        ("GET", "/v1/nodes", None),
        ("POST", "/v1/batch/objects", {"objects": []}),
        ("GET", "/v1/backups/filesystem", None),
        ("GET", "/v1/no-such-route", None),
    ]:
        status, text = request(server, method, path, body)
        assert status == 401, (method, path, status, text)
        assert json.loads(text) == {
            "code": 401,
            "message": "anonymous access not enabled. Please authenticate through one of the available methods: [API-keys]",
        }
    status, text = request(server, "GET", "/v1/schema", key="wrong-key")
    assert status == 401 and "invalid api key" in text
    # The keys never reach the log.
    log = server.log()
    assert ADMIN_KEY not in log and READER_KEY not in log and "wrong-key" not in log


def test_the_client_with_keys_over_rest_and_grpc(server):
    with connect(server, ADMIN_KEY) as admin:
        admin.collections.create(
            "Article",
            properties=[Property(name="title", data_type=DataType.TEXT)],
            vector_config=Configure.Vectors.self_provided(),
        )
        articles = admin.collections.get("Article")
        res = articles.data.insert_many([{"title": "grpc"}])  # gRPC
        assert not res.has_errors
        articles.data.insert({"title": "rest"}, vector=[0.1, 0.2])  # REST
        assert len(articles) == 2  # gRPC aggregate
    with connect(server, READER_KEY) as reader:
        articles = reader.collections.get("Article")
        assert {o.properties["title"] for o in articles.query.fetch_objects().objects} == {"grpc", "rest"}
        assert reader.collections.exists("Article")
        # Writes are forbidden: REST 403, gRPC PERMISSION_DENIED.
        with pytest.raises(InsufficientPermissionsError):
            articles.data.insert({"title": "nope"})
        with pytest.raises(InsufficientPermissionsError):
            reader.collections.create("Other")
        res = None
        with pytest.raises(WeaviateBaseError) as e:
            res = articles.data.insert_many([{"title": "nope"}])
            if res.has_errors:
                raise WeaviateBaseError(str(res.errors))
        assert "insufficient permissions" in str(e.value) or "PERMISSION_DENIED" in str(e.value), str(e.value)
        assert len(articles) == 2
    status, text = request(server, "POST", "/v1/objects", {"class": "Article", "properties": {"title": "x"}}, key=READER_KEY)
    assert status == 403, text
    assert json.loads(text)["error"][0]["message"] == (
        "adminlist: authorization, forbidden action: user 'bob' has insufficient permissions to create [/v1/objects]"
    )


def test_a_wrong_key_fails_the_client_connect(server):
    with pytest.raises(WeaviateBaseError):
        client = connect(server, "not-a-key")
        client.close()


def test_bad_auth_settings_stop_the_start(make_weft):
    for env, text in [
        ({"AUTHENTICATION_APIKEY_ENABLED": "true"}, "AUTHENTICATION_APIKEY_ALLOWED_KEYS"),
        (
            {
                "AUTHENTICATION_APIKEY_ENABLED": "true",
                "AUTHENTICATION_APIKEY_ALLOWED_KEYS": "a,b,c",
                "AUTHENTICATION_APIKEY_USERS": "x,y",
            },
            "AUTHENTICATION_APIKEY_USERS",
        ),
        ({"AUTHENTICATION_OIDC_ENABLED": "true"}, "OIDC authentication is not supported"),
    ]:
        w = make_weft(env)
        with pytest.raises(RuntimeError) as e:
            w.start(timeout=20)
        assert text in str(e.value), str(e.value)
