"""A municipality overrides the mails' HTML template (mail/message.html)
in its bundle, as any page: the mails of its site use it, escaped the same
way; another municipality keeps the platform's."""
import re

from bundle_util import deployed, write_bundle
from harness import wait_for
from test_signin import SMALL, Browser

PASSWORD = "een lang wachtwoord 123"


def test_a_bundle_overrides_the_mail_template(pg, tenants, db_daemon, tmp_path):
    tenants(("mail-a", "Gemeente Post", "mail-a.test"), ("mail-b", "Gemeente Ander", "mail-b.test"))
    folder = write_bundle(tmp_path / "mail-a", {
        "tenant.lua": 'return { name = "Gemeente Post" }\n',
        "templates/mail/message.html":
            '<!doctype html>\n<html lang="{{ lang }}"><body><h1 class="eigen">Post van {{ tenant.name }}</h1>\n'
            '<p>{{ greeting }}</p><p>{{ body }}</p><p><a href="{{ link }}">{{ link_text }}</a></p></body></html>\n',
    })
    deployed(pg, "mail-a", folder)
    d = db_daemon({"workers": "1"}, env=SMALL)
    wait_for(lambda: "Gemeente Post" in d.get("/", host="mail-a.test")[2].decode(), what="the bundle")
    for host, email in (("mail-a.test", "els@example.nl"), ("mail-b.test", "iemand@example.nl")):
        b = Browser(d, host)
        st, _, _, _ = b.go("POST", "/registreren", {"csrf": b.csrf(), "name": "Els <script>", "email": email,
                                                    "password": PASSWORD})
        assert st == 200
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT to_addr, body_html FROM mail_outbox ORDER BY id")
        html = dict(cur.fetchall())
    own = html["els@example.nl"]
    assert '<h1 class="eigen">Post van Gemeente Post</h1>' in own
    assert "Els &lt;script&gt;" in own and "<script>" not in own
    assert re.search(r'href="http://mail-a\.test/bevestigen\?token=[A-Za-z0-9_-]{43}"', own)
    assert 'class="eigen"' not in html["iemand@example.nl"]          # the platform's template
