#!/usr/bin/env python3
"""test_browser.py: the web UI and the food app in a real browser.

Starts redis-server (free port, 127.0.0.1), duro-scheduler, food-worker and
`duro server`, then drives headless Chromium (Debian's chromium and
chromium-driver, python3-selenium) through the food app and the UI:
order on the menu page and see Paid; Pick up then Deliver on the driver
page; the order page shows Delivered, then the completed order; an order
left alone is refunded and fails "Not picked up in time"; the UI's
workflow page shows the order's history, and a signal sent with its
button reaches the workflow; each run of a continue-as-new chain (the
samples-worker's counter) opens as itself; a namespace's pages stay in
it; no page asks for a missing favicon. Screenshots of every page go to
ARTIFACTS.

usage: test_browser.py BIN_DIR ARTIFACTS_DIR
Exits 77 (ctest: skipped) when selenium or chromium is missing, unless
DURO_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77


def missing(what):
    if os.environ.get("DURO_REQUIRE_BROWSER") == "1":
        print(f"test_browser: {what} is missing (DURO_REQUIRE_BROWSER=1)")
        sys.exit(1)
    print(f"test_browser: skipped: {what} is missing")
    sys.exit(SKIP)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    missing("python3-selenium")

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not (os.access(CHROMEDRIVER, os.X_OK) and os.access(CHROMIUM, os.X_OK)):
    missing("chromium or chromium-driver")

BIN, ART = sys.argv[1], sys.argv[2]
WAIT_S = 30  # every wait for the page is bounded by this
procs = []   # (name, Popen), stopped by PID at the end
tmp = tempfile.mkdtemp(prefix="duro-browser-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(name, argv, env=None):
    log = open(os.path.join(tmp, name + ".log"), "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                         env=env, start_new_session=True)
    procs.append((name, p))
    return p


def stop_all():
    for name, p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def wait_until(what, fn, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the page is still changing
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last})" if last else ""))


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


redis_port = 0


def start_stack():
    global redis_port
    rport, hport = free_port(), free_port()
    redis_port = rport
    spawn("redis", ["redis-server", "--port", str(rport), "--bind",
                    "127.0.0.1", "--save", "", "--appendonly", "no"])
    env = dict(os.environ, DURO_REDIS_URL=f"redis://127.0.0.1:{rport}")
    wait_until("redis", lambda: socket.create_connection(
        ("127.0.0.1", rport), timeout=1).close() or True, 10)
    spawn("scheduler", [os.path.join(BIN, "duro-scheduler"),
                        "--scan-interval", "100ms"], env)
    spawn("food-worker", [os.path.join(BIN, "food-worker")], env)
    spawn("samples-worker", [os.path.join(BIN, "samples-worker")], env)
    spawn("server", [os.path.join(BIN, "duro"), "server", "--http",
                     f"127.0.0.1:{hport}"], env)
    base = f"http://127.0.0.1:{hport}"
    wait_until("duro server", lambda: http("GET", base + "/healthz")[0] == 200,
               15)
    return base


def check_static(base):
    """Content types, caching, 404 and the directory redirect, over HTTP."""
    st, h, body = http("GET", base + "/")
    assert st == 200 and h["Content-Type"].startswith("text/html"), (st, h)
    assert h["Cache-Control"] == "no-cache" and h["ETag"], h
    assert "default-src 'self'" in h["Content-Security-Policy"], h
    req = urllib.request.Request(base + "/", headers={
        "If-None-Match": h["ETag"]})
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("If-None-Match with the ETag did not answer 304")
    except urllib.error.HTTPError as e:
        assert e.code == 304, e.code
    for path, ctype in [("/api.js", "text/javascript"),
                        ("/duro.css", "text/css"),
                        ("/apps/food/", "text/html"),
                        ("/apps/food/food.js", "text/javascript")]:
        st, h, _ = http("GET", base + path)
        assert st == 200 and h["Content-Type"].startswith(ctype), (path, h)
    st, h, body = http("GET", base + "/nope.html")
    assert st == 404 and json.loads(body)["code"] == "NOT_FOUND", (st, body)
    st, h, _ = http("GET", base + "/apps/food/../../etc/passwd")
    assert st == 404, st
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(base + "/apps/food", timeout=10)
        raise AssertionError("/apps/food did not redirect")
    except urllib.error.HTTPError as e:
        assert e.code == 301 and e.headers["Location"] == "/apps/food/"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1200,1000",
              f"--user-data-dir={os.path.join(tmp, 'chromium')}"]:
        o.add_argument(a)
    svc = Service(CHROMEDRIVER, log_output=os.path.join(tmp, "driver.log")) \
        if "log_output" in Service.__init__.__code__.co_varnames \
        else Service(CHROMEDRIVER, log_path=os.path.join(tmp, "driver.log"))
    d = webdriver.Chrome(service=svc, options=o)
    d.set_page_load_timeout(WAIT_S)
    return d


def shot(d, name, width=1200):
    """A screenshot of the whole page (the window grown to its height, at
    most 4000 pixels) at this width: 390 is a phone's."""
    d.set_window_size(width, 800)
    height = d.execute_script(
        "return document.documentElement.scrollHeight")
    d.set_window_size(width, min(int(height) + 140, 4000))
    path = os.path.join(ART, name + ".png")
    d.save_screenshot(path)
    d.set_window_size(1200, 1000)
    print(f"screenshot {path}")


def text_of(d, elem_id):
    return d.find_element(By.ID, elem_id).text


def order(d, base, product, timeouts):
    d.get(f"{base}/apps/food/?{timeouts}")
    btn = d.find_element(By.CSS_SELECTOR,
                         f'.product[data-product="{product}"] button')
    assert btn.text == "Order", btn.text
    btn.click()
    wait_until("the order page", lambda: "/apps/food/order.html?id=" in
               d.current_url)
    oid = d.current_url.split("id=", 1)[1]
    wait_until(f"{oid} Paid", lambda: text_of(d, "state") == "Paid")
    return oid


def driver_button(d, oid, label):
    sel = f'tr[data-order="{oid}"] button'
    btn = wait_until(f"{label} for {oid}", lambda: next(
        (b for b in d.find_elements(By.CSS_SELECTOR, sel)
         if b.text == label and b.is_enabled()), None))
    return btn


def token_server(env_port):
    """A second duro server on the same Redis, wanting a token."""
    path = os.path.join(tmp, "tokens")
    with open(path, "w") as f:
        f.write("browser-test-token-0123456789\n")
    hport = free_port()
    env = dict(os.environ, DURO_REDIS_URL=f"redis://127.0.0.1:{env_port}")
    spawn("server-token", [os.path.join(BIN, "duro"), "server", "--http",
                           f"127.0.0.1:{hport}", "--api-token-file", path],
          env)
    base = f"http://127.0.0.1:{hport}"
    wait_until("duro server with tokens",
               lambda: http("GET", base + "/healthz")[0] == 200, 15)
    return base


def run_token(d, base):
    """The pages load without a token, ask for it on the API's 401, and
    list workflows once it is given."""
    d.get(base + "/")
    wait_until("the token bar", lambda: d.find_element(By.ID, "tokenbar"))
    shot(d, "ui-token-asked")
    d.find_element(By.ID, "token-input").send_keys(
        "browser-test-token-0123456789")
    d.find_element(By.CSS_SELECTOR, "#tokenbar button").click()
    wait_until("workflows listed with the token", lambda: d.find_elements(
        By.CSS_SELECTOR, "#rows tr") and not d.find_elements(
        By.ID, "tokenbar"))
    d.execute_script("localStorage.clear()")


def main():
    os.makedirs(ART, exist_ok=True)
    base = start_stack()
    check_static(base)
    d = browser()
    try:
        run(d, base)
        run_runs(d, base)
        run_namespace(d, base)
        run_token(d, token_server(redis_port))
        # every page loaded so far: none asked for /favicon.ico (a 404
        # in the console of every page)
        logs = [e["message"] for e in d.get_log("browser")]
        assert not [m for m in logs if "favicon" in m], logs
        print("test_browser: ok")
    finally:
        d.quit()


def run(d, base):
    # long timeouts for the order that gets delivered, short for the one
    # left alone (the order's input takes them; the menu passes them on)
    slow = "pickupTimeout=60s&deliveryTimeout=60s&ratingDelay=2s"
    fast = "pickupTimeout=2s&deliveryTimeout=60s&ratingDelay=1s"

    d.get(f"{base}/apps/food/")
    wait_until("the menu", lambda: len(d.find_elements(
        By.CSS_SELECTOR, ".product button")) == 6)
    names = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".product .name")]
    assert "Margherita Pizza" in names and "Ramen Bowl" in names, names
    shot(d, "food-menu")
    shot(d, "food-menu-phone", 390)

    oid = order(d, base, 2, slow)
    assert text_of(d, "product") == "Margherita Pizza"
    shot(d, "food-order-paid")

    # the driver page: waiting, Pick up, on the way, Deliver
    d.get(f"{base}/apps/food/driver.html")
    driver_button(d, oid, "Pick up")
    # found through the visibility query on OrderState (food-worker
    # registers it), not the fallback that queries every running order
    wait_until("the OrderState query", lambda: "search attribute OrderState"
               in text_of(d, "source"))
    shot(d, "food-driver-waiting")
    # the page updates in place: a marker set now survives the whole flow
    d.execute_script("window.duroTestMarker = 42")
    driver_button(d, oid, "Pick up").click()
    wait_until("the order on the way", lambda: d.find_element(
        By.CSS_SELECTOR, f'#onway tr[data-order="{oid}"]'))
    assert not d.find_elements(By.CSS_SELECTOR,
                               f'#waiting tr[data-order="{oid}"]')
    shot(d, "food-driver-onway")
    driver_button(d, oid, "Deliver").click()
    wait_until("the order gone from the driver page", lambda: not
               d.find_elements(By.CSS_SELECTOR, f'tr[data-order="{oid}"]'))
    assert d.execute_script("return window.duroTestMarker") == 42, \
        "the driver page reloaded"

    d.get(f"{base}/apps/food/order.html?id={oid}")
    wait_until("Delivered", lambda: text_of(d, "state") == "Delivered")
    assert text_of(d, "delivered-at").startswith("Delivered at"), \
        text_of(d, "delivered-at")
    shot(d, "food-order-delivered")
    wait_until("the completed order", lambda: text_of(d, "status") ==
               "COMPLETED" and "Order complete" in text_of(d, "done"))
    shot(d, "food-order-completed")

    # an order nobody picks up: refunded, failed "Not picked up in time"
    late = order(d, base, 6, fast)
    wait_until("the refund", lambda: "Not picked up in time" in
               text_of(d, "failure"))
    assert text_of(d, "state") == "Refunding", text_of(d, "state")
    assert text_of(d, "status") == "FAILED", text_of(d, "status")
    shot(d, "food-order-refunded")

    # the UI: the list shows both orders, the workflow page the history
    d.get(f"{base}/?type=order")
    wait_until("both orders listed", lambda: d.find_elements(
        By.CSS_SELECTOR, f'tr[data-id="{oid}"]') and d.find_elements(
        By.CSS_SELECTOR, f'tr[data-id="{late}"]'))
    shot(d, "ui-workflows")
    shot(d, "ui-workflows-phone", 390)

    # paging with nextPageToken, one row a page
    d.get(f"{base}/?type=order&pageSize=1")
    rows = lambda: [e.get_attribute("data-id") for e in
                    d.find_elements(By.CSS_SELECTOR, "#rows tr")]
    first = wait_until("page 1", lambda: len(rows()) == 1 and rows())
    d.find_element(By.ID, "next").click()
    wait_until("page 2", lambda: text_of(d, "pageinfo").startswith("Page 2")
               and len(rows()) == 1 and rows() != first)
    assert set(first + rows()) == {oid, late}, (first, rows())
    d.find_element(By.ID, "first").click()
    wait_until("page 1 again", lambda: rows() == first)

    # the query box, and a query the server refuses (its message shown)
    d.get(f"{base}/")
    box = d.find_element(By.ID, "query")
    box.send_keys('WorkflowType = "order" AND ExecutionStatus = "FAILED"')
    d.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_until("the failed order only", lambda: rows() == [late])
    box.clear()
    box.send_keys("NoSuchAttribute = 1")
    d.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_until("the query error", lambda: "query" in text_of(d, "error"))
    shot(d, "ui-workflows-query-error")

    d.get(f"{base}/workflow.html?id={oid}")
    wait_until("the history", lambda: len(d.find_elements(
        By.CSS_SELECTOR, "#history tr")) > 10)
    types = [e.get_attribute("data-type") for e in
             d.find_elements(By.CSS_SELECTOR, "#history tr")]
    for t in ["WorkflowStarted", "ActivityScheduled", "SignalReceived",
              "TimerStarted", "WorkflowCompleted"]:
        assert t in types, (t, types)
    assert types.count("SignalReceived") == 2, types
    labels = text_of(d, "timeline")
    assert "chargeCustomer" in labels and "timer" in labels, labels
    shot(d, "ui-workflow-completed")

    # a signal from the UI's button reaches a running order
    third = order(d, base, 4, slow)
    d.get(f"{base}/workflow.html?id={third}")
    wait_until("the running order", lambda: "RUNNING" in text_of(d, "summary"))
    d.find_element(By.ID, "signal-name").send_keys("pickedUp")
    d.find_element(By.ID, "signal").click()
    wait_until("the signal in the history", lambda: "SignalReceived" in [
        e.get_attribute("data-type") for e in
        d.find_elements(By.CSS_SELECTOR, "#history tr")])
    d.find_element(By.ID, "query-name").send_keys("getStatus")
    d.find_element(By.ID, "query").click()
    wait_until("the query result", lambda: '"Picked up"' in
               text_of(d, "query-result"))
    shot(d, "ui-workflow-signaled")
    shot(d, "ui-workflow-phone", 390)

    # terminate, after the confirmation
    d.find_element(By.ID, "reason").send_keys("browser test")
    d.find_element(By.ID, "terminate").click()
    wait_until("the confirmation", lambda: d.switch_to.alert).accept()
    wait_until("TERMINATED", lambda: "TERMINATED" in text_of(d, "summary"))

    # an id with no workflow: the error, and no button to press
    d.get(f"{base}/workflow.html?id=no-such-order")
    wait_until("the not-found error", lambda: "not found" in
               text_of(d, "error"))
    assert not d.find_element(By.ID, "signal").is_enabled()
    assert not d.find_element(By.ID, "terminate").is_enabled()

    d.get(f"{base}/task-queues.html?queue=durable-food")
    wait_until("the queue stats", lambda: d.find_element(
        By.CSS_SELECTOR, "#stats td.backlog"))
    shot(d, "ui-task-queues")


def run_runs(d, base):
    """Each row of the list is a run: an older run of a continue-as-new
    chain opens as itself (its input, "Continued as" the next run, no
    failure), and links on to the next run."""
    ns = base + "/api/v1/namespaces/default"
    st, _, body = http("POST", ns + "/workflows/counter-ui", {
        "workflowType": "counter", "taskQueue": "samples",
        "input": {"to": 4, "every": 2}})
    assert st == 200, (st, body)
    first_run = json.loads(body)["runId"]
    st, _, body = http("GET", ns + "/workflows/counter-ui/result?wait=8s")
    assert st == 200 and json.loads(body)["status"] == "COMPLETED", body
    last_run = json.loads(body)["runId"]
    d.get(f"{base}/?type=counter")
    first = wait_until("the first run listed", lambda: d.find_element(
        By.CSS_SELECTOR, f'tr[data-run="{first_run}"] a'))
    first.click()
    wait_until("the first run's page", lambda: "CONTINUED_AS_NEW" in
               text_of(d, "summary"))
    assert first_run in text_of(d, "summary"), text_of(d, "summary")
    assert '"every": 2' in text_of(d, "input"), text_of(d, "input")
    assert not d.find_elements(By.ID, "failure"), text_of(d, "outcome")
    assert "null" not in text_of(d, "outcome"), text_of(d, "outcome")
    assert "Continued as new" in text_of(d, "outcome")
    shot(d, "ui-workflow-continued")
    d.find_element(By.CSS_SELECTOR, "#continued a").click()
    wait_until("the second run's page", lambda: "Continued from" in
               text_of(d, "summary") and first_run in text_of(d, "summary"))
    assert last_run in text_of(d, "summary"), text_of(d, "summary")
    assert '"count": 4' in text_of(d, "outcome"), text_of(d, "outcome")

    # a terminate without a reason: the failure says Terminated, once
    st, _, body = http("POST", ns + "/workflows/acc-ui", {
        "workflowType": "accumulator", "taskQueue": "samples"})
    assert st == 200, (st, body)
    d.get(f"{base}/workflow.html?id=acc-ui")
    wait_until("the running accumulator", lambda: "RUNNING" in
               text_of(d, "summary"))
    d.find_element(By.ID, "terminate").click()
    wait_until("the confirmation", lambda: d.switch_to.alert).accept()
    wait_until("the failure", lambda: text_of(d, "failure") == "Terminated")


def run_namespace(d, base):
    """?namespace= lists, shows and links within that namespace."""
    env = dict(os.environ, DURO_REDIS_URL=f"redis://127.0.0.1:{redis_port}")
    subprocess.run([os.path.join(BIN, "duro"), "operator", "namespace",
                    "create", "-n", "shop"], env=env, check=True,
                   timeout=30, stdout=subprocess.DEVNULL)
    st, _, body = http("POST", base + "/api/v1/namespaces/shop/workflows/"
                       "shop-order", {"workflowType": "order",
                                      "taskQueue": "durable-food"})
    assert st == 200, (st, body)
    d.get(f"{base}/?namespace=shop")
    link = wait_until("the shop's order", lambda: d.find_element(
        By.CSS_SELECTOR, 'tr[data-id="shop-order"] a'))
    assert "namespace shop" in text_of(d, "namespace-name")
    for a in d.find_elements(By.CSS_SELECTOR, "header a"):
        if a.text in ("Workflows", "Task queues"):
            assert "namespace=shop" in a.get_attribute("href"), a.text
    shot(d, "ui-workflows-namespace")
    link.click()
    wait_until("the shop's order page", lambda: "shop-order" in
               text_of(d, "summary"))
    tq = d.find_element(By.CSS_SELECTOR, "#summary a[href*=task-queues]")
    assert "namespace=shop" in tq.get_attribute("href"), \
        tq.get_attribute("href")


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
        if os.environ.get("DURO_KEEP_LOGS") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs in {tmp}")
