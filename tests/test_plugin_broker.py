"""A broker is one package and one entry point: a toy broker installed from a throwaway folder (a
package and its dist-info on PYTHONPATH, as pip would leave them) is listed, asked for the
secrets it declares, checked by doctor for what it requires, run as a simulator by `copytui sim`,
and copied to by `copytui run` — with no file of copytui naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TOY = """
from adapters.base import AdapterSpec, SecretField
from adapters.paper import PaperAdapter, PaperExchange


class ToyAdapter(PaperAdapter):
    broker = "toy"


def create_adapter(account, ctx):
    if ctx.paper_exchange is None:
        ctx.paper_exchange = PaperExchange()
    name = account.account_id or account.name
    ctx.paper_exchange.account(name)
    return ToyAdapter(ctx.paper_exchange, name)


def serve(port, accounts, seed, *, faults=None, audit=None):
    print(f"toy simulator on 127.0.0.1:{port} with {accounts} accounts, seed {seed}, faults {faults}")


SPEC = AdapterSpec(
    name="toy",
    factory="toybroker:create_adapter",
    secrets=(SecretField("token", "Toy token", required=False),),
    simulator="toybroker:serve",
    requires=(("toy_wire_protocol", "pip install toy-wire  (the toy's own extra)"),),
)
"""


TOY_TESTS = """
import pytest

from adapters.base import AdapterContext
from adapters.kit.conformance import AdapterConformance, Venue
from adapters.paper import PaperExchange
from copytui import registry
from copytui.config import AccountConfig


class TestToyConformance(AdapterConformance):
    @pytest.fixture
    async def venue(self):
        exchange = PaperExchange(seed=5)
        account = AccountConfig(name="t1", broker="toy", account_id="T1")

        def make():  # through the entry point, as copytui run builds it
            return registry.create(account, AdapterContext(paper_exchange=exchange))

        async with Venue.open(exchange, "T1", make, lambda: exchange.drop_streams("T1")) as v:
            yield v
"""


def _install_toy(root: Path) -> dict[str, str]:
    site = root / "site"
    (site / "toybroker").mkdir(parents=True)
    (site / "toybroker" / "__init__.py").write_text(TOY)
    info = site / "toybroker-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toybroker\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[copytui.adapters]\ntoy = toybroker:SPEC\n")
    (root / "toytests").mkdir()
    (root / "toytests" / "test_toy.py").write_text(TOY_TESTS)
    (root / "toytests" / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(root / "home"), PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", COLUMNS="120")  # fmt: skip
    return env


def _copytui(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "copytui.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip


def test_a_toy_broker_from_its_own_package_is_a_full_broker(tmp_path: Path) -> None:
    env = _install_toy(tmp_path)
    sim = _copytui(env, "sim", "toy", "--port", "5123", "--accounts", "2", "--reject-rate", "0.5")
    assert sim.returncode == 0, sim.stderr
    assert "toy simulator on 127.0.0.1:5123 with 2 accounts" in sim.stdout and "reject_rate=0.5" in sim.stdout

    added = _copytui(env, "accounts", "add", "lead", "--broker", "paper", "--role", "leader")
    assert added.returncode == 0, added.stderr
    toy = _copytui(env, "accounts", "add", "t1", "--broker", "toy", "--role", "follower")
    assert toy.returncode == 0, toy.stderr
    assert "optional token was not asked for" in toy.stdout  # its own declared secret, not copytui's guess

    doctor = _copytui(env, "doctor")
    assert "adapter toy" in doctor.stdout and "needs the Python module toy_wire_protocol" in doctor.stdout
    assert "pip install toy-wire" in doctor.stdout

    run = _copytui(env, "run", "--demo", "--headless", "--duration", "4", "--seed", "3",
                   "--config", str(tmp_path / "home" / ".config" / "copytui" / "config.yaml"))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "(paper) to 1 follower" in run.stdout
    assert " t1 " in run.stdout and "filled" in run.stdout  # the toy follower's orders went out and filled


def test_a_broker_package_runs_the_conformance_suite_from_the_kit(tmp_path: Path) -> None:
    """The toy's own tests, in its own folder, subclass the kit's suite and pass: what a broker
    that lives outside this repository runs (``pip install copytui[testkit]``)."""
    from adapters.kit.conformance import AdapterConformance

    env = _install_toy(tmp_path)
    tests = tmp_path / "toytests"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(tests / "pytest.ini"),
         "--rootdir", str(tests), str(tests / "test_toy.py")],
        capture_output=True, text=True, env=env, timeout=300, cwd=tests,
    )  # fmt: skip
    contract = [name for name in dir(AdapterConformance) if name.startswith("test_")]
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert f"{len(contract)} passed" in out.stdout, out.stdout[-2000:]


def test_a_broken_broker_package_does_not_take_the_others_down(tmp_path: Path) -> None:
    env = _install_toy(tmp_path)
    site = tmp_path / "site"
    (site / "brokebroker").mkdir()
    (site / "brokebroker" / "__init__.py").write_text("raise ImportError('half-installed')\n")
    info = site / "brokebroker-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokebroker\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[copytui.adapters]\nbroke = brokebroker.spec:SPEC\n")
    listed = _copytui(env, "sim", "--help")
    assert listed.returncode == 0, listed.stderr
    assert "  toy " in listed.stdout and "  broke " not in listed.stdout
    added = _copytui(env, "accounts", "add", "b1", "--broker", "broke", "--role", "follower")
    assert added.returncode != 0
    assert "installed but broken" in added.stdout + added.stderr and "half-installed" in added.stdout + added.stderr


def test_no_file_of_copytui_keeps_a_list_of_brokers() -> None:
    """The declarations live with the brokers: copytui's own code reads them through the registry."""
    for path in (ROOT / "copytui").rglob("*.py"):
        if path.name == "demo.py":
            continue  # the demo's embedded config names the brokers it runs
        text = path.read_text(encoding="utf-8")
        for broker in ("tradovate", "projectx", "quickfix"):
            for line in text.splitlines():
                code = line.split("#", 1)[0]
                assert f'"{broker}"' not in code and f"'{broker}'" not in code, f"{path}: {line.strip()}"
