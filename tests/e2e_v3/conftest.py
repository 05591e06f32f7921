"""Fixtures of the v3-client tests: the `Weft` server harness of tests/e2e, loaded from there
(that conftest needs nothing the v3 venv lacks)."""

import importlib.util
import sys
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))
_spec = importlib.util.spec_from_file_location("weft_e2e_conftest", E2E / "conftest.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

Weft = _e2e.Weft
rest = _e2e.rest


make_weft = _e2e.make_weft  # the fixture, registered here by name
