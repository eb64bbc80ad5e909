"""Settings for the embedded run of the suite: a throwaway data directory per test process."""

import os
import tempfile

for _name in ("DATABASE_URL", "REDIS_URL", "UNITED_MODE"):
    os.environ.pop(_name, None)
os.environ["UNITED_DATA_DIR"] = tempfile.mkdtemp(prefix="united-test-data-")
# Tests drive jobs themselves (run_due_jobs); importing united.asgi must not start the runner.
os.environ["UNITED_EMBEDDED_RUNNER"] = "0"

# The suite's tests send bursts; the per-member rate limits are tested on their own
# (tests/united/test_ratelimit.py lowers them with the `settings` fixture). Node processes
# that live tests start inherit this too.
from united.config import RATE_LIMITS  # noqa: E402

os.environ.setdefault("UNITED_RATE_LIMITS", ",".join(f"{name}=1000/1" for name in RATE_LIMITS))

from united.settings import *  # noqa: E402, F403

# The suite's own process opens threads (sync_to_async) that outlive their test: a connection
# kept open there would hold the test database when it is dropped. Nodes keep theirs.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
