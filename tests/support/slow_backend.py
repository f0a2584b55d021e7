"""A recognizer that answers every request correctly but only after SLOW_BACKEND_DELAY_S seconds
(default 1.5): requests stay in flight long enough for a test to shut the gateway down under them,
or, with a delay of an hour, a recognizer that hangs (the gateway's 504 path).

`uvicorn tests.support.slow_backend:app`
"""

import asyncio
import os

from fastapi import FastAPI, Request

app = FastAPI()
DELAY_S = float(os.environ.get("SLOW_BACKEND_DELAY_S", "1.5"))
MODEL = {"name": "slow", "version": "1", "fingerprint": "000000000000"}


@app.get("/v1/models")
async def models() -> dict:
    return {
        "task": "digit",
        "ready": True,
        "default_model": "slow",
        "preprocess_version": "0",
        "models": [MODEL],
    }


@app.get("/readyz")
async def readyz() -> dict:
    return {"status": "ready"}


@app.post("/v1/recognize")
async def recognize(request: Request) -> dict:
    size = len(await request.body())
    await asyncio.sleep(DELAY_S)
    result = {"text": "7", "confidence": 1.0, "bytes": size}
    return {"model": MODEL, "preprocess_version": "0", "result": result}
