"""The web panel and OSC for real: a live stream on the JACK dummy server, the page in headless
Chromium (selenium), the API over HTTP, OSC over UDP."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from stylepedal.host.chain import Chain, build_chain
from stylepedal.host.control import PresetInfo
from stylepedal.host.live import run_live
from stylepedal.presets.midimap import MidiMap
from tests.host.live.conftest import wait_for

pytestmark = pytest.mark.live

TWO = [PresetInfo("Alpha", 0, 0, "first"), PresetInfo("Beta", 1, 0, "second")]


def _request(url, body=None, *, method=None, headers=None, raw=None):
    """(status, JSON reply) of one request; ``raw`` bytes are sent as they are."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"),
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _metronome(name: str) -> subprocess.Popen:
    """A JACK client playing clicks into the live host's input."""
    proc = subprocess.Popen(["jack_metro", "-b", "240", "-f", "880", "-A", "0.5", "-D", "60",
                             "-n", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = f"{name}:240_bpm"
    ok = wait_for(lambda: port in subprocess.run(["jack_lsp"], capture_output=True,
                                                 text=True).stdout, 5.0, 0.05)
    assert ok, "jack_metro did not come up"
    # our stream's input: the PortAudio client's port that the server connected to its capture
    # (the client is "PortAudio", or "PortAudio-NN" while an earlier one is still leaving)
    listed = subprocess.run(["jack_lsp", "-c", "system:capture_1"], capture_output=True,
                            text=True).stdout.splitlines()
    ours = [line.strip() for line in listed[1:] if line.strip().startswith("PortAudio")]
    assert len(ours) == 1, listed
    subprocess.run(["jack_connect", port, ours[0]], check=True)
    return proc


@pytest.fixture
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("chromium/chromium-driver are not installed (apt-get install chromium "
                    "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=900,1100"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield d
    finally:
        d.quit()


def test_the_page_in_a_browser_drives_the_running_stream(jack_server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from stylepedal.presets.store import Store

    names = [e.name for e in Store().list()]
    assert len(names) >= 2
    start, target = names[0], names[-1]
    seen: dict = {}

    def use_the_page(engine, loader):
        url = engine.surfaces.panel.url
        api = url.rstrip("/") + "/api/state"
        metro = _metronome("sp-test-metro")
        try:
            browser.get(url)
            shown = lambda: [b.get_attribute("data-preset")  # noqa: E731
                             for b in browser.find_elements(By.CSS_SELECTOR, ".preset")]
            assert wait_for(lambda: shown() == names, 5.0), shown()
            current = browser.find_element(By.CSS_SELECTOR, ".preset.current")
            seen["lit_at_start"] = current.get_attribute("data-preset")
            # a click switches the running stream, with its crossfade
            browser.find_element(By.CSS_SELECTOR, f'.preset[data-preset="{target}"]').click()
            seen["switched"] = wait_for(lambda: engine.preset_name == target, 5.0)
            seen["lit"] = wait_for(lambda: browser.find_element(
                By.CSS_SELECTOR, ".preset.current").get_attribute("data-preset") == target, 3.0)
            # the mix slider, clicked near its left end
            slider = browser.find_element(By.ID, "mix")
            ActionChains(browser).move_to_element_with_offset(
                slider, -slider.size["width"] // 2 + 3, 0).click().perform()
            seen["mix"] = wait_for(lambda: _request(api)[1]["mix"] < 0.1, 3.0)
            effect = next(i for i in engine._chain.items if hasattr(i, "mix"))
            seen["mix_applied"] = wait_for(lambda: effect.mix < 0.1, 2.0)
            # the meters move with the metronome's clicks
            seen["meters"] = wait_for(
                lambda: float(browser.find_element(By.ID, "input_peak_db").text) > -20
                and float(browser.find_element(By.ID, "output_peak_db").text) > -40, 5.0)
            state = _request(api)[1]
            seen["state"] = state
            browser.find_element(By.ID, "bypass").click()
            seen["bypass"] = wait_for(lambda: engine.master.bypassed, 3.0)
            time.sleep(0.3)
            path = tmp_path / "panel.png"
            assert browser.save_screenshot(str(path))
            print(f"panel screenshot: {path}")
            seen["screenshot"] = path
        finally:
            metro.terminate()
            metro.wait(timeout=5)

    summary = run_live(lambda name: build_chain(name), start, seconds=9.0, panel="0",
                       midimap=Store().midimap(), on_started=use_the_page)
    assert seen["lit_at_start"] == start
    assert seen["switched"] and seen["lit"], seen
    assert seen["mix"] and seen["mix_applied"], seen
    assert seen["meters"], seen["state"]
    assert seen["state"]["input_peak_db"] > -20 and seen["state"]["latency_ms"] > 10
    assert seen["bypass"] and summary["bypass"] is True
    assert seen["screenshot"].stat().st_size > 10_000
    assert summary["preset"] == target and summary["faults"] == 0
    assert summary["commands"]["panel"]["accepted"] >= 3
    assert summary["commands"]["refused"] == 0 and summary["panel"]["refused"] == 0


BAD = [  # (what, method, path, body or raw bytes, status, field)
    ("malformed JSON", "POST", "/api/params", b'{"mix": 0.5', 400, None),
    ("NaN", "POST", "/api/params", b'{"mix": NaN}', 400, None),
    ("not an object", "POST", "/api/params", [0.5], 400, None),
    ("unknown field", "POST", "/api/params", {"mix": 0.5, "volume": 3}, 400, "volume"),
    ("mix out of range", "POST", "/api/params", {"mix": 1.5}, 400, "mix"),
    ("mix a string", "POST", "/api/params", {"mix": "0.5"}, 400, "mix"),
    ("gain overflows", "POST", "/api/params", b'{"output_gain_db": 1e999}', 400,
     "output_gain_db"),
    ("gain out of range", "POST", "/api/params", {"output_gain_db": 30}, 400,
     "output_gain_db"),
    ("gate out of range", "POST", "/api/params", {"gate_db": 5}, 400, "gate_db"),
    ("bypass not a bool", "POST", "/api/params", {"bypass": "on"}, 400, "bypass"),
    ("nothing to set", "POST", "/api/params", {}, 400, None),
    ("unknown preset", "POST", "/api/preset", {"name": "Nope"}, 404, "name"),
    ("unmapped program", "POST", "/api/preset", {"program": 99}, 404, "program"),
    ("program out of range", "POST", "/api/preset", {"program": 128}, 400, "program"),
    ("program a bool", "POST", "/api/preset", {"program": True}, 400, "program"),
    ("name and program", "POST", "/api/preset", {"name": "Beta", "program": 1}, 400,
     "program"),
    ("unknown preset field", "POST", "/api/preset", {"preset": "Beta"}, 400, "preset"),
    ("body too large", "POST", "/api/params", b'{"mix": 0.5' + b" " * 5000 + b"}", 413, None),
    ("deep nesting", "POST", "/api/params", b"[" * 2000 + b"]" * 2000, 400, None),
    ("wrong method", "GET", "/api/params", None, 405, None),
    ("not JSON", "POST", "/api/params", ({"Content-Type": "text/plain"}, b'{"mix": 0.5}'), 415,
     "Content-Type"),
    ("another site's name", "GET", "/api/state", ({"Host": "evil.example:80"}, None), 403,
     "Host"),
    ("no such path", "GET", "/api/nothing", None, 404, None),
]


def test_bad_requests_are_refused_and_change_nothing(jack_server):
    results = {}

    def hammer(engine, loader):
        base = engine.surfaces.panel.url.rstrip("/")
        assert _request(base + "/api/params", {"mix": 0.3, "output_gain_db": -3})[0] == 200
        # (the state the panel serves is at most one push, 50 ms, behind the live process)
        assert wait_for(lambda: _request(base + "/api/state")[1]["output_gain_db"] == -3, 2.0)
        before = (_request(base + "/api/state")[1], dict(engine.control.values))
        for what, method, path, body, status, field in BAD:
            headers = None
            if isinstance(body, tuple):
                headers, body = body
            raw = body if isinstance(body, bytes) else None
            got = _request(base + path, None if raw is not None else body, method=method,
                           raw=raw, headers=headers)
            results[what] = (got, status, field)
        time.sleep(0.2)
        after = (_request(base + "/api/state")[1], dict(engine.control.values))
        results["unchanged"] = (before, after)
        results["good"] = _request(base + "/api/preset", {"program": 1})
        results["switched"] = wait_for(lambda: engine.preset_name == "Beta", 3.0)
        # the page's live updates: server-sent events, at least 10 a second
        with urllib.request.urlopen(base + "/api/events", timeout=5) as events:
            t0, updates = time.monotonic(), []
            while time.monotonic() - t0 < 1.0:
                line = events.readline()
                if line.startswith(b"data: "):
                    updates.append(json.loads(line[6:]))
        results["updates"] = updates

    summary = run_live(lambda name: Chain(), "Alpha", seconds=3.0, panel="127.0.0.1:0",
                       midimap=MidiMap([]), presets=TWO, on_started=hammer)
    for what, ((code, reply), status, field) in ((k, v) for k, v in results.items() if k not in
                                                 ("unchanged", "good", "switched", "updates")):
        assert code == status, (what, reply)
        assert reply["field"] == field and reply["error"], (what, reply)
    before, after = results["unchanged"]
    for key in ("preset", "requested", "mix", "bypass", "output_gain_db", "gate_db"):
        assert before[0][key] == after[0][key], key
    assert before[1] == after[1] == {"mix": 0.3, "output_gain_db": -3.0}
    assert results["good"] == (200, {"ok": True, "preset": "Beta"}) and results["switched"]
    assert len(results["updates"]) >= 10 and results["updates"][-1]["preset"] == "Beta"
    # every refusal on a command path counts once among the commands refused
    api_refusals = sum(path in ("/api/params", "/api/preset") for _, _, path, *_ in BAD)
    assert summary["commands"]["panel"]["refused"] == api_refusals
    assert summary["panel"]["refused"] == len(BAD) and summary["faults"] == 0


def test_a_panel_beyond_loopback_needs_its_token(jack_server, capsys):
    results = {}

    def knock(engine, loader):
        panel = engine.surfaces.panel
        port = panel.address[1]
        base = f"http://127.0.0.1:{port}"
        token = panel.token
        for path in ("/", "/api/state", "/api/events"):
            results[path] = _request(base + path)
        results["post"] = _request(base + "/api/params", {"mix": 0.1})
        results["wrong"] = _request(base + "/api/state?token=nope")
        results["query"] = _request(base + f"/api/state?token={token}")
        results["bearer"] = _request(base + "/api/params", {"mix": 0.2},
                                     headers={"Authorization": f"Bearer {token}"})
        results["token"] = token

    summary = run_live(lambda name: Chain(), "Alpha", seconds=2.0, panel="0.0.0.0:0",
                       midimap=MidiMap([]), presets=TWO, on_started=knock)
    for key in ("/", "/api/state", "/api/events", "post", "wrong"):
        code, reply = results[key]
        assert code == 401 and reply["field"] == "token", (key, reply)
    assert results["query"][0] == 200 and results["query"][1]["preset"] == "Alpha"
    assert results["bearer"][0] == 200
    token = results["token"]
    assert len(token) >= 16
    err = capsys.readouterr().err
    assert f"?token={token}" in err and "token in this URL is required" in err
    assert summary["panel"]["unauthorized"] == 5 and summary["panel"]["token_required"]
    assert summary["commands"]["panel"]["accepted"] == 1  # only the one with the token


def test_osc_switches_presets_and_sets_the_mix(jack_server):
    from pythonosc.udp_client import SimpleUDPClient

    presets = [PresetInfo("Strings", 1), PresetInfo("Organ", 0)]
    seen = {}

    def play(engine, loader):
        host, port = engine.surfaces.osc.address
        client = SimpleUDPClient(host, port)
        client.send_message("/stylepedal/preset", 0)  # by program: Organ
        seen["by_program"] = wait_for(lambda: engine.preset_name == "Organ", 5.0)
        client.send_message("/stylepedal/preset", "strings")  # by name
        seen["by_name"] = wait_for(lambda: engine.preset_name == "Strings", 5.0)
        effect = next(i for i in engine._chain.items if hasattr(i, "mix"))
        client.send_message("/stylepedal/mix", 0.25)
        seen["mix"] = wait_for(lambda: effect.mix == 0.25, 2.0)
        client.send_message("/stylepedal/gain", -6.0)
        client.send_message("/stylepedal/bypass", 1)
        seen["bypass"] = wait_for(lambda: engine.master.bypassed, 2.0)
        # malformed: ignored and counted, nothing changes
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\x00garbage", (host, port))
            s.sendto(b"/stylepedal/mix\x00", (host, port))  # no type tag string
        client.send_message("/stylepedal/mix", "loud")  # wrong type
        client.send_message("/stylepedal/mix", [0.1, 0.2])  # two arguments
        client.send_message("/stylepedal/volume", 0.5)  # no such address
        client.send_message("/stylepedal/bypass", 2)  # not 0/1
        client.send_message("/stylepedal/mix", 7.0)  # out of range: refused
        client.send_message("/stylepedal/preset", 99)  # nothing there: refused
        time.sleep(0.3)
        seen["after"] = (engine.preset_name, effect.mix, engine.master.bypassed)

    summary = run_live(lambda name: build_chain(name), "Strings", seconds=4.0, osc="0",
                       midimap=MidiMap([]), presets=presets, on_started=play)
    assert seen["by_program"] and seen["by_name"] and seen["mix"] and seen["bypass"], seen
    assert seen["after"] == ("Strings", 0.25, True)
    assert summary["output_gain_db"] == -6.0
    osc = summary["osc"]
    assert osc["malformed"] == 6 and osc["refused"] == 2, osc
    # (gain and bypass, sent back to back, may arrive in one batch: one command then)
    assert summary["commands"]["osc"]["accepted"] in (4, 5), summary["commands"]
    assert summary["commands"]["osc"]["refused"] == 8, summary["commands"]
    assert summary["preset_switches"] == 2 and summary["faults"] == 0


def test_cli_refuses_a_bad_address_before_playing(jack_server, capsys):
    from stylepedal.host.cli import main

    assert main(["live", "--preset", "Organ", "--panel", "localhost:http", "--seconds", "1"]) == 2
    assert "--panel='localhost:http'" in capsys.readouterr().err
    assert main(["live", "--preset", "Organ", "--osc", "1.2.3.4:99999", "--seconds", "1"]) == 2
    assert "the port must be an integer in [0, 65535]" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["live", "--preset", "Organ", "--panel", str(port), "--seconds", "1"]) == 2
        assert f"--panel 127.0.0.1:{port} cannot be served" in capsys.readouterr().err
