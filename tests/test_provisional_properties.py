"""The provisional rule as a property: whatever sequence of syncs (placeholder, emulator,
real), restores, picks, accepts and gallery button presses, no figure reads `fresh` while
its image is one only a stand-in made, and the ledger's total is what the API charged."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figbuild import engine, history
from figbuild.backends.paperbanana.backend import ApiBackend
from figbuild.backends.paperbanana.client import Client
from figbuild.backends.paperbanana.settings import Settings
from figbuild.backends.placeholder import PlaceholderBackend
from figbuild.emulator import Emulator, EmulatorConfig
from figbuild.errors import FigbuildError
from figbuild.gallery.actions import PaperActions
from figbuild.paper import Paper
from figbuild.report import NullReporter
from figbuild.state import State

from .conftest import simple_manifest
from .test_history import FAST

FIGURES = ("a", "b")
TEXTS = ("The first text.\n", "The second text.\n")

Step = tuple[str, str, int]  # operation, figure, a number (version, candidate, text)

steps = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "placeholder",
                "emulator",
                "real",
                "edit",
                "restore",
                "pick",
                "accept",
                "button-restore",
                "button-accept",
                "button-pick",
            ]
        ),
        st.sampled_from(FIGURES),
        st.integers(min_value=1, max_value=4),
    ),
    min_size=1,
    max_size=7,
)


@dataclass
class World:
    """What the test knows independently of figbuild: which bytes only stand-ins made."""

    root: Path
    server: Emulator
    stand_in: set[str] = field(default_factory=set)
    real: set[str] = field(default_factory=set)
    charged: int = 0  # credits the "real" API charged

    def shas(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for figure in FIGURES:
            path = self.root / "figures" / f"{figure}.png"
            found[figure] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        return found

    def sync(self, kind: str) -> None:
        before, credits = self.shas(), self.server.credits_charged
        paper = Paper.open(self.root)
        if kind == "placeholder":
            engine.sync(paper, PlaceholderBackend(), NullReporter())
        else:
            with Client(Settings(base_url=self.server.base_url, key="sk-prop")) as client:
                makes = "emulator" if kind == "emulator" else "generated"
                engine.sync(paper, ApiBackend(client, FAST, makes=makes), NullReporter())
        made = {sha for figure, sha in self.shas().items() if sha is not None and sha != before[figure]}
        if kind == "real":
            self.charged += self.server.credits_charged - credits
            self.real |= made
        else:
            # Bytes a stand-in put in place, unless restored from a real image.
            self.stand_in |= made - self.real

    def run(self, step: Step) -> None:
        operation, figure, number = step
        paper = Paper.open(self.root)
        buttons = PaperActions(self.root, lambda: PlaceholderBackend(), NullReporter())  # type: ignore[arg-type, return-value]
        try:
            if operation in ("placeholder", "emulator", "real"):
                self.sync(operation)
            elif operation == "edit":
                (self.root / f"{figure}.tex").write_text(TEXTS[number % 2])
            elif operation == "restore":
                history.restore(paper, figure, number)
            elif operation == "pick":
                history.pick(paper, figure, number)
            elif operation == "accept":
                history.accept(paper, [figure])
            elif operation == "button-restore":
                buttons.restore(figure, number)
            elif operation == "button-pick":
                buttons.pick(figure, number)
            elif operation == "button-accept":
                buttons.accept(figure)
        except FigbuildError:
            pass  # no such version, nothing to accept: refused, which is fine

    def check(self) -> None:
        paper = Paper.open(self.root)
        statuses, _ = history.outlook(paper, paper.read_lock())
        shas = self.shas()
        fake = self.stand_in - self.real
        for status in statuses:
            if status.state is State.FRESH:
                assert shas[status.id] not in fake, f"{status.id} reads fresh with a stand-in's image"
        assert history.log(paper).ledger.total == self.charged


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps)
def test_no_sequence_makes_a_stand_in_fresh_and_the_ledger_is_the_apis(sequence: list[Step]) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        Emulator(EmulatorConfig(latency=0.01, image_scale=0.05)) as server,
    ):
        root = Path(folder)
        figures = {name: {"prompt": f"Figure {name}.", "content": f"{name}.tex"} for name in FIGURES}
        (root / "figures.yaml").write_text(yaml.safe_dump(simple_manifest(**figures), sort_keys=False))
        for name in FIGURES:
            (root / f"{name}.tex").write_text(TEXTS[0])
        world = World(root, server)
        for step in sequence:
            world.run(step)
            world.check()
