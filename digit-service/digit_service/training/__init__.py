"""The digit commands' modules (`python -m digit_service.cli train | evaluate | retrain | download`).

Their modules import TensorFlow at the top; it is imported here first, without the lines its
C++ side prints while loading (`recognition_common.serving.models.import_tensorflow`).
"""

from recognition_common.serving.models import import_tensorflow

import_tensorflow()
