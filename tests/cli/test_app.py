import subprocess
import sys

import numpy as np

import dynsys


def test_help_and_version(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0 and "reproduce" in out
    code, out, _ = run_cli("--version")
    assert code == 0 and out.strip() == f"dynsys {dynsys.__version__}"


def test_no_command_prints_help(run_cli):
    code, out, _ = run_cli()
    assert code == 0 and "usage: dynsys" in out


def test_usage_error_is_one_line_exit_2(run_cli):
    code, _, err = run_cli("reproduce", "--profile", "huge")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "invalid choice" in err
    code, _, err = run_cli("frobnicate")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_dynsys_error_is_one_line_exit_2(run_cli):
    code, _, err = run_cli("reproduce", "--only", "no-such-figure", "--no-progress")
    assert code == 2
    assert err.count("\n") == 1 and "--only names unknown experiment(s) no-such-figure" in err
    assert "Traceback" not in err
    code, _, err = run_cli("reproduce", "--jobs", "0")
    assert code == 2 and "--jobs must be >= 1" in err


def test_reproduce_lists_experiments(run_cli):
    code, out, _ = run_cli("reproduce", "--list")
    assert code == 0 and "gradient_flow" in out


def test_commands_lists_every_command_module():
    import pkgutil

    import dynsys.cli
    from dynsys.cli.app import COMMANDS

    found = {m.name for m in pkgutil.iter_modules(dynsys.cli.__path__)} - {"_common", "app"}
    assert sorted(COMMANDS) == sorted(found)


def test_top_level_help_imports_no_library():
    code = (
        "import sys\n"
        "from dynsys.cli.app import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "lib = sorted(m for m in sys.modules if m.startswith('dynsys.') and not m.startswith('dynsys.cli')"
        " and m != 'dynsys.errors')\n"
        "print(lib, 'numpy' in sys.modules, file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "[] False"


def test_unusable_path_is_one_line_exit_2(run_cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli("basins", "--unit", "--resolution", "5", "--out", blocker / "b.npz")
    assert code == 2 and err.count("\n") == 1 and str(blocker) in err and "Traceback" not in err
    code, _, err = run_cli("sweep", blocker / "s.toml")
    assert code == 2 and err.count("\n") == 1


def test_console_script_runs_as_module(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "dynsys", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("dynsys ")


def test_import_is_light():
    code = (
        "import sys, dynsys; dynsys.RNNMap; dynsys.gradients; "
        "bad = [m for m in ('sympy', 'matplotlib', 'torch', 'dask') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_public_name():
    try:
        dynsys.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
    assert np.isfinite(1.0)
