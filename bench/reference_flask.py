"""The seed projects' way of serving a Keras model, as the benchmark's baseline.

Flask's threaded development server and `model.predict` on every request, as the Flask+Keras
digit demos do; the same model file and the same pre-processing as the digit service, so the
benchmark compares serving architecture and nothing else.
`python -m bench.reference_flask --port 5000 --model digit-service/models/cnn/model.keras`
"""

from __future__ import annotations

import argparse
import io

import keras
import numpy as np
from flask import Flask, jsonify, request
from PIL import Image

from digit_service.preprocess import prepare_digits


def create_app(model_path: str) -> Flask:
    app = Flask(__name__)
    model = keras.saving.load_model(model_path)

    @app.post("/predict")
    def predict():
        image = Image.open(io.BytesIO(request.files["file"].read()))
        image.load()
        samples = prepare_digits(image)
        batch = np.stack([sample.pixels for sample in samples])[..., np.newaxis]
        probabilities = model.predict(batch, verbose=0)
        digits = [int(p.argmax()) for p in probabilities]
        return jsonify({"text": "".join(map(str, digits)), "probabilities": probabilities.tolist()})

    @app.get("/health")
    def health():
        return "ok"

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    create_app(args.model).run(host="127.0.0.1", port=args.port, threaded=True)
