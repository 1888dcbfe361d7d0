import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from memchat.bot import Bot
from memchat.channels.rest import ServerSettings, create_app
from memchat.plugins import new_plugin_manager

from conftest import BOOKING, free_port, memchat_command, serving, wait_until_serving

GREETING = "hello what can i help you with today"
WEBHOOK = "/webhooks/rest/webhook"


def client(bot, **settings) -> TestClient:
    return TestClient(create_app(ServerSettings(**settings), bot))


def stored(bot) -> int:
    return sum(n for _, n, _ in bot.store.conversations(limit=10_000))


def test_the_rest_channel_answers_as_rasa_does(bot):
    http = client(bot)
    assert http.get("/webhooks/rest/").json() == {"status": "ok"}
    assert http.post(WEBHOOK, json={"sender": "ann", "message": "hi"}).json() == [
        {"recipient_id": "ann", "text": GREETING}
    ]
    replies = http.post(WEBHOOK, json={"sender": "ann", "message": BOOKING}).json()
    assert [r["text"] for r in replies] == [  # every message of the turn; the api call is never sent
        "i'm on it",
        "what do you think of this option: resto_a",
    ]
    # Rasa's widgets post with other content types; the body is JSON all the same
    r = http.post(
        WEBHOOK,
        content=json.dumps({"sender": "bob", "message": "hi", "metadata": {"x": 1}}),
        headers={"content-type": "text/plain"},
    )
    assert r.json() == [{"recipient_id": "bob", "text": GREETING}]


def test_the_tracker_is_the_stored_conversation(bot):
    http = client(bot)
    http.post(WEBHOOK, json={"sender": "ann", "message": "hi"})
    tracker = http.get("/conversations/ann/tracker").json()
    assert tracker["sender_id"] == "ann" and tracker["latest_message"]["text"] == "hi"
    rasa = [(e["event"], e["seq"], e.get("text") or e.get("name")) for e in tracker["events"]]
    assert rasa == [("user", 1, "hi"), ("action", 2, GREETING), ("bot", 2, GREETING)]
    assert [(e.seq, e.text) for e in bot.history("ann")] == [(1, "hi"), (2, GREETING)]


def test_status_version_and_the_openapi_document(bot):
    http = client(bot)
    status = http.get("/status").json()
    assert status["model_file"] == str(bot.model_path) and "memchat_plugins.kb" in status["plugins"]
    assert http.get("/version").json()["version"]
    spec = http.get("/openapi.json").json()
    body = spec["paths"][WEBHOOK]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["required"]) == {"sender", "message"}
    assert {"/conversations/{conversation_id}/tracker", "/status", "/version"} <= set(spec["paths"])
    # every route served is documented, and nothing documented is not served (but the health
    # check without its slash)
    served = {(m.lower(), r.path) for r in http.app.routes for m in r.methods if m != "HEAD"}
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert served - documented == {("get", "/webhooks/rest")} and documented <= served


BAD = [
    ("malformed JSON", b'{"sender": "x", "message": ', 400, "not valid JSON"),
    ("not an object", b'["hi"]', 400, "request body: expected a JSON object with sender and message, got an array"),
    ("missing sender", b'{"message": "hi"}', 400, "sender: field required (a string)"),
    ("missing message", b'{"sender": "x"}', 400, "message: field required (a string)"),
    ("message not a string", b'{"sender": "x", "message": 5}', 400, "message: expected a string, got a number"),
    ("sender not a string", b'{"sender": true, "message": "hi"}', 400, "sender: expected a string, got a boolean"),
    ("metadata not an object", b'{"sender": "x", "message": "", "metadata": []}', 400, "metadata: expected an"),
    ("message id not a string", b'{"sender": "x", "message": "hi", "metadata": {"message_id": 3}}', 400, "message_id"),
    ("empty sender", b'{"sender": " ", "message": "hi"}', 400, "conversation id"),
    ("too long", json.dumps({"sender": "x", "message": "a " * 6000}).encode(), 400, "message too long"),
    ("empty body", b"", 400, "not valid JSON"),
]


@pytest.mark.parametrize("body,code,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_requests_get_a_4xx_with_a_clear_message_and_store_nothing(bot, body, code, message):
    http = client(bot)
    http.post(WEBHOOK, json={"sender": "x", "message": "hi"})
    before = stored(bot)
    r = http.post(WEBHOOK, content=body, headers={"content-type": "application/json"})
    assert r.status_code == code
    assert message in r.json()["message"] and r.json()["status"] == "failure"
    assert stored(bot) == before


def test_oversize_bodies_get_413_by_length_and_while_streaming(bot):
    http = client(bot, max_body=1000)
    body = json.dumps({"sender": "x", "message": "a" * 2000}).encode()
    r = http.post(WEBHOOK, content=body)
    assert r.status_code == 413 and "larger than 1000 bytes" in r.json()["message"]

    def chunks():  # no Content-Length: counted as it arrives
        yield body[:800]
        yield body[800:]

    assert http.post(WEBHOOK, content=chunks()).status_code == 413
    assert stored(bot) == 0


def test_an_unknown_conversation_is_404(bot):
    r = client(bot).get("/conversations/nobody/tracker")
    assert r.status_code == 404 and "nobody" in r.json()["message"]


def test_with_a_token_every_route_but_the_health_checks_needs_it(bot):
    http = client(bot, auth_token="s3cret")
    for method, path in [
        ("post", WEBHOOK),
        ("get", "/conversations/ann/tracker"),
        ("get", "/status"),
        ("get", "/version"),
        ("get", "/openapi.json"),  # /docs is gone: its pages loaded Swagger from a CDN
    ]:
        kwargs = {"json": {"sender": "ann", "message": "hi"}} if method == "post" else {}
        assert getattr(http, method)(path, **kwargs).status_code == 401, path
        assert getattr(http, method)(path + "?token=wrong", **kwargs).status_code == 401, path
        assert getattr(http, method)(path + "?token=s3cret", **kwargs).status_code == 200, path
    assert http.get("/status", headers={"authorization": "Bearer s3cret"}).status_code == 200
    assert http.get("/webhooks/rest/").status_code == 200 and http.get("/").status_code == 200
    assert [e.text for e in bot.history("ann")] == ["hi", GREETING]  # the refused post stored nothing


def test_cors_lets_the_named_origin_in(bot):
    http = client(bot, cors=["https://chat.example"])
    r = http.options(WEBHOOK, headers={"origin": "https://chat.example", "access-control-request-method": "POST"})
    assert r.headers["access-control-allow-origin"] == "https://chat.example"
    r = http.options(WEBHOOK, headers={"origin": "https://evil.example", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in r.headers


ROUTES = """
from memchat.hookspecs import hookimpl

from starlette.responses import JSONResponse

@hookimpl
def register_routes(app):
    def conversations(request):
        return JSONResponse([cid for cid, _, _ in request.app.state.bot.store.conversations()])

    app.add_route("/conversations", conversations)
"""


def test_plugins_add_routes_behind_the_same_token(small, tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "routes.py").write_text(ROUTES)
    bot = Bot.load(small / "model", db=str(tmp_path / "m.db"), plugin_manager=new_plugin_manager(folder, False))
    http = client(bot, auth_token="t")
    http.post(WEBHOOK + "?token=t", json={"sender": "ann", "message": "hi"})
    assert http.get("/conversations").status_code == 401
    assert http.get("/conversations?token=t").json() == ["ann"]
    bot.close()


def test_two_workers_on_one_store_answer_concurrent_turns_of_one_conversation_in_order(small, tmp_path):
    port, db = free_port(), tmp_path / "shared.db"
    server = subprocess.Popen(
        memchat_command(
            "serve",
            "--model",
            str(small / "model"),
            "--db",
            str(db),
            "--kb",
            str(small / "small-kb.txt"),
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, url + "/webhooks/rest/")
        messages = [f"turn {i}" for i in range(24)] + ["hi"] * 8

        def post(text):
            with httpx.Client(base_url=url) as c:  # a connection each: both workers get requests
                return c.post(WEBHOOK, json={"sender": "same", "message": text})

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(post, messages))
        assert all(r.status_code == 200 and len(r.json()) >= 1 for r in responses)
    finally:
        server.terminate()
        server.wait(timeout=30)
    bot = Bot.load(small / "model", db=str(db))
    events = bot.history("same")
    bot.close()
    users = [e.text for e in events if e.speaker == "user" and not (e.data or {}).get("implicit")]
    assert sorted(users) == sorted(messages)  # each stored exactly once
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    for i, e in enumerate(events):  # every user turn is answered before the next one is taken
        if e.speaker == "user":
            assert events[i + 1].speaker == "bot"


def test_a_browser_preflight_passes_cors_with_a_token_and_a_401_carries_cors_headers(bot):
    http = client(bot, auth_token="s3cret", cors=["http://shop.example"])
    pre = http.options(
        WEBHOOK,
        headers={
            "Origin": "http://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "http://shop.example"
    denied = http.post(WEBHOOK, json={"sender": "c", "message": "hi"}, headers={"Origin": "http://shop.example"})
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "http://shop.example"
    ok = http.post(
        WEBHOOK,
        json={"sender": "c", "message": "hi"},
        headers={"Origin": "http://shop.example", "Authorization": "Bearer s3cret"},
    )
    assert ok.status_code == 200 and ok.json()[0]["text"] == GREETING


def test_the_token_never_reaches_the_access_log(bot):
    import logging

    client(bot, auth_token="s3cret")
    log = logging.getLogger("uvicorn.access")
    record = log.makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", "/webhooks/rest/webhook?token=s3cret&x=1", "1.1", 200),
        None,
    )
    for f in log.filters:
        f.filter(record)
    line = record.getMessage()
    assert "s3cret" not in line and "token=***&x=1" in line


def test_every_error_is_memchats_one_form_and_health_checks_answer_head(bot):
    http = client(bot)
    for method, path, code in [("GET", "/nowhere", 404), ("DELETE", WEBHOOK, 405), ("PUT", "/status", 405)]:
        r = http.request(method, path)
        assert r.status_code == code and r.json()["status"] == "failure" and "detail" not in r.json(), r.text
        assert r.json()["code"] == code and path in r.json()["message"]
    assert http.head("/").status_code == 200 and http.head("/webhooks/rest/").status_code == 200


def test_a_bom_and_lone_surrogates_are_cleaned_as_the_python_api_cleans_them(bot):
    http = client(bot)
    body = b"\xef\xbb\xbf" + json.dumps({"sender": "bom", "message": "hi \ud800"}).encode()
    r = http.post(WEBHOOK, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    from memchat.dialogue.text import clean_text

    assert bot.history("bom")[0].text == clean_text("hi \ud800") == "hi ?"  # one rule for both
    assert http.post(WEBHOOK, content=b"{nope").json()["message"].startswith("request body: not valid JSON")


def test_workers_end_when_their_supervisor_is_killed_and_a_busy_port_is_one_line(small, tmp_path):
    import os
    import signal
    import socket
    import time

    port = free_port()
    server = subprocess.Popen(
        memchat_command(
            "serve",
            "--model",
            str(small / "model"),
            "--db",
            str(tmp_path / "w.db"),
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ),
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_serving(server, f"http://127.0.0.1:{port}/webhooks/rest/")
    children = [
        int(p) for p in subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
    ]
    assert children, "the supervisor has worker processes"
    os.kill(server.pid, signal.SIGKILL)
    server.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(os.path.exists(f"/proc/{c}") and open(f"/proc/{c}/stat").read().split()[2] != "Z" for c in children):
        assert time.monotonic() < deadline, "workers kept serving after their supervisor died"
        time.sleep(0.2)
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))
        s.listen()
        busy = subprocess.run(
            memchat_command(
                "serve", "--model", str(small / "model"), "--db", str(tmp_path / "w.db"), "--port", str(port)
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert busy.returncode == 1 and "Traceback" not in busy.stderr
    (line,) = [x for x in busy.stderr.splitlines() if x.strip()]
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_the_openapi_document_works_with_a_token_and_no_page_loads_from_a_cdn(bot):
    http = client(bot, auth_token="s3cret")
    assert http.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()["info"]["title"] == "memchat"
    for page in ("/docs", "/redoc"):
        r = http.get(page, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 404 and r.json()["status"] == "failure"


def test_a_port_whose_last_connections_wait_out_time_wait_is_free_and_a_listening_one_is_not():
    """A restart right after a stop: the old server's closed connections linger in TCP's TIME_WAIT
    for a minute, and serve's check refused the port ("Address already in use") although uvicorn,
    which binds with SO_REUSEADDR, would have listened on it."""
    import socket

    from memchat.channels.serving import check_port_free
    from memchat.errors import MemchatError

    listener = socket.create_server(("127.0.0.1", 0))  # a server as uvicorn opens it
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    with pytest.raises(MemchatError, match=f"cannot listen on 127.0.0.1:{port}"):
        check_port_free("127.0.0.1", port)  # listening: busy
    served.close()  # the server closes first (HTTP/1.0 clients, `Connection: close`, idle keep-alive)
    client.close()
    listener.close()
    check_port_free("127.0.0.1", port)  # only TIME_WAIT left: free


def test_serve_imports_the_websocket_protocol_only_when_a_websocket_opens():
    """uvicorn as `memchat serve` configures it starts without websockets (its start: 13-18 ms with
    it, 4-6 ms without); the socket.io channel over a WebSocket is tests/test_socketio.py's."""
    probe = (
        "import sys, uvicorn\n"
        "from memchat.channels.guards import uvicorn_options\n"
        "async def app(scope, receive, send): pass\n"
        "config = uvicorn.Config(app, **uvicorn_options(10)); config.load()\n"
        "print(config.ws_protocol_class is not None, 'websockets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_slow_clients_are_cut_off_and_connections_are_capped(small, tmp_path):
    import socket

    options = ("--read-timeout", "1", "--max-connections", "4")
    with serving(small, tmp_path / "s.db", *options) as url:
        port = int(url.rsplit(":", 1)[1])

        def closed_after(sock, drip: bytes) -> float | None:
            """Seconds until the server closes ``sock`` while a byte of ``drip`` goes every 0.2 s."""
            start = time.monotonic()
            for b in drip:
                try:
                    sock.sendall(bytes([b]))
                    sock.settimeout(0.2)
                    if sock.recv(4096) == b"":
                        return time.monotonic() - start
                except TimeoutError:
                    continue
                except OSError:
                    return time.monotonic() - start
                return time.monotonic() - start  # an answer came: the server is done with it
            return None

        headers = socket.create_connection(("127.0.0.1", port))
        cut = closed_after(headers, b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\n" * 4)
        assert cut is not None and cut < 3, "headers sent byte by byte must be cut off after --read-timeout"
        body = socket.create_connection(("127.0.0.1", port))
        body.sendall(b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n")
        start, answer = time.monotonic(), b""
        for _ in range(40):
            body.sendall(b" ")
            body.settimeout(0.2)
            try:
                answer = body.recv(4096)
                break
            except TimeoutError:
                continue
        body.settimeout(2)
        while answer and b"RequestTimeout" not in answer:  # the body may come in a packet of its own
            more = body.recv(4096)
            if not more:
                break
            answer += more
        assert answer.startswith(b"HTTP/1.1 408") and b"RequestTimeout" in answer
        assert time.monotonic() - start < 3
        # at most 4 connections: more get 503 at once
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        over = httpx.post(f"http://127.0.0.1:{port}/webhooks/rest/webhook", json={"sender": "x", "message": "hi"})
        assert over.status_code == 503 and over.json()["reason"] == "ServiceUnavailable"  # memchat's error form
        for s in idle:
            s.close()
        time.sleep(1.5)
        ok = httpx.post(f"http://127.0.0.1:{port}/webhooks/rest/webhook", json={"sender": "x", "message": "hi"})
        assert ok.status_code == 200


def test_the_chat_page_is_self_contained_and_why_explains_a_bot_message(bot):
    import re

    client = TestClient(create_app(ServerSettings(), bot))
    page = client.get("/chat")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page loads nothing from elsewhere"
    assert "/webhooks/rest/webhook" in html and "localStorage" in html and "/why/" in html
    client.post(WEBHOOK, json={"sender": "w", "message": BOOKING})
    events = client.get("/conversations/w/tracker").json()["events"]
    said = next(e for e in events if e["event"] == "bot" and e["text"] == "i'm on it")
    why = client.get(f"/conversations/w/why/{said['seq']}?top=3").json()
    assert why["query"]["text"] == BOOKING
    assert len(why["top"]) == 3 and why["top"][0]["candidate"] == "i'm on it"  # the reply it gave
    assert why["hops"] and all(len(h) == len(why["memory"]) for h in why["hops"])
    assert all(abs(sum(h) - 1) < 1e-3 for h in why["hops"] if h)  # attention: a distribution per hop
    user = next(e for e in events if e["event"] == "user")
    assert client.get(f"/conversations/w/why/{user['seq']}").status_code == 404  # not a bot message
    for path, field in [("/conversations/w/why/two", "seq"), (f"/conversations/w/why/{said['seq']}?top=1e3", "top")]:
        r = client.get(path)
        assert r.status_code == 400 and r.json()["message"].startswith(f"{field}: expected an integer"), path
