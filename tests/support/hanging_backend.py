"""A recognizer that lists a model and then never answers: for the gateway's 504 path.

`uvicorn tests.support.hanging_backend:app`
"""

import asyncio

from fastapi import FastAPI

app = FastAPI()


@app.get("/v1/models")
async def models() -> dict:
    return {
        "task": "digit",
        "ready": True,
        "default_model": "stuck",
        "preprocess_version": "0",
        "models": [{"name": "stuck", "version": "1"}],
    }


@app.get("/readyz")
async def readyz() -> dict:
    return {"status": "ready"}


@app.post("/v1/recognize")
async def recognize() -> dict:
    await asyncio.sleep(3600)
    return {}
