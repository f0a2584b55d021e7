"""The serving layer: what a recognizer service is made of; only services use it.

A task declares itself in a `TaskSpec` (`spec`) and gets its app from `create_app` (`app`), which
wires the shared routes (`routes`) and the task's own to a `RecognitionService` (`service`). That
object owns the `ModelRegistry` (`registry`), filled by the `ModelLoader` (`loader`, over
`models` and typed `model_card`s) and swapped by the `ModelReloader` (`reloading`), and runs each
request through one `ExecutionStrategy` (`strategies`: pooled workers from `workers`, in-process,
or staged) into the micro-batchers (`batching`). Request options are one pydantic model per task
(`options`). It builds on the edge layer (`recognition_common.edge`), which never imports it.

Modules here import each other by their full module path, never through this package's names,
so importing one module (training code reads `model_card` and `models`) does not depend on the
order this file imports them in.
"""

from __future__ import annotations

from recognition_common.serving.app import create_app
from recognition_common.serving.batching import MicroBatcher
from recognition_common.serving.model_card import ModelCard, read_card, write_card
from recognition_common.serving.options import NoOptions, parse_options
from recognition_common.serving.recognizer import Prepared, Recognizer, StagedRecognizer, Stages
from recognition_common.serving.registry import ModelRegistry, ServedModel
from recognition_common.serving.responses import json_dumps
from recognition_common.serving.service import RecognitionService
from recognition_common.serving.settings import RecognizerSettings
from recognition_common.serving.spec import Execution, GatewayRoute, TaskSpec
from recognition_common.serving.strategies import (
    ExecutionStrategy,
    InProcessStrategy,
    PooledStrategy,
    StagedStrategy,
)

__all__ = [
    "Execution",
    "ExecutionStrategy",
    "GatewayRoute",
    "InProcessStrategy",
    "MicroBatcher",
    "ModelCard",
    "ModelRegistry",
    "NoOptions",
    "PooledStrategy",
    "Prepared",
    "RecognitionService",
    "Recognizer",
    "RecognizerSettings",
    "ServedModel",
    "StagedRecognizer",
    "StagedStrategy",
    "Stages",
    "TaskSpec",
    "create_app",
    "json_dumps",
    "parse_options",
    "read_card",
    "write_card",
]
