"""A client of the JSON API for the tests: every answer it receives is
checked against the OpenAPI document the daemon serves (the status must be
documented for the operation, and the body must match its schema), so a
test of any feature is also a test of the document."""
import json
import re

from jsonschema import Draft202012Validator, RefResolver

from harness import make_request, parse_response

_docs = {}


def openapi(d, host):
    key = (d.port, host)
    if key not in _docs:
        st, _, body = parse_response(d.raw(make_request("GET", "/api/v1/openapi.json", host,
                                                        {"Connection": "close"})))
        assert st == 200
        _docs[key] = json.loads(body)
    return _docs[key]


def operation(doc, method, path):
    """The operation object for METHOD and a concrete PATH, or None."""
    path = path.split("?", 1)[0]
    for template, item in doc["paths"].items():
        rx = "^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(rx, path) and method.lower() in item:
            return item[method.lower()]
    return None


def check_answer(doc, method, path, status, body):
    op = operation(doc, method, path)
    assert op is not None, f"{method} {path} is not in openapi.json"
    responses = op["responses"]
    spec = responses.get(str(status))
    assert spec is not None, f"{method} {path} answered {status}, not documented ({sorted(responses)})"
    if "$ref" in spec:
        spec = doc["components"]["responses"][spec["$ref"].rsplit("/", 1)[1]]
    schema = spec.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return
    validator = Draft202012Validator(schema, resolver=RefResolver.from_schema(doc))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method} {path} {status}: {errors[0].message} at {list(errors[0].path)}"


class Api:
    """Calls /api/v1 on HOST with an API token, or with a Browser's session
    cookies (and its CSRF token for changes)."""

    def __init__(self, d, host, token=None, browser=None, csrf=None):
        self.d, self.host, self.token, self.browser, self.csrf = d, host, token, browser, csrf

    def call(self, method, path, body=None, headers=None, raw=None, check=True):
        h = {"Connection": "close", "Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if self.browser is not None and self.browser.jar:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.browser.jar.items())
        if self.csrf:
            h["X-CSRF-Token"] = self.csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if raw is not None:
            data = raw
        h.update(headers or {})
        st, hdr, out = parse_response(self.d.raw(make_request(method, "/api/v1" + path, self.host, h, data)))
        parsed = json.loads(out) if out else None
        if check and st != 304:
            assert hdr.get("content-type") == "application/json", hdr
            check_answer(openapi(self.d, self.host), method, path, st, parsed)
        return st, hdr, parsed

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def pages(self, path, limit=2):
        """Every item of a paginated list, following next_cursor."""
        items, cursor, seen = [], None, 0
        while True:
            sep = "&" if "?" in path else "?"
            st, _, body = self.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
            assert st == 200, body
            assert len(body["items"]) <= limit
            items += body["items"]
            cursor = body["next_cursor"]
            seen += 1
            if not cursor:
                return items
            assert seen < 1000
