"""--fallback in the field: nginx in front of wsbridge configured without
`proxy_set_header Upgrade/Connection`, so every WebSocket upgrade fails the
way it does behind such a proxy. The chat and echo examples, served by their
README commands, still work end to end in headless Chromium, and the pages
report the fallback transport."""

import os
import shutil
import tempfile

import pytest
from selenium.webdriver.common.by import By

from harness import free_port
from test_frontends import start_proxy, stop_proxy
from test_examples import page, status, submit, text, wait_text, wsbridge_args  # noqa: F401

# No Upgrade or Connection headers: nginx sends the upgrade on as a plain GET.
NGINX_CONF = """
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


@pytest.fixture
def nginx_in_front(tmp_path):
    """Factory: nginx on a free port in front of wsbridge's port; stopped by PID."""
    started = []

    def start(upstream):
        d = tempfile.mkdtemp(prefix="wsb-nginx-", dir="/tmp")  # reachable by nginx's workers
        os.chmod(d, 0o755)
        port = free_port()
        user = "user root;" if os.geteuid() == 0 else ""
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(user=user, dir=d, port=port, upstream=upstream))
        proc = start_proxy(["/usr/sbin/nginx", "-p", d, "-c", conf, "-e", "stderr",
                            "-g", "daemon off;"], tmp_path, "nginx", port)
        started.append((proc, d))
        return f"http://127.0.0.1:{port}"

    yield start
    for proc, d in started:
        stop_proxy(proc)
        shutil.rmtree(d, ignore_errors=True)


def wait_fallback(driver):
    from test_examples import until
    until(driver, lambda d: status(d) == ("open", "connected"), "connected")
    transport = driver.find_element(By.ID, "status").get_attribute("data-transport")
    assert transport == "fallback", transport


def test_echo_through_nginx_without_upgrade_headers(page, server, nginx_in_front):
    s = server(*wsbridge_args("basics"), "--fallback-timeout=2", "--loglevel=debug")
    front = nginx_in_front(s.port)
    page.get(f"{front}/basics/send.html")
    wait_fallback(page)
    submit(page, "msg", "through nginx")
    wait_text(page, "log", "echo: through nginx")
    s.wait_log(r'CONNECT 127\.0\.0\.1 port \d+ "POST /basics/"')  # opened by the fallback's POST
    # Leaving the page ends the session at once (a close record sent as it goes).
    page.get("about:blank")
    s.wait_log(r"DISCONNECT .* code 1001 by client: going away", timeout=8)


def test_chat_through_nginx_without_upgrade_headers(page, server, nginx_in_front):
    s = server(*wsbridge_args("chat"), "--fallback-timeout=2")
    front = nginx_in_front(s.port)
    page.get(f"{front}/chat/?nick=alice")
    wait_fallback(page)
    wait_text(page, "log", "you joined as alice")
    alice = page.current_window_handle
    page.switch_to.new_window("window")
    page.get(f"{front}/chat/?nick=bob")
    wait_fallback(page)
    wait_text(page, "users", "alice")
    submit(page, "text", "hi alice, from behind nginx")
    page.switch_to.window(alice)
    wait_text(page, "log", "bob: hi alice, from behind nginx")
    submit(page, "text", "hello bob")
    assert text(page, "count") == "2"
    page.switch_to.window(page.window_handles[-1])
    wait_text(page, "log", "alice: hello bob")
