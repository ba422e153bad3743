"""Reads the governance file, and re-reads it when it changes, keeping the last good one."""

import base64
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from service.domain.governance import Governance, GovernanceError, parse_governance
from service.telemetry.health import Health
from service.telemetry.metrics import Metrics

_Stamp = tuple[int, int, int]  # (inode, size, mtime_ns): a change of any means "read again"


def load_governance(path: str | Path) -> Governance:
    """Parses the file; raises GovernanceError (naming the file, lane and field) if invalid."""
    file = Path(path)
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise GovernanceError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    return _parse(file, content)


def _parse(file: Path, content: bytes) -> Governance:
    try:
        return parse_governance(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise GovernanceError(f"{file}: not UTF-8 (byte {exc.start})") from exc
    except GovernanceError as exc:
        raise GovernanceError(f"{file}: {exc}") from exc


class GovernanceWatcher:
    """Hot reload without threads: the app awaits poll() from its own loop.

    The file is loaded once at construction (invalid governance at start-up is fatal);
    afterwards an invalid edit is reported through on_error once and the last good
    governance stays in force, so a half-written file can never open a lane.
    """

    def __init__(self, path: str | Path, on_error: Callable[[str], None] | None = None) -> None:
        self._path = Path(path)
        self._on_error = on_error
        self._stamp: _Stamp | None = None
        try:
            self._stamp = self._stat()
            content = self._path.read_bytes()
        except OSError as exc:
            raise GovernanceError(f"{self._path}: cannot read: {exc.strerror or exc}") from exc
        self._digest = hashlib.sha256(content).hexdigest()
        self._current = _parse(self._path, content)
        self._last_error: str | None = None

    @property
    def current(self) -> Governance:
        return self._current

    @property
    def path(self) -> Path:
        return self._path

    async def poll(self) -> bool:
        """True when new governance took effect; False if unchanged, equivalent or invalid."""
        # A few-kilobyte local file: reading it inline is cheaper than a thread hop.
        return self.check()

    def check(self) -> bool:
        """The synchronous body of poll(), for callers outside an event loop."""
        try:
            stamp = self._stat()
            if stamp == self._stamp:
                return False
            content = self._path.read_bytes()
        except OSError as exc:
            self._stamp = None
            self._report(f"{self._path}: cannot read: {exc.strerror or exc}")
            return False
        self._stamp = stamp
        digest = hashlib.sha256(content).hexdigest()
        if digest == self._digest:
            return False
        self._digest = digest
        try:
            governance = _parse(self._path, content)
        except GovernanceError as exc:
            self._report(str(exc))
            return False
        self._last_error = None
        if governance.fingerprint == self._current.fingerprint:
            return False  # only comments or layout changed
        self._current = governance
        return True

    def _stat(self) -> _Stamp:
        st = os.stat(self._path)
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _report(self, reason: str) -> None:
        # Once per distinct problem: a poll every second must not flood the log.
        if reason != self._last_error and self._on_error is not None:
            self._on_error(reason)
        self._last_error = reason


# Public keys whose private halves are published (the contract's test vector and the demo
# key of ops/governance/demo-keys/): a governance file that trusts one lets anyone decide.
PUBLISHED_TEST_KEYS = frozenset(
    {
        "SudZ+tTRPkQ10i4BSFHni88rjFn1vD/0TOG8+5+7TqA=",
        "jy57sy6ujWiWtD8/0yoKTFYzIAb3UJYYc4VqYHQfq88=",
    }
)


def trusts_published_keys(governance: Governance) -> list[str]:
    """`lane: identity` for every owner or auditor whose key is a published test key (an
    auditor's lets anyone read the lane)."""
    listed = [
        (lane.lane_id, person)
        for lane in governance.lanes.values()
        for person in (*lane.release_owners, *lane.auditors)
    ]
    listed += [("gate-wide auditor", person) for person in governance.auditors]
    return [
        f"{where}: {person.id}"
        for where, person in listed
        if base64.b64encode(person.public_key).decode() in PUBLISHED_TEST_KEYS
    ]


def note_published_keys(
    log: logging.Logger, health: Health, metrics: Metrics, governance: Governance
) -> None:
    """Warn loudly (log, /readyz, a metric) while the governance file trusts a published key."""
    trusted = trusts_published_keys(governance)
    metrics.published_keys_trusted.set(len(trusted))
    if trusted:
        text = "trusts published test keys (anyone can sign as): " + ", ".join(trusted)
        health.warnings["governance"] = text
        log.warning("governance " + text)
    else:
        health.warnings.pop("governance", None)
