"""Model cards: the JSON file that sits beside every served `.keras` file.

A model is a directory (like a Triton model repository entry)::

    models/<name>/model.keras    the weights and graph
    models/<name>/card.json      what it is, what it was trained on, how well it does

The card is the single source of the model's name, version and classes; the service reports it
unchanged in `GET /v1/models`, and the gateway folds `version` into its cache key so a new model
never answers with an old model's cached result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

MODEL_FILE = "model.keras"
CARD_FILE = "card.json"


class ModelCard(BaseModel):
    """Required fields of a card; training code may add more (they are kept and served)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str = Field(description="Model name, unique within its task; the `model` request parameter.")
    version: str = Field(description="Model version; part of the gateway's cache key.")
    task: str = Field(description="Recognition task the model serves (its TaskSpec's name).")
    description: str = ""
    classes: list[str] = Field(description="Output classes in the order of the model's last axis.")
    input_shape: list[int] = Field(description="Shape of one input sample, without the batch axis.")
    training_data: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="Figures measured by the evaluate command."
    )
    created: str = Field(description="ISO date the model was trained.")
    components: list[str] = Field(
        default_factory=list,
        description="Models in sub-directories of this one that its recognizer runs besides it "
        "(e.g. a `locator` that finds what the main model reads); each is served behind its own batcher.",
    )

    @model_serializer(mode="wrap")
    def _omit_no_components(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A card without components is written and served without the key, as before the
        field was typed: cards on disk and `GET /v1/models` stay as they were."""
        data: dict[str, Any] = handler(self)
        if not self.components:
            data.pop("components", None)
        return data


CardT = TypeVar("CardT", bound=ModelCard)


# A model's name is what clients send as `model=` and its folder under a models directory.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_model_name(name: str) -> str:
    """`name` when it can name a model (and its folder), else ValueError saying what may."""
    if not MODEL_NAME.fullmatch(name):
        raise ValueError(f"--name {name!r}: letters, digits, '.', '_' and '-' only, at most 64")
    return name


@overload
def read_card(model_dir: Path) -> ModelCard: ...
@overload
def read_card(model_dir: Path, card_class: type[CardT]) -> CardT: ...
def read_card(model_dir: Path, card_class: type[ModelCard] = ModelCard) -> ModelCard:
    """Read and validate `<model_dir>/card.json`, as `card_class` (a task's own card, whose extra
    fields are typed and checked when the model loads, not when a request first needs them)."""
    return card_class.model_validate_json((model_dir / CARD_FILE).read_text(encoding="utf-8"))


def write_card(model_dir: Path, card: ModelCard) -> Path:
    """Write the card as stable, human-diffable JSON (sorted keys would scramble its story)."""
    path = model_dir / CARD_FILE
    path.write_text(json.dumps(card.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return path


def update_card_metrics(model_dir: Path, metrics: dict[str, Any]) -> ModelCard:
    """Merge freshly measured figures into an existing card and write it back."""
    card: ModelCard = read_card(model_dir)
    card.metrics = {**card.metrics, **metrics}
    write_card(model_dir, card)
    return card
