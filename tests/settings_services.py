"""Settings for the PostgreSQL + Redis run of the suite (`pytest --ds=tests.settings_services`).

Importing this module starts a real PostgreSQL and a real Redis on free loopback ports and
points the production-mode settings at them; both stop when the test process exits. The
variables are also exported so the node processes that live tests start inherit them.
"""

import atexit
import os
import tempfile

from tests import services

_base = tempfile.mkdtemp(prefix="united-test-services-")
os.chmod(_base, 0o755)
if os.environ.get("UNITED_TEST_SHARED_PG_URL"):
    # An xdist worker: the controller that spawned it started PostgreSQL; sharing it lets
    # every worker copy one migrated template (tests/templates.py). Redis stays per process,
    # so rate limits, caches and channel groups of parallel tests never meet.
    _pg_url = os.environ["UNITED_TEST_SHARED_PG_URL"]
else:
    _pg = services.start_postgres()
    atexit.register(_pg.stop)
    _pg_url = os.environ["UNITED_TEST_SHARED_PG_URL"] = _pg.url
_redis = services.start_redis()
atexit.register(_redis.stop)

os.environ["DATABASE_URL"] = _pg_url
os.environ["REDIS_URL"] = _redis.url
os.environ["UNITED_MODE"] = "production"
os.environ.setdefault("UNITED_SECRET_KEY", "test-secret-key-for-the-services-run-0123456789")
os.environ.setdefault("FEDERATION_DOMAIN", "test.united.invalid")
os.environ.setdefault("UNITED_DATA_DIR", _base)
os.environ["UNITED_TEST_PG_PORT"] = _pg_url.rsplit(":", 1)[1].split("/")[0]

# The suite's tests send bursts; the per-member rate limits are tested on their own
# (tests/united/test_ratelimit.py lowers them with the `settings` fixture). Node processes
# that live tests start inherit this too.
from united.config import RATE_LIMITS  # noqa: E402

os.environ.setdefault("UNITED_RATE_LIMITS", ",".join(f"{name}=1000/1" for name in RATE_LIMITS))

from united.settings import *  # noqa: E402, F403

# The suite's own process opens threads (sync_to_async) that outlive their test: a connection
# kept open there would hold the test database when it is dropped. Nodes keep theirs.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
