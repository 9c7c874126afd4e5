"""``jointspace serve``: the HTTP API and the web page over one or more collections.

    settings.py   ServeSettings (limits, queue, hosts) and the bind-address check
    auth.py       hashed bearer tokens, read / admin roles, ``jointspace token create``
    limits.py     the 413 error and the body-size middleware
    uploads.py    uploaded images decoded with a pixel cap
    admission.py  the admission Gate (503 + Retry-After when full)
    batching.py   the one model thread; waiting text / image queries embedded together
    state.py      ServeState: collections, shared models, thread pools, caches
    search.py     a search request as data, run against a Collection
    api_search.py health, collections, search, classify routes
    api_items.py  item details, thumbnails, originals (by id only), add / remove (admin)
    app.py        create_app: routes, the one error handler, middleware, the static page
    run.py        build() and run() with uvicorn
    static/       index.html, style.css, app.js (no build step)
"""

from jointspace.serve.settings import ServeSettings

__all__ = ["ServeSettings", "build", "create_app", "serve"]


def __getattr__(name: str):
    # FastAPI and uvicorn load only when a service is actually built.
    if name in ("build", "serve"):
        from jointspace.serve import run

        return getattr(run, name)
    if name == "create_app":
        from jointspace.serve.app import create_app

        return create_app
    raise AttributeError(name)
