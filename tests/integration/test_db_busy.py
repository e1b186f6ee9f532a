"""A database that cannot do it now: a statement that runs past the
daemon's db_statement_timeout (here: it waits for a lock another session
holds) is answered 503 with Retry-After, as when the database is gone, and
nothing of the change is kept; once the lock goes the same request
succeeds. A request that is wrong is still 4xx, and a fault of ours 500."""
import pytest

from world import HOST, World


@pytest.fixture(scope="module")
def busy(make_daemon_module, pg):
    d = make_daemon_module({"db_statement_timeout": "2s"}, pg.daemon_env())
    return World(d, pg), pg


def locked(pg, table):
    """A session holding TABLE locked against every read and write."""
    conn = pg.connect("super")
    conn.autocommit = False
    conn.cursor().execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    return conn


def title_of(pg, tid):
    conn = pg.connect("super")
    try:
        cur = conn.cursor()
        cur.execute("SELECT title FROM tables WHERE id = %s", (tid,))
        return cur.fetchone()[0]
    finally:
        conn.close()


def test_a_write_past_the_statement_timeout_is_503_and_keeps_nothing(busy):
    w, pg = busy
    fac = w.api["fac"]
    before = title_of(pg, w.P)
    lock = locked(pg, "tables")
    try:
        st, hdr, body = fac.patch(f"/tables/{w.P}", {"title": "Nooit bewaard"}, check=False)
    finally:
        lock.rollback()
        lock.close()
    assert st == 503, (st, body)
    assert hdr.get("retry-after") == "1", hdr
    assert body["error"]["code"] == "unavailable", body
    assert title_of(pg, w.P) == before
    # Without the lock the same change goes through.
    st, _, body = fac.patch(f"/tables/{w.P}", {"title": "Wel bewaard"})
    assert st == 200, body
    assert title_of(pg, w.P) == "Wel bewaard"


def test_a_page_past_the_statement_timeout_is_503(busy):
    w, pg = busy
    b = w.browser["member"]
    lock = locked(pg, "tables")
    try:
        st, hdr, body, _ = b.go("GET", f"/tafels/{w.P}")
    finally:
        lock.rollback()
        lock.close()
    assert st == 503, (st, body[:300])
    st, _, _, _ = b.go("GET", f"/tafels/{w.P}")
    assert st == 200


def test_a_wrong_request_is_still_4xx(busy):
    w, _ = busy
    st, _, body = w.api["fac"].patch(f"/tables/{w.P}", {"title": ""}, check=False)
    assert st == 422, (st, body)
    st, _, body = w.api["fac"].patch("/tables/999999999", {"title": "Niemand"}, check=False)
    assert st == 404, (st, body)
