"""The HTML report and the CSV tables: the tables equal the JSON results, every figure is
embedded, and a real headless browser (Debian's Chromium through Selenium) loads the page,
shows every figure and logs no console error."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from hbf_edge.cli import main

V1 = Path(__file__).resolve().parents[2] / "refs" / "v1"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder as a user makes one: evaluate, then simulate a bundle, then the report."""
    root = tmp_path_factory.mktemp("run")
    shutil.copytree(V1 / "upga", root / "model")
    assert main(["evaluate", str(root / "model"), "--count", "3", "--out", str(root / "eval"), "-q"]) == 0
    assert main(["simulate", str(V1 / "upga_bundle"), "--out", str(root / "sim")]) == 0
    assert main(["report", str(root)]) == 0
    return root


def test_csv_tables_hold_the_json_figures(run):
    results = json.loads((run / "eval" / "results.json").read_text())
    rows = list(csv.DictReader((run / "eval" / "results.csv").open()))
    upga_10 = [r for r in rows if r["table"] == "sum_rate" and r["row"] == "upga" and r["column"] == "10 dB"]
    assert float(upga_10[0]["value"]) == results["sum_rate"]["upga"][results["snr_db"].index(10.0)]
    sim = list(csv.DictReader((run / "sim" / "simulate.csv").open()))
    assert any(r["row"] == "code_mismatches.direct" and r["value"] == "0" for r in sim)


def test_the_report_embeds_every_figure_and_table(run):
    html = (run / "report.html").read_text()
    pngs = sorted(run.rglob("*.png"))
    assert len(pngs) == 3 and html.count("data:image/png;base64,") == len(pngs)
    assert "eval/results.json" in html and "sim/simulate.json" in html and "<h3>sum_rate</h3>" in html
    assert "src=\"http" not in html and "<script" not in html  # self-contained


def test_report_refuses_a_folder_without_results(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no hbf-edge results" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Chromium and ChromeDriver are not installed "
                    "(README: apt-get install chromium chromium-driver)")
def test_a_headless_browser_shows_every_figure_without_console_errors(run):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.get((run / "report.html").as_uri())
        shown = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 100 && i.naturalHeight > 100)")
        assert shown == [True] * len(list(run.rglob("*.png")))
        assert driver.title.startswith("hbf-edge report")
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == []
    finally:
        driver.quit()
