"""The explore page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromedriver``, through Selenium) loads the page, steps through a sequence, and every
value it shows equals the model's gates computed in Python (``lstmkit.LSTM.gates``, the
layer's own inspection path, not the page's). Skipped, with the reason, where no browser is
installed.

Screenshots for docs/explore.md:

    LSTMKIT_EXPLORE_SCREENSHOTS=docs python -m pytest -q -p no:cacheprovider tests/viz/test_explore_browser.py
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmkit.apps import explore as ex
from lstmkit.cli.explore import export_page, make_server

SHOTS = os.environ.get("LSTMKIT_EXPLORE_SCREENSHOTS")


def _find(*names):
    for n in names:
        p = shutil.which(n) or (n if os.path.isabs(n) and os.path.exists(n) else None)
        if p:
            return p
    return None


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("no browser test: selenium is not installed (pip install 'lstmkit[browser]')")
    chromium = _find("chromium", "chromium-browser", "/usr/bin/chromium")
    driver = _find("chromedriver", "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
    if chromium is None or driver is None:
        pytest.skip("no browser test: needs Chromium and its driver (Debian: apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1700"):
        opts.add_argument(a)
    try:
        d = webdriver.Chrome(service=Service(driver), options=opts)
    except Exception as e:  # a browser that does not start is a skip with its reason, not a failure
        pytest.skip(f"no browser test: Chromium did not start ({' '.join(str(e).split())[:200]})")
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def _wait(d, cond, timeout=30):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # the page re-renders its tables on every step: an element found in one poll may be
    # replaced before it is read (seen once in a full-suite run); the next poll finds the new one
    WebDriverWait(d, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(lambda drv: cond(drv))


def _shown(d, gates, H):
    """{gate: [(text, data-value) per unit]} of the page's table, read in one call."""
    cells = d.execute_script(
        "const o = {}; document.querySelectorAll('#vals td[id]').forEach("
        "(e) => { o[e.id] = [e.textContent, e.dataset.value]; }); return o;")
    return {g: [(cells[f"v-{g}-{u}"][0], float(cells[f"v-{g}-{u}"][1])) for u in range(H)] for g in gates}


def _shot(d, name):
    """A PNG of the whole page (the window stretched to its height) into $LSTMKIT_EXPLORE_SCREENSHOTS."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        size = d.get_window_size()
        height = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(size["width"], height + 120)
        d.execute_script("window.scrollTo(0, 0)")
        d.save_screenshot(str(Path(SHOTS) / name))
        d.set_window_size(size["width"], size["height"])


LONG = {"i": "input_gate", "f": "forget_gate", "g": "block_input", "o": "output_gate", "c": "cell_state", "h": "output"}


def test_exported_reber_page_shows_the_models_gates(browser, tmp_path):
    subject = ex.experiment_subject("reber")
    text = "BTBTSSXXTVVETE"
    page = export_page(ex.Session(subject), tmp_path / "reber.html", text)
    d = browser
    d.get(page.as_uri())
    _wait(d, lambda drv: drv.execute_script("return document.body.dataset.ready") == "1")
    # Python: the layer's own gates() on the one-hot string
    x = torch.zeros(len(text), 1, 7, dtype=torch.float64)
    for t, s in enumerate(text):
        x[t, 0, "BTPSXVE".index(s)] = 1
    with torch.no_grad():
        want = {k: v[:, 0].numpy() for k, v in subject.model.rnn.gates(x).items()}
    H = subject.hidden_size
    fwd = d.find_element("id", "fwd")
    for t in range(len(text)):
        if t:
            fwd.click()
        assert d.find_element("id", "stepinfo").text.startswith(f"t = {t} of {len(text) - 1}")
        shown = _shown(d, "ifgoch", H)
        for g, vals in shown.items():
            for u, (txt, v) in enumerate(vals):
                ref = want[LONG[g]][t, u]
                assert abs(v - ref) < 1e-12, (t, g, u)
                assert txt == f"{ref:.4f}" or abs(float(txt) - ref) <= 5e-5, (t, g, u, txt)
        unit = int(d.find_element("id", "unit").get_attribute("value"))
        assert d.find_element("id", "d-c").text == f"c={want['cell_state'][t, unit]:.3f}"
        if t == 6:
            _shot(d, "explore-reber.png")
    mem = ex.memory_unit(subject)
    assert d.find_element("id", "memory").text == mem["text"] and f"Unit {mem['unit']} holds" in mem["text"]
    assert unit == mem["unit"]
    # back one step, then switch to the untrained GRU of the same size on the same string
    d.find_element("id", "back").click()
    assert d.find_element("id", "stepinfo").text.startswith(f"t = {len(text) - 2} ")
    from selenium.webdriver.support.ui import Select

    Select(d.find_element("id", "variant")).select_by_value("gru")
    gru = ex.variant_subject("gru", seed=0, like=subject)
    want = ex.step_values(gru.layer, subject.encode(text)[1])
    shown = _shown(d, "rznh", H)
    for g, vals in shown.items():
        np.testing.assert_allclose([v for _, v in vals], want[g][len(text) - 2].numpy(), atol=1e-12)
    assert "GRU" in d.find_element("id", "diagnote").text
    _shot(d, "explore-gru.png")
    assert d.find_elements("id", "d-fbox") == []  # the LSTM's gates are gone from the diagram
    Select(d.find_element("id", "variant")).select_by_value("nfg")
    assert "offtext" in d.find_element("css selector", "#diagram text.offtext").get_attribute("class")
    assert "no forget gate" in d.find_element("id", "diagnote").text
    _shot(d, "explore-nfg.png")


def test_live_page_switches_variant_and_applies_edited_weights(browser):
    session = ex.Session(ex.variant_subject("vanilla", input_size=2, hidden_size=3, seed=0))
    srv = make_server(session, 0, "0.5 1; -0.2 0; 0.9 1; 0.1 -0.3")
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        d = browser
        d.get(f"http://127.0.0.1:{srv.server_address[1]}/")
        _wait(d, lambda drv: drv.execute_script("return document.body.dataset.ready") == "1")
        from selenium.webdriver.support.ui import Select

        Select(d.find_element("id", "variant")).select_by_value("cifg")
        _wait(d, lambda drv: "cifg" in drv.find_element("id", "title").text)
        for _ in range(2):
            d.find_element("id", "fwd").click()
        shown = _shown(d, "if", 3)
        for u in range(3):
            assert abs(shown["f"][u][1] - (1 - shown["i"][u][1])) < 1e-12
        # edit one weight: the cell input's bias of unit 0 (row g0 of bias_ih) -> 2.0
        run = session.run("cifg", "0.5 1; -0.2 0; 0.9 1; 0.1 -0.3")
        row = run["weights"]["bias_ih_l0"]["rows"].index("g")
        inp = d.find_element("id", f"w-bias_ih_l0-{row}")
        inp.clear()
        inp.send_keys("2.0")
        d.execute_script("arguments[0].dispatchEvent(new Event('change'))", inp)
        d.find_element("id", "apply").click()
        edited = {k: v["values"] for k, v in run["weights"].items()}
        edited["bias_ih_l0"][row] = 2.0
        _wait(d, lambda drv: abs(float(drv.find_element("id", "v-g-0").get_attribute("data-value"))
                                 - run["gates"]["g"][2][0]) > 1e-6)
        want = ex.explore(_edited(edited), "0.5 1; -0.2 0; 0.9 1; 0.1 -0.3")
        shown = _shown(d, "ifgoch", 3)
        for g, vals in shown.items():
            np.testing.assert_allclose([v for _, v in vals], want["gates"][g][2], atol=1e-12)
        _shot(d, "explore-live-cifg.png")
    finally:
        srv.shutdown()
        srv.server_close()


def _edited(weights):
    s = ex.variant_subject("cifg", input_size=2, hidden_size=3, seed=0)
    ex.set_weights(s.layer, weights)
    return s


def test_adding_page_reads_out_the_sum_at_the_last_step(browser, tmp_path):
    subject = ex.experiment_subject("adding")
    text = subject.samples[0]
    page = export_page(ex.Session(subject), tmp_path / "adding.html", text)
    d = browser
    d.get(page.as_uri())
    _wait(d, lambda drv: drv.execute_script("return document.body.dataset.ready") == "1")
    T = len(ex.parse_vectors(text, 2))
    d.find_element("id", f"s-{T - 1}").click()
    x = torch.as_tensor(ex.parse_vectors(text, 2))[:, None]
    with torch.no_grad():
        y, _ = subject.model(x)
        want = subject.model.rnn.gates(x)
    assert d.find_element("id", "readout").text.endswith(f", output {float(torch.sigmoid(y[0, 0])):.4g}")
    shown = _shown(d, "ch", subject.hidden_size)
    np.testing.assert_allclose([v for _, v in shown["c"]], want["cell_state"][T - 1, 0].numpy(), atol=1e-12)
    d.find_element("id", f"s-{T // 3}").click()
    _shot(d, "explore-adding.png")


def _ctc_subject(tmp_path):
    """A saved 2-layer bidirectional LSTM (a CTC recognizer's), as ``--model DIR`` opens it."""
    from lstmkit.models import save_model
    from lstmkit.models.recognizers import CTCRecognizer

    torch.manual_seed(0)
    s = ex.model_subject(save_model(CTCRecognizer(input_size=2, num_labels=3, hidden_size=4, num_layers=2),
                                    tmp_path / "ctc"))
    s.title = "an untrained CTCRecognizer: LSTM (vanilla), 2 layers, bidirectional"  # not the test's tmp path
    return s


STACK_TEXT = "0.5 -1; 0.3 0.8; -0.9 0.1; 0.2 0.2; 1.0 -0.4; -0.6 0.9"


def test_exported_page_shows_layer_one_backward_as_the_model(browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    subject = _ctc_subject(tmp_path)
    page = export_page(ex.Session(subject), tmp_path / "stack.html", STACK_TEXT)
    d = browser
    d.get(page.as_uri())
    _wait(d, lambda drv: drv.execute_script("return document.body.dataset.ready") == "1")
    x = torch.as_tensor(ex.parse_vectors(STACK_TEXT, 2))[:, None]
    options = [o.get_attribute("value") for o in Select(d.find_element("id", "layer")).options]
    assert options == ["0:0", "0:1", "1:0", "1:1"]
    for choice in ("1:1", "0:1", "1:0"):
        layer, direction = map(int, choice.split(":"))
        Select(d.find_element("id", "layer")).select_by_value(choice)
        with torch.no_grad():  # the layer's own inspection path
            want = {k: v[:, 0].numpy() for k, v in subject.layer.gates(x, layer=layer, direction=direction).items()}
        assert f"layer {layer} {('forward', 'backward')[direction]}" in d.find_element("id", "title").text
        d.find_element("id", "s-2").click()
        shown = _shown(d, "ifgoch", 4)
        for g, vals in shown.items():
            np.testing.assert_allclose([v for _, v in vals], want[LONG[g]][2], atol=1e-12, err_msg=f"{choice} {g}")
        # the diagram's c(t-1): after step 3 for the backward direction, after step 1 forward
        unit = int(d.find_element("id", "unit").get_attribute("value"))
        before = 3 if direction == 1 else 1
        assert d.find_element("id", "d-cprev").text == f"c={want['cell_state'][before, unit]:.3f}"
        if choice == "1:1":
            assert "backward direction" in d.find_element("id", "dirnote").text
            assert "reads the outputs of layer 0 (both directions)" in d.find_element("id", "dirnote").text
            _shot(d, "explore-layer1-backward.png")


def test_exported_page_shows_the_xlstm_and_depth_gates(browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    subject = _ctc_subject(tmp_path)
    page = export_page(ex.Session(subject), tmp_path / "families.html", STACK_TEXT)
    d = browser
    d.get(page.as_uri())
    _wait(d, lambda drv: drv.execute_script("return document.body.dataset.ready") == "1")
    xl = subject.encode(STACK_TEXT)[1]
    families = {"slstm": ("ifzocnmh", (0, 0)), "mlstm": ("onh", (0, 0)),  # mLSTM's per-unit values; per head below
                "tlstm": (["i", "f", "g", "o", "cs", "cadj", "c", "h"], (0, 0)),
                "depth_gated_lstm": (["i", "f", "g", "o", "d", "cl", "c", "h"], (1, 0))}
    for name, (keys, show) in families.items():
        Select(d.find_element("id", "variant")).select_by_value(name)
        d.find_element("id", "s-4").click()
        other = ex.variant_subject(name, seed=0, like=subject)
        want = ex.step_values(other.layer, xl, *show)
        assert d.find_element("id", "layer").get_attribute("value") == f"{show[0]}:{show[1]}"
        shown = _shown(d, keys, 4)
        for g, vals in shown.items():
            np.testing.assert_allclose([v for _, v in vals], want[g][4].numpy(), atol=1e-12, err_msg=f"{name} {g}")
        if name == "mlstm":  # one head: its gates i, f and the memory norm have one row
            for g in ("i", "f", "C"):
                assert abs(float(d.find_element("id", f"v-{g}-0").get_attribute("data-value")) - float(want[g][4, 0])) < 1e-12
                assert d.find_elements("id", f"v-{g}-1") == []
        if name == "tlstm":
            assert abs(float(d.find_element("id", "v-gdt-0").get_attribute("data-value")) - 1 / np.log(np.e + 1)) < 1e-12
        assert d.find_element("id", "d-h").text.startswith("h = ")
        if name == "slstm":
            assert "exponential gates" in d.find_element("id", "diagnote").text
            _shot(d, "explore-slstm.png")


def test_exported_conv_lstm_page_draws_the_feature_maps(browser, tmp_path):
    subject = ex.variant_subject("conv_lstm", input_size=1, hidden_size=3, seed=0)
    text = "square 1 1 1 1 6"
    page = export_page(ex.Session(subject), tmp_path / "conv.html", text)
    d = browser
    d.get(page.as_uri())
    _wait(d, lambda drv: drv.execute_script("return document.body.dataset.ready") == "1")
    maps = {}
    want = ex.step_values(subject.layer, subject.encode(text)[1])  # the spatial means
    ex._values(subject.layer, subject.encode(text)[1], 0, 0, maps)
    d.find_element("id", "s-3").click()
    assert not d.find_element("id", "fmsec").get_attribute("hidden")
    shown = _shown(d, "ifgoch", 3)
    for g, vals in shown.items():
        np.testing.assert_allclose([v for _, v in vals], want[g][3].numpy(), atol=1e-12, err_msg=g)
    import json

    for g in "ifgoch":
        for ch in range(3):
            cv = d.find_element("id", f"fm-{g}-{ch}")
            np.testing.assert_allclose(json.loads(cv.get_attribute("data-values")), maps[g][3, ch].numpy(), atol=1e-12)
    # the pixel drawn for the forget gate of channel 1 at row 2, column 5 has the gate's colour
    px = int(d.find_element("id", "fm-f-1").get_attribute("data-px"))
    rgb = d.execute_script(
        "const c = document.getElementById('fm-f-1').getContext('2d');"
        f"return Array.from(c.getImageData({5 * px + px // 2}, {2 * px + px // 2}, 1, 1).data).slice(0, 3);")
    a = float(maps["f"][3, 1, 2, 5])
    assert rgb == [int(np.floor(v + 0.5)) for v in (255 - 228 * a, 255 - 161 * a, 255 - 223 * a)]  # JS Math.round
    d.find_element("id", "fm-c-2").click()
    assert d.find_element("id", "unit").get_attribute("value") == "2"
    assert "spatial mean" in d.find_element("id", "diagnote").text
    _shot(d, "explore-conv-lstm.png")


def test_live_page_asks_its_server_for_another_layer(browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    subject = _ctc_subject(tmp_path)
    srv = make_server(ex.Session(subject), 0, STACK_TEXT)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        d = browser
        d.get(f"http://127.0.0.1:{srv.server_address[1]}/")
        _wait(d, lambda drv: drv.execute_script("return document.body.dataset.ready") == "1")
        Select(d.find_element("id", "layer")).select_by_value("1:1")
        _wait(d, lambda drv: "layer 1 backward" in drv.find_element("id", "title").text)
        x = torch.as_tensor(ex.parse_vectors(STACK_TEXT, 2))[:, None]
        with torch.no_grad():
            want = subject.layer.gates(x, layer=1, direction=1)
        shown = _shown(d, "ifgoch", 4)
        for g, vals in shown.items():
            np.testing.assert_allclose([v for _, v in vals], want[LONG[g]][0, 0].numpy(), atol=1e-12, err_msg=g)
        # a new input keeps the layer and direction shown
        box = d.find_element("id", "input")
        box.clear()
        box.send_keys("1 0; 0 1; 0.5 0.5")
        d.find_element("id", "run").click()
        _wait(d, lambda drv: drv.find_element("id", "stepinfo").text.startswith("t = 0 of 2"))
        assert d.find_element("id", "layer").get_attribute("value") == "1:1"
        with torch.no_grad():
            want = subject.layer.gates(torch.tensor([[[1.0, 0]], [[0, 1]], [[0.5, 0.5]]], dtype=torch.float64),
                                       layer=1, direction=1)
        np.testing.assert_allclose([v for _, v in _shown(d, "c", 4)["c"]], want["cell_state"][0, 0].numpy(), atol=1e-12)
    finally:
        srv.shutdown()
        srv.server_close()
