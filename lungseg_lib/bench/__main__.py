"""``python -m lungseg_lib.bench --worker TASK_JSON RESULT_PATH``: one benchmark worker (what
``lungseg bench`` starts, one fresh process per model)."""

import sys

from .measure import worker_main

if len(sys.argv) == 4 and sys.argv[1] == "--worker":
    sys.exit(worker_main(sys.argv[2], sys.argv[3]))
sys.exit("usage: python -m lungseg_lib.bench --worker TASK_JSON RESULT_PATH (use `lungseg bench`)")
