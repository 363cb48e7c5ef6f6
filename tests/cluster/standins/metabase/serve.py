"""TEST STAND-IN: serve tests/metabase/fake.py on 0.0.0.0:3000 (see ../README.md)."""

from fake import FakeMetabase
from werkzeug import Request, Response
from werkzeug.serving import run_simple

METABASE = FakeMetabase()


@Request.application
def app(request: Request) -> Response:
    return METABASE(request)


if __name__ == "__main__":
    # One thread: the fake's state is plain dictionaries.
    run_simple("0.0.0.0", 3000, app, threaded=False)  # noqa: S104 - a pod's port
