"""An ansible stdout callback for tests/united/test_ansible.py: every task's result as one JSON
document at the end (ansible-core has no JSON callback of its own; ansible.posix's is a
collection we do not install)."""

from __future__ import annotations

import json
from typing import Any

from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "united_report"

    def __init__(self) -> None:
        super().__init__()
        self.report: dict[str, dict[str, Any]] = {"tasks": {}, "handlers": {}}

    def _record(self, result: Any, status: str) -> None:
        kind = "handlers" if isinstance(result._task, Handler) else "tasks"
        self.report[kind][result._task.get_name()] = {**result._result, "status": status}

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self.report["stats"] = {host: stats.summarize(host) for host in stats.processed}
        self._display.display(json.dumps(self.report, default=str))
