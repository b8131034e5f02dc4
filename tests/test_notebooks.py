"""The notebooks execute without error (so they never rot), and the committed files carry their
outputs (so they read on a code host): executed top to bottom, small PNG figures, no machine paths.

The tests execute a copy of each notebook in a temporary folder and never rewrite the committed
files. After editing a notebook, save it again with its outputs:

    python tests/test_notebooks.py            # executes notebooks/*.ipynb in notebooks/ and saves them
"""

import json
import os
import struct
import sys
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
#: notebooks that must show figures (02 draws its panels once without the sliders)
WITH_FIGURES = {"01_quickstart", "02_one_unit_explorer", "03_analyze_your_rnn", "04_gated_cells"}
MACHINE_PATHS = ("/work/", "/tmp/")
MAX_NOTEBOOK_BYTES = 400_000
MAX_PNG_PIXELS = (1000, 800)  # (width, height): figures at modest dpi
MAX_WIDGET_STATE_BYTES = 20_000
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TIMEOUT = 300


def execute(path, workdir):
    """Execute the notebook file ``path`` in memory (working directory ``workdir``) and return it."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name="python3",
        record_timing=False,  # no timestamps in the saved cells: a refresh changes only what changed
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return nb


def save_with_outputs(paths=NOTEBOOKS):
    """Execute each notebook in ``notebooks/`` (inline figures) and save it with its outputs."""
    import nbformat

    os.environ.pop("MPLBACKEND", None)  # the kernel's own inline backend embeds the figures
    for path in paths:
        nb = execute(path, NOTEBOOK_DIR)
        nb.metadata.pop("widgets", None)  # slider state: no code host runs it, JupyterLab does not restore it
        nbformat.write(nb, path)
        print(f"{path.name}: {path.stat().st_size / 1024:.1f} KB")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """``run(path) -> (executed notebook, committed bytes before execution)``, cached per notebook."""
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    cache = {}

    def run(path):
        if path.name not in cache:
            committed = path.read_bytes()
            workdir = tmp_path_factory.mktemp(path.stem)
            copy = workdir / path.name
            copy.write_bytes(committed)
            with pytest.MonkeyPatch.context() as mp:
                mp.delenv("MPLBACKEND", raising=False)
                cache[path.name] = (execute(copy, workdir), committed)
        return cache[path.name]

    return run


def _code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _outputs(nb):
    return [o for c in _code_cells(nb) for o in c.get("outputs", [])]


def _text(value):
    """A multiline field of the notebook format: a string or, in the saved file, a list of lines."""
    return "".join(value) if isinstance(value, list) else value


def _texts(output):
    """The text of one output (streams, tracebacks, every non-image representation)."""
    if "text" in output:
        yield _text(output["text"])
    yield from output.get("traceback", [])
    for mime, value in output.get("data", {}).items():
        if not mime.startswith("image/"):
            yield value if isinstance(value, str) else json.dumps(value)  # json.dumps keeps "/" as is


def _pngs(nb):
    return [o["data"]["image/png"] for o in _outputs(nb) if "image/png" in o.get("data", {})]


def _png_size(b64):
    import base64

    head = base64.b64decode(b64[:44])
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def _committed(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes(path, executed):
    nb, committed = executed(path)
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors
    assert path.read_bytes() == committed  # a copy was executed; the committed file is untouched


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem in WITH_FIGURES], ids=lambda p: p.stem)
def test_executed_notebook_embeds_figures(path, executed):
    nb, _ = executed(path)
    assert _pngs(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_was_executed_in_order(path):
    cells = _code_cells(_committed(path))
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
    assert not [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    for c in cells:
        for o in c["outputs"]:
            if "execution_count" in o:
                assert o["execution_count"] == c["execution_count"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_has_the_outputs_of_a_run(path, executed):
    nb, _ = executed(path)
    committed = _code_cells(_committed(path))
    fresh = _code_cells(nb)
    assert [_text(c["source"]) for c in committed] == [_text(c["source"]) for c in fresh]
    missing = [i for i, (c, f) in enumerate(zip(committed, fresh)) if f.get("outputs") and not c["outputs"]]
    assert not missing, f"code cells {missing} have no saved outputs: run python tests/test_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_outputs_are_small_and_portable(path):
    nb = _committed(path)
    leaks = [t for o in _outputs(nb) for t in _texts(o) if any(p in t for p in MACHINE_PATHS)]
    assert not leaks
    assert path.stat().st_size <= MAX_NOTEBOOK_BYTES
    assert len(json.dumps(nb["metadata"].get("widgets", {}))) <= MAX_WIDGET_STATE_BYTES
    for png in _pngs(nb):
        width, height = _png_size(png)
        assert width <= MAX_PNG_PIXELS[0] and height <= MAX_PNG_PIXELS[1]
    if path.stem in WITH_FIGURES:
        assert _pngs(nb)


def test_explorer_sliders_recompute_on_release(executed):
    pytest.importorskip("ipywidgets")
    nb, _ = executed(NOTEBOOK_DIR / "02_one_unit_explorer.ipynb")
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    sliders = {
        m["state"]["description"]: m["state"] for m in state.values() if m["model_name"] == "FloatSliderModel"
    }
    assert set(sliders) == {"w", "b"}
    assert [s["continuous_update"] for s in sliders.values()] == [False, False]


def test_png_size_reads_the_header():
    import base64

    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", 640, 480) + b"\x08\x06\x00\x00\x00"
    assert _png_size(base64.b64encode(header + b"\x00" * 16).decode()) == (640, 480)


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {
        "01_quickstart.ipynb",
        "02_one_unit_explorer.ipynb",
        "03_analyze_your_rnn.ipynb",
    }


if __name__ == "__main__":
    save_with_outputs([Path(a).resolve() for a in sys.argv[1:]] or NOTEBOOKS)
