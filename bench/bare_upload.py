"""The ceiling for cache hits: a FastAPI endpoint that only reads the multipart upload.

`uvicorn bench.bare_upload:app`
"""

from fastapi import FastAPI, File, UploadFile

app = FastAPI()


@app.post("/upload")
async def upload(file: UploadFile = File(...)) -> dict[str, int]:
    return {"size": len(await file.read())}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
