"""StickyBucketProfileService: the SDK's UserProfileService over stickybucket's /v1/ups routes."""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, NamedTuple, Optional

import requests
from optimizely import logger as optimizely_logger
from optimizely.user_profile import UserProfileService
from requests.adapters import HTTPAdapter

from . import _stats
from ._marks import FailedLookups
from ._ratelimit import RateLimitedLog
from ._stats import Counters, Stats

__version__ = "0.1.0"

_USER_ID = "user_id"
_BUCKET_MAP = "experiment_bucket_map"
_VARIATION_ID = "variation_id"


class _Failure(Exception):
    """A call that did not get the answer expected; kind is one of _stats' kinds."""

    def __init__(self, kind: str, detail: str, status: int = 0) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind in (_stats.TIMEOUT, _stats.CONNECTION) or (
            self.kind == _stats.HTTP_STATUS and self.status >= 500)

    @property
    def log_kind(self) -> str:
        return f"HTTP {self.status}" if self.kind == _stats.HTTP_STATUS else self.kind


class _Save(NamedTuple):
    body: bytes
    only_new: bool


def _empty_profile(user_id: str) -> Dict[str, Any]:
    return {_USER_ID: user_id, _BUCKET_MAP: {}}


class StickyBucketProfileService(UserProfileService):
    """Optimizely's user profile service, kept in a stickybucket server.

    Pass it to ``optimizely.Optimizely(datafile, user_profile_service=...)``.
    The SDK calls ``lookup`` before it decides a user and ``save`` after it
    bucketed the user into a new experiment. Neither ever raises: a lookup
    that fails answers an empty profile (the SDK then buckets as if the user
    were new), a save that fails is dropped; both are logged (at most one
    line per ``log_interval`` seconds for each kind of failure) and counted
    (``stats()``).

    The save that follows a failed lookup of a user, on the same thread (as
    the SDK calls them), goes with ``?only_new=true``: the SDK bucketed that
    user without seeing the stored assignments, so the server writes only
    experiments it holds nothing for and keeps the stored variations.

    With ``async_save=True`` saves go through a bounded queue to one
    background thread that retries timeouts, connection errors and 5xx with
    exponential backoff, in order; a full queue drops the save (counted).
    ``close(timeout)`` sends what is queued; it also runs at interpreter exit.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: Optional[str] = None,
        timeout: float = 0.2,
        async_save: bool = False,
        logger: Optional[optimizely_logger.Logger] = None,
        log_interval: float = 10.0,
        pool_maxsize: int = 16,
        queue_size: int = 10_000,
        save_retries: int = 3,
        retry_backoff: float = 0.05,
        retry_backoff_max: float = 1.0,
        failed_lookup_cap: int = 100_000,
        failed_lookup_ttl: float = 60.0,
        exit_timeout: float = 2.0,
        trust_env: bool = False,
    ) -> None:
        """
        Args:
          base_url: the server, e.g. ``http://127.0.0.1:8080`` (http or https).
          token: a bearer token, sent as ``Authorization: Bearer <token>``.
          timeout: seconds to connect and seconds to wait for each read, on every call.
          async_save: send saves from a background thread instead of the deciding one.
          logger: a ``logging.Logger`` or an optimizely ``logger`` (as the SDK takes);
            ``logging.getLogger("stickybucket")`` by default.
          log_interval: seconds between two lines about the same kind of failure.
          pool_maxsize: keep-alive connections kept open (one per concurrent caller).
          queue_size: saves the background queue holds before it drops them (async_save).
          save_retries: attempts after the first for a queued save (async_save).
          retry_backoff, retry_backoff_max: first and longest wait between two attempts.
          failed_lookup_cap, failed_lookup_ttl: how many failed lookups, and for how
            long, are remembered so that the save that follows writes only new entries.
          exit_timeout: seconds the interpreter's exit waits for queued saves (async_save).
          trust_env: let requests read proxies, .netrc and CA bundles from the environment.
        """
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// or https:// URL, not {base_url!r}")
        if token is not None and (not token or any(c in token for c in "\r\n")):
            raise ValueError("token must be a non-empty string without line breaks")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if queue_size < 1 or save_retries < 0 or pool_maxsize < 1:
            raise ValueError("queue_size and pool_maxsize must be at least 1, save_retries at least 0")

        self._timeout = float(timeout)
        self._save_retries = save_retries
        self._retry_backoff = retry_backoff
        self._retry_backoff_max = retry_backoff_max
        self._queue_size = queue_size

        session = requests.Session()
        session.trust_env = trust_env
        # No retries at this level: a lookup that fails answers "no profile" at
        # once, and the save queue has its own retries.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0, pool_block=False)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"stickybucket-python/{__version__}",
        })
        if token is not None:
            session.headers["Authorization"] = f"Bearer {token}"
        self._session = session
        # Each call copies a request prepared once (session headers, token and
        # all) and sends it with session.send: Session.request would prepare
        # and merge settings anew every time, a third of a lookup's cost here.
        base = base_url.rstrip("/")
        self._lookup_req = self._prepare(base + "/v1/ups/lookup")
        self._save_req = self._prepare(base + "/v1/ups/save")
        self._save_only_new_req = self._prepare(base + "/v1/ups/save?only_new=true")
        self._send_settings: Dict[str, Any] = {"timeout": self._timeout, "allow_redirects": False}
        if trust_env:
            self._send_settings.update(session.merge_environment_settings(base, {}, None, None, None))

        if logger is None:
            self._logger: optimizely_logger.Logger = logging.getLogger("stickybucket")
        else:
            self._logger = optimizely_logger.adapt_logger(logger)
        self._log = RateLimitedLog(self._warn, log_interval)

        self._counters = Counters()
        self._failed_lookups = FailedLookups(failed_lookup_cap, failed_lookup_ttl)

        self._closed = False
        self._cond = threading.Condition()
        self._queue: Deque[_Save] = deque()
        self._abort = threading.Event()
        self._worker: Optional[threading.Thread] = None
        self._exit_timeout = exit_timeout
        if async_save:
            self._worker = threading.Thread(target=self._run_queue, name="stickybucket-save", daemon=True)
            self._worker.start()
            # The worker is a daemon (a non-daemon one would keep the interpreter
            # from exiting); this sends what it holds before the exit.
            atexit.register(self._at_exit)

    # -- the SDK's interface ------------------------------------------------

    def lookup(self, user_id: str) -> Dict[str, Any]:
        """The user's stored profile ``{"user_id", "experiment_bucket_map"}``.

        When the server cannot be asked this answers an empty profile, not None:
        the SDK then decides the same way (as for a new user), and optimizely-sdk
        5.x appends a message to a list shared by every call of its legacy
        activate/get_variation for each None or exception it gets, which would
        grow for as long as the server is away.
        """
        c = self._counters
        with c.lock:
            c.lookups += 1
        try:
            if self._closed:
                raise _Failure(_stats.CLOSED, "the service is closed")
            body = json.dumps({_USER_ID: user_id}).encode()
            payload = self._post(self._lookup_req, body)
            profile = _parse_profile(user_id, payload)
        except _Failure as f:
            self._lookup_failed(user_id, f)
            return _empty_profile(user_id)
        except Exception as e:  # never raise into the SDK
            self._lookup_failed(user_id, _Failure(_stats.OTHER, f"{type(e).__name__}: {e}"))
            return _empty_profile(user_id)
        self._failed_lookups.succeeded(user_id)
        if profile[_BUCKET_MAP]:
            with c.lock:
                c.lookups_found += 1
        return profile

    def save(self, user_profile: Dict[str, Any]) -> None:
        """Write the profile the SDK passes (the whole profile; the server writes what changed)."""
        c = self._counters
        with c.lock:
            c.saves += 1
        try:
            user_id, body = _encode_profile(user_profile)
        except Exception as e:
            self._save_failed(_Failure(_stats.OTHER, f"cannot send the profile: {type(e).__name__}: {e}"))
            return
        only_new = self._failed_lookups.take(user_id)
        if only_new:
            with c.lock:
                c.saves_only_new += 1
        item = _Save(body, only_new)
        if self._worker is not None:
            self._enqueue(item)
            return
        if self._closed:
            self._drop_closed(1)
            return
        try:
            self._send_save(item)
        except _Failure as f:
            self._save_failed(f)
        except Exception as e:  # never raise into the SDK
            self._save_failed(_Failure(_stats.OTHER, f"{type(e).__name__}: {e}"))

    # -- the application's interface ------------------------------------------

    def stats(self) -> Stats:
        """A snapshot of the counters."""
        with self._cond:
            depth = len(self._queue)
        return self._counters.snapshot(depth, len(self._failed_lookups))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the save queue is empty (True), or timeout seconds (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue:
                left = deadline - time.monotonic()
                if left <= 0 or (self._worker is not None and not self._worker.is_alive()):
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Stop taking saves, send the queued ones for up to timeout seconds, close connections.

        True when nothing was left unsent. Saves left when the time is up, and
        saves made after close(), are dropped and counted; lookups after close()
        answer an empty profile. Calling it again does no harm.
        """
        with self._cond:
            already = self._closed
            self._closed = True
            self._cond.notify_all()
        worker = self._worker
        if worker is not None:
            worker.join(max(timeout, 0))
            if worker.is_alive():
                self._abort.set()
                # The request in flight ends within its timeout.
                worker.join(2 * self._timeout + 1)
        with self._cond:
            left = len(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        if left:
            self._drop_closed(left)
            self._log.log("close", f"stickybucket: close() left {left} queued saves unsent")
        if not already:
            if worker is not None:
                atexit.unregister(self._at_exit)
            self._session.close()
        return left == 0

    def __enter__(self) -> "StickyBucketProfileService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP -----------------------------------------------------------------

    def _prepare(self, url: str) -> requests.PreparedRequest:
        return self._session.prepare_request(requests.Request("POST", url, data=b""))

    def _post(self, template: requests.PreparedRequest, body: bytes) -> Any:
        """POST body, the decoded JSON of a 200 answer; _Failure otherwise."""
        req = template.copy()
        req.prepare_body(body, None)
        try:
            resp = self._session.send(req, **self._send_settings)
        except requests.Timeout as e:  # ConnectTimeout is a ConnectionError too: first
            raise _Failure(_stats.TIMEOUT, f"no answer within {self._timeout:g}s ({_cause(e)})") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            raise _Failure(_stats.CONNECTION, _cause(e)) from None
        except requests.exceptions.ContentDecodingError as e:
            raise _Failure(_stats.BAD_RESPONSE, _cause(e)) from None
        except requests.RequestException as e:
            raise _Failure(_stats.OTHER, _cause(e)) from None
        content = resp.content
        if resp.status_code != 200:
            raise _Failure(_stats.HTTP_STATUS, f"HTTP {resp.status_code}: {_error_text(content)}",
                           resp.status_code)
        try:
            return json.loads(content)
        except ValueError as e:
            raise _Failure(_stats.BAD_RESPONSE, f"the answer is not JSON ({e})") from None

    def _send_save(self, item: _Save) -> None:
        payload = self._post(self._save_only_new_req if item.only_new else self._save_req, item.body)
        c = self._counters
        with c.lock:
            c.saves_ok += 1
            if isinstance(payload, dict):
                c.entries_written += _count(payload.get("written"))
                c.entries_unchanged += _count(payload.get("unchanged"))
                c.entries_lost += _count(payload.get("lost"))

    # -- the background queue -------------------------------------------------

    def _enqueue(self, item: _Save) -> None:
        with self._cond:
            if self._closed:
                full = None
            elif len(self._queue) >= self._queue_size:
                full = True
            else:
                self._queue.append(item)
                self._cond.notify_all()
                return
        if full is None:
            self._drop_closed(1)
            return
        c = self._counters
        with c.lock:
            c.saves_dropped_queue_full += 1
            dropped = c.saves_dropped_queue_full
        self._log.log("queue full", f"stickybucket: save queue full ({self._queue_size}); "
                                    f"save dropped ({dropped} dropped so far)")

    def _run_queue(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue or self._abort.is_set():
                    return
                item = self._queue[0]  # stays queued (and counted in the depth) while it is sent
            if not self._deliver(item):
                return  # aborted by close(); close() counts what is left
            with self._cond:
                if self._queue and self._queue[0] is item:
                    self._queue.popleft()
                self._cond.notify_all()

    def _deliver(self, item: _Save) -> bool:
        """Send item, retrying what may pass later; False if close() gave up waiting."""
        attempt = 0
        while True:
            try:
                self._send_save(item)
                return True
            except _Failure as f:
                failure = f
            except Exception as e:
                failure = _Failure(_stats.OTHER, f"{type(e).__name__}: {e}")
            if not failure.retryable or attempt >= self._save_retries:
                self._save_failed(failure)
                return True
            delay = min(self._retry_backoff_max, self._retry_backoff * (2 ** attempt))
            attempt += 1
            if self._abort.wait(delay):
                return False
            with self._counters.lock:
                self._counters.save_retries += 1

    def _at_exit(self) -> None:
        try:
            self.close(self._exit_timeout)
        except Exception:
            pass

    # -- failures -------------------------------------------------------------

    def _warn(self, message: str) -> None:
        self._logger.warning(message)

    def _lookup_failed(self, user_id: str, f: _Failure) -> None:
        self._failed_lookups.failed(user_id)
        c = self._counters
        with c.lock:
            c.lookup_failures.add(f.kind, f.status)
        self._log.log("lookup " + f.log_kind,
                      f"stickybucket: lookup failed, deciding without the stored profile ({f.detail})")

    def _save_failed(self, f: _Failure) -> None:
        c = self._counters
        with c.lock:
            c.save_failures.add(f.kind, f.status)
        self._log.log("save " + f.log_kind, f"stickybucket: save failed, profile not stored ({f.detail})")

    def _drop_closed(self, n: int) -> None:
        with self._counters.lock:
            self._counters.saves_dropped_closed += n
        self._log.log("save closed", "stickybucket: save after close() dropped")


def _parse_profile(user_id: str, payload: Any) -> Dict[str, Any]:
    """The SDK's profile from the server's answer; _Failure if it is not of that shape."""
    if not isinstance(payload, dict) or not isinstance(payload.get(_BUCKET_MAP), dict):
        raise _Failure(_stats.BAD_RESPONSE, "the answer has no experiment_bucket_map object")
    bucket_map: Dict[str, Dict[str, Any]] = {}
    for exp_id, entry in payload[_BUCKET_MAP].items():
        if not isinstance(entry, dict) or not isinstance(entry.get(_VARIATION_ID), str):
            raise _Failure(_stats.BAD_RESPONSE, "an experiment_bucket_map entry has no variation_id string")
        bucket_map[exp_id] = {_VARIATION_ID: entry[_VARIATION_ID]}
    # The user_id asked for, whatever the answer says: the SDK saves under it.
    return {_USER_ID: user_id, _BUCKET_MAP: bucket_map}


def _encode_profile(user_profile: Dict[str, Any]) -> tuple[str, bytes]:
    """The user ID and the JSON body of a save, copied now (the SDK's dict may change later)."""
    user_id = user_profile[_USER_ID]
    if not isinstance(user_id, str):
        raise TypeError(f"user_id is {type(user_id).__name__}, not str")
    bucket_map = {
        str(exp_id): {_VARIATION_ID: entry[_VARIATION_ID]}
        for exp_id, entry in (user_profile.get(_BUCKET_MAP) or {}).items()
    }
    return user_id, json.dumps({_USER_ID: user_id, _BUCKET_MAP: bucket_map}, separators=(",", ":")).encode()


def _cause(e: BaseException) -> str:
    """The reason of a requests error, short (requests wraps urllib3's, which wraps the socket's)."""
    inner: object = e.args[0] if e.args else e
    inner = getattr(inner, "reason", inner)
    text = f"{type(inner).__name__}: {inner}" if isinstance(inner, BaseException) else str(inner)
    return text if len(text) <= 300 else text[:297] + "..."


def _error_text(content: bytes) -> str:
    try:
        payload = json.loads(content)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, str):
            return error[:200]
    except ValueError:
        pass
    return repr(content[:100])


def _count(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0
