"""py-async: the lab's API on FastAPI and uvicorn (seed 000's stack), each request a coroutine
on uvicorn's one asyncio event loop: `uvicorn py_async:app`. An io band awaits
`asyncio.sleep`, so a request's waits, and every request's, overlap on the loop; the computing
runs inline on the loop, one band at a time, and holds up every other request meanwhile."""

import asyncio
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

import lab_api

app = FastAPI(title="py-async", docs_url=None, redoc_url=None, openapi_url=None)
PATH = "/async"


async def run_bands(params, a, b):
    """Every band a coroutine, gathered: their waits overlap, their computing takes turns."""
    result = lab_api.np.empty((params.n, params.n), dtype=lab_api.np.int64)
    wait_s = params.band_wait_s()

    async def band(start, end):
        if wait_s:
            await asyncio.sleep(wait_s)
        result[start:end] = lab_api.band(params.work, params.impl, *lab_api.band_inputs(params, a, b, start, end))

    await asyncio.gather(*(band(start, end) for start, end in params.bands()))
    return result


@app.get(PATH)
async def compute(request: Request):
    started = time.perf_counter()
    try:
        params = lab_api.Params(dict(request.query_params))
    except lab_api.BadRequest as bad:
        return JSONResponse(lab_api.error(str(bad)), status_code=400)
    a, b = lab_api.generate(params)
    generated = time.perf_counter()
    result = await run_bands(params, a, b)
    done = time.perf_counter()
    return lab_api.answer(params, "Async", result, generated - started, done - generated, started)


@app.get("/")
async def index():
    return PlainTextResponse(lab_api.index("py-async", PATH, "coroutines on one asyncio event loop"))
