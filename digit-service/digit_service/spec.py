"""The digit task, as the platform sees it: `SPEC`.

A plain recognizer (MNIST-style pre-processing, one 10-class model call, a per-digit decoder)
without request options, own routes or gateway routes.
"""

from __future__ import annotations

from digit_service.cli import COMMANDS
from digit_service.config import DigitSettings
from digit_service.recognizer import DigitRecognizer
from recognition_common.serving.spec import Execution, TaskSpec

SPEC = TaskSpec(
    name="digit",
    settings=DigitSettings,
    recognizer=lambda settings: DigitRecognizer(settings.min_confidence),
    execution=Execution.PLAIN,
    commands=COMMANDS,
)
