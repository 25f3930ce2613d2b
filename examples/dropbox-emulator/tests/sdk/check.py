#!/usr/bin/env python3
"""Drive dropbox-emulator with the official Dropbox Python SDK.

Run by tests/official_sdk.rs with the interpreter of the virtualenv that
.ci/sdk-venv.sh creates (SDK `dropbox==12.2.4`). Every check calls the
emulator through the SDK exactly as an application would, with the arguments
the SDK sends by default plus the optional fields droprender uses, and lets
the SDK parse answers into its typed results and exceptions. On top of the
SDK's own lenient parsing (strict=False), every JSON answer is decoded again
with the SDK's Stone validators in strict mode, so a field or tag the spec
does not define is a failure too.

Output: one JSON object per line on stdout.
  {"check": NAME, "ok": true|false, "detail": ..., "error": ...}
  {"summary": {"passed": N, "failed": N, "checks": [NAME, ...]}}
Exit status 0 when every check passed, 1 otherwise.

    python check.py --base http://127.0.0.1:PORT --token TOKEN --app-key KEY \
        [--longpoll-scale 0.05] [--only NAME_PREFIX]
"""

import argparse
import datetime
import json
import re
import sys
import threading
import time
import traceback
import urllib.parse

import requests

import dropbox
from dropbox import auth as dbx_auth
from dropbox import file_properties, files, oauth
from dropbox import session as dbx_session
from dropbox.content_hash import content_hash
from dropbox.exceptions import (
    ApiError,
    AuthError,
    BadInputError,
    InternalServerError,
    RateLimitError,
)
from stone.backends.python_rsrc import stone_serializers

SDK_VERSION = "12.2.4"

# The hosts the SDK talks to; all of them are served by the emulator.
SDK_HOSTS = {
    dbx_session.API_HOST,
    dbx_session.API_CONTENT_HOST,
    dbx_session.API_NOTIFICATION_HOST,
    dbx_session.WEB_HOST,
}


def api_error(call, missing="no ApiError"):
    """The ApiError `call()` raises; the check fails when it raises none."""
    try:
        call()
    except ApiError as e:
        return e
    raise AssertionError(missing)


class EmulatorSession(requests.Session):
    """A requests session (the SDK's `session=` parameter) that sends the
    SDK's `https://<dropbox host>/...` requests to the emulator over plain
    http, and remembers each exchange so checks can look at the wire."""

    def __init__(self, base):
        super().__init__()
        self.trust_env = False  # no proxies from the environment: loopback only
        self.base = base.rstrip("/")
        self.exchanges = []

    def request(self, method, url, *args, **kwargs):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or parts.netloc not in SDK_HOSTS:
            raise AssertionError("SDK request outside the emulator: %s" % url)
        local = self.base + parts.path + ("?" + parts.query if parts.query else "")
        resp = super().request(method, local, *args, **kwargs)
        headers = dict(kwargs.get("headers") or {})
        self.exchanges.append(
            {
                "host": parts.netloc,
                "path": parts.path,
                "headers": headers,
                "data": kwargs.get("data"),
                "response": resp,
            }
        )
        return resp

    def last(self, path=None):
        for ex in reversed(self.exchanges):
            if path is None or ex["path"] == path:
                return ex
        raise AssertionError("no request to %s was made" % path)

    def arg(self, path):
        """The JSON argument the SDK sent on its last call to `path`."""
        ex = self.last(path)
        raw = ex["headers"].get("Dropbox-API-Arg")
        if raw is None:
            raw = ex["data"]
        assert isinstance(raw, str) and raw.isascii(), "argument not ASCII: %r" % (raw,)
        return json.loads(raw)


class Checker:
    def __init__(self, opts):
        self.base = opts.base.rstrip("/")
        self.token = opts.token
        self.app_key = opts.app_key
        self.scale = opts.longpoll_scale
        self.only = opts.only
        self.results = []
        self.http = requests.Session()
        self.http.trust_env = False

    # ------------------------------------------------------------ plumbing

    def client(self, token=None, **kwargs):
        sess = EmulatorSession(self.base)
        kwargs.setdefault("max_retries_on_error", 0)
        kwargs.setdefault("max_retries_on_rate_limit", 0)
        if token is None and "oauth2_refresh_token" not in kwargs:
            token = self.token
        dbx = dropbox.Dropbox(token, session=sess, **kwargs)
        return dbx, sess

    def control(self, method, path, body=None, data=None):
        url = self.base + "/__emulator/" + path
        if data is not None:
            r = self.http.request(method, url, data=data)
        else:
            r = self.http.request(method, url, json=body)
        assert r.status_code == 200, "control %s %s: %s %s" % (method, path, r.status_code, r.text)
        return r.json()

    def put(self, path, data):
        """A desktop-app-like write (as if made on another device)."""
        quoted = urllib.parse.quote(path.lstrip("/"))
        return self.control("PUT", "files/" + quoted, data=data)

    def remove(self, path):
        return self.control("DELETE", "files/" + urllib.parse.quote(path.lstrip("/")))

    def faults(self, **cfg):
        """Replace the fault configuration (missing fields: defaults)."""
        return self.control("POST", "faults", cfg)

    def stats(self):
        return self.control("GET", "stats")

    def mint(self, **body):
        return self.control("POST", "tokens", body)["access_token"]

    def run(self, name, fn):
        if self.only and not name.startswith(self.only):
            return
        rec = {"check": name, "ok": False}
        try:
            detail = fn()
            rec["ok"] = True
            if detail is not None:
                rec["detail"] = detail
        except Exception as e:  # noqa: BLE001 - every failure is reported
            rec["error"] = "%s: %s" % (type(e).__name__, e)
            rec["trace"] = traceback.format_exc(limit=6)
        finally:
            # A check must never leak faults into the next one.
            try:
                self.faults()
            except Exception:  # noqa: BLE001
                pass
        self.results.append(rec)
        print(json.dumps(rec), flush=True)

    # -------------------------------------------------- strict wire checks

    @staticmethod
    def strict(data_type, obj):
        """Decode with the SDK's validators in strict mode: unknown fields
        and tags are errors."""
        return stone_serializers.json_compat_obj_decode(data_type, obj, strict=True)

    def strict_result(self, sess, route, path=None):
        ex = sess.last(path)
        resp = ex["response"]
        assert 200 <= resp.status_code < 300, resp.status_code
        assert re.fullmatch(r"[0-9a-f]{32}", resp.headers.get("X-Dropbox-Request-Id", "")), resp.headers
        if route.attrs.get("style") == "download":
            raw = resp.headers["Dropbox-API-Result"]
            assert raw.isascii(), "Dropbox-API-Result not ASCII"
        else:
            assert resp.headers.get("Content-Type") == "application/json", resp.headers
            raw = resp.text
        return self.strict(route.result_type, json.loads(raw))

    def strict_error(self, sess, route, summary_prefix):
        resp = sess.last()["response"]
        assert resp.status_code == 409, resp.status_code
        assert resp.headers.get("Content-Type") == "application/json"
        assert re.fullmatch(r"[0-9a-f]{32}", resp.headers.get("X-Dropbox-Request-Id", "")), resp.headers
        body = resp.json()
        assert set(body) <= {"error_summary", "error", "user_message"}, body
        summary = body["error_summary"]
        assert re.fullmatch(re.escape(summary_prefix) + r"/\.{0,3}", summary), summary
        return self.strict(route.error_type, body["error"])

    # ---------------------------------------------------------- the checks

    def all_checks(self):
        c = self
        return [
            ("sdk/version", c.sdk_version),
            ("list_folder/default_args", c.list_folder_default_args),
            ("list_folder/root", c.list_folder_root),
            ("list_folder/recursive", c.list_folder_recursive),
            ("list_folder/include_deleted", c.list_folder_include_deleted),
            ("list_folder/limit_and_continue", c.list_folder_limit_and_continue),
            ("list_folder/id_path", c.list_folder_id_path),
            ("list_folder/not_found", c.list_folder_not_found),
            ("list_folder/shared_link", c.list_folder_shared_link),
            ("list_folder/continue_changes", c.list_folder_continue_changes),
            ("list_folder/continue_reset", c.list_folder_continue_reset),
            ("list_folder/get_latest_cursor", c.get_latest_cursor),
            ("longpoll/wakes_on_change", c.longpoll_wakes),
            ("longpoll/timeout", c.longpoll_timeout),
            ("longpoll/reset", c.longpoll_reset),
            ("get_metadata/path", c.get_metadata_path),
            ("get_metadata/id_and_rev", c.get_metadata_id_rev),
            ("get_metadata/include_deleted", c.get_metadata_deleted),
            ("get_metadata/not_found", c.get_metadata_not_found),
            ("download/path", c.download_path),
            ("download/rev_and_id", c.download_rev_id),
            ("download/range", c.download_range),
            ("download/non_ascii_name", c.download_non_ascii),
            ("download/not_found", c.download_not_found),
            ("upload/add", c.upload_add),
            ("upload/add_conflict", c.upload_add_conflict),
            ("upload/add_autorename", c.upload_add_autorename),
            ("upload/overwrite", c.upload_overwrite),
            ("upload/update_rev", c.upload_update),
            ("upload/update_stale_conflict", c.upload_update_conflict),
            ("upload/update_stale_autorename", c.upload_update_autorename),
            ("upload/strict_conflict", c.upload_strict_conflict),
            ("upload/mute_and_client_modified", c.upload_mute_client_modified),
            ("upload/content_hash", c.upload_content_hash),
            ("upload/without_content_hash", c.upload_without_hash),
            ("upload_session/start_append_finish", c.session_flow),
            ("upload_session/incorrect_offset", c.session_incorrect_offset),
            ("upload_session/closed", c.session_closed),
            ("upload_session/finish_conflict", c.session_finish_conflict),
            ("delete_v2/file_and_folder", c.delete_file_folder),
            ("delete_v2/parent_rev", c.delete_parent_rev),
            ("delete_v2/not_found", c.delete_not_found),
            ("oauth/pkce_no_redirect", c.oauth_pkce),
            ("oauth/bad_code", c.oauth_bad_code),
            ("auth/refresh_token_only", c.auth_refresh_only),
            ("auth/expired_then_refreshed", c.auth_expired_refresh),
            ("auth/expire_fault_then_refreshed", c.auth_expire_fault_refresh),
            ("auth/proactive_refresh", c.auth_proactive_refresh),
            ("auth/refresh_with_scope", c.auth_refresh_scope),
            ("auth/expired_without_refresh", c.auth_expired_no_refresh),
            ("auth/invalid_token", c.auth_invalid),
            ("auth/missing_scope", c.auth_missing_scope),
            ("token/revoke", c.token_revoke),
            ("rate_limit/too_many_requests", c.rate_limit_requests),
            ("rate_limit/too_many_write_operations", c.rate_limit_write_ops),
            ("rate_limit/plain_text", c.rate_limit_text),
            ("rate_limit/retried_by_sdk", c.rate_limit_retried),
            ("server_error/500", c.server_500),
            ("server_error/503", c.server_503),
            ("server_error/retried_by_sdk", c.server_retried),
            ("bad_input/400", c.bad_input),
            ("spec/ignored_fields_accepted", c.ignored_fields),
            ("fault/drop", c.fault_drop),
            ("fault/drop_after_commit", c.fault_drop_after_commit),
        ]

    def sdk_version(self):
        assert dropbox.__version__ == SDK_VERSION, dropbox.__version__
        return {"dropbox": dropbox.__version__, "python": sys.version.split()[0]}

    # ------------------------------------------------------- list_folder

    def list_folder_default_args(self):
        self.put("/sdk/lf/a.txt", b"a")
        self.put("/sdk/lf/b.txt", b"b")
        self.put("/sdk/lf/sub/c.txt", b"c")
        dbx, sess = self.client()
        res = dbx.files_list_folder("/sdk/lf")
        sent = sess.arg("/2/files/list_folder")
        # The SDK sends every field that has a default.
        expected = {
            "path",
            "recursive",
            "include_media_info",
            "include_deleted",
            "include_has_explicit_shared_members",
            "include_mounted_folders",
            "include_non_downloadable_files",
            "include_restorable_info",
        }
        assert expected <= set(sent), sent
        self.strict_result(sess, files.list_folder)
        names = sorted(e.name for e in res.entries)
        assert names == ["a.txt", "b.txt", "sub"], names
        kinds = {e.name: type(e).__name__ for e in res.entries}
        assert kinds["sub"] == "FolderMetadata" and kinds["a.txt"] == "FileMetadata", kinds
        assert res.has_more is False and res.cursor
        return {"sent_fields": sorted(sent)}

    def list_folder_root(self):
        self.put("/sdk-root-probe.txt", b"r")
        dbx, sess = self.client()
        res = dbx.files_list_folder("")
        self.strict_result(sess, files.list_folder)
        names = {e.path_lower for e in res.entries}
        assert "/sdk-root-probe.txt" in names and "/sdk" in names, names
        assert all(e.path_lower.count("/") == 1 for e in res.entries), names

    def list_folder_recursive(self):
        self.put("/sdk/rec/x.txt", b"x")
        self.put("/sdk/rec/d/e/y.txt", b"y")
        dbx, sess = self.client()
        res = dbx.files_list_folder("/sdk/rec", recursive=True)
        assert sess.arg("/2/files/list_folder")["recursive"] is True
        self.strict_result(sess, files.list_folder)
        paths = [e.path_lower for e in res.entries]
        for p in ["/sdk/rec", "/sdk/rec/x.txt", "/sdk/rec/d", "/sdk/rec/d/e", "/sdk/rec/d/e/y.txt"]:
            assert p in paths, paths
        return {"entries": len(paths)}

    def list_folder_include_deleted(self):
        self.put("/sdk/del/keep.txt", b"k")
        self.put("/sdk/del/gone.txt", b"g")
        self.remove("/sdk/del/gone.txt")
        dbx, sess = self.client()
        without = dbx.files_list_folder("/sdk/del")
        assert [e.name for e in without.entries] == ["keep.txt"], without.entries
        res = dbx.files_list_folder("/sdk/del", include_deleted=True)
        assert sess.arg("/2/files/list_folder")["include_deleted"] is True
        self.strict_result(sess, files.list_folder)
        kinds = {e.name: type(e).__name__ for e in res.entries}
        assert kinds == {"keep.txt": "FileMetadata", "gone.txt": "DeletedMetadata"}, kinds

    def list_folder_limit_and_continue(self):
        for i in range(5):
            self.put("/sdk/page/f%d.txt" % i, b"%d" % i)
        dbx, sess = self.client()
        res = dbx.files_list_folder("/sdk/page", limit=2)
        assert sess.arg("/2/files/list_folder")["limit"] == 2
        seen = [e.name for e in res.entries]
        assert len(res.entries) == 2 and res.has_more, res
        pages = 1
        while res.has_more:
            res = dbx.files_list_folder_continue(res.cursor)
            self.strict_result(sess, files.list_folder_continue)
            assert set(sess.arg("/2/files/list_folder/continue")) == {"cursor"}
            seen += [e.name for e in res.entries]
            pages += 1
        assert sorted(seen) == ["f%d.txt" % i for i in range(5)], seen
        return {"pages": pages}

    def list_folder_id_path(self):
        self.put("/sdk/byid/z.txt", b"z")
        dbx, _ = self.client()
        folder = dbx.files_get_metadata("/sdk/byid")
        res = dbx.files_list_folder(folder.id)
        assert [e.name for e in res.entries] == ["z.txt"], res.entries

    def list_folder_not_found(self):
        dbx, sess = self.client()
        e = api_error(lambda: dbx.files_list_folder("/sdk/no-such-folder"))
        assert e.error.is_path() and e.error.get_path().is_not_found(), e.error
        assert e.request_id, "no X-Dropbox-Request-Id"
        self.strict_error(sess, files.list_folder, "path/not_found")

    def list_folder_shared_link(self):
        # Shared links are a spec field; the emulator has none, so any link
        # is not found (a route error, not a 400).
        dbx, sess = self.client()
        link = files.SharedLink(url="https://www.dropbox.com/sh/abc/def", password=None)
        e = api_error(lambda: dbx.files_list_folder("", shared_link=link))
        assert e.error.is_path() and e.error.get_path().is_not_found(), e.error
        self.strict_error(sess, files.list_folder, "path/not_found")
        assert sess.arg("/2/files/list_folder")["shared_link"]["url"].endswith("/def")

    def list_folder_continue_changes(self):
        self.put("/sdk/cont/one.txt", b"1")
        dbx, sess = self.client()
        res = dbx.files_list_folder("/sdk/cont")
        cursor = res.cursor
        self.put("/sdk/cont/two.txt", b"2")
        self.remove("/sdk/cont/one.txt")
        res = dbx.files_list_folder_continue(cursor)
        self.strict_result(sess, files.list_folder_continue)
        kinds = {e.name: type(e).__name__ for e in res.entries}
        assert kinds == {"two.txt": "FileMetadata", "one.txt": "DeletedMetadata"}, kinds
        again = dbx.files_list_folder_continue(res.cursor)
        assert again.entries == [] and not again.has_more, again

    def list_folder_continue_reset(self):
        self.put("/sdk/reset/a.txt", b"a")
        dbx, sess = self.client()
        cursor = dbx.files_list_folder("/sdk/reset").cursor
        self.control("POST", "reset_cursors")
        e = api_error(lambda: dbx.files_list_folder_continue(cursor))
        assert e.error.is_reset(), e.error
        self.strict_error(sess, files.list_folder_continue, "reset")

    def get_latest_cursor(self):
        self.put("/sdk/latest/old.txt", b"old")
        dbx, sess = self.client()
        res = dbx.files_list_folder_get_latest_cursor(
            "/sdk/latest", recursive=True, include_deleted=True
        )
        sent = sess.arg("/2/files/list_folder/get_latest_cursor")
        assert sent["recursive"] is True and "include_restorable_info" in sent, sent
        self.strict_result(sess, files.list_folder_get_latest_cursor)
        self.put("/sdk/latest/deep/new.txt", b"new")
        changes = dbx.files_list_folder_continue(res.cursor)
        paths = sorted(e.path_lower for e in changes.entries)
        assert paths == ["/sdk/latest/deep", "/sdk/latest/deep/new.txt"], paths

    # ----------------------------------------------------------- longpoll

    def _cursor(self, folder):
        self.put(folder + "/seed.txt", b"seed")
        dbx, _ = self.client()
        return dbx.files_list_folder(folder).cursor

    def longpoll_wakes(self):
        cursor = self._cursor("/sdk/lp")
        dbx, sess = self.client()
        timer = threading.Timer(0.3, lambda: self.put("/sdk/lp/new.txt", b"n"))
        t0 = time.monotonic()
        timer.start()
        try:
            res = dbx.files_list_folder_longpoll(cursor)  # SDK default timeout=30
        finally:
            timer.cancel()
        elapsed = time.monotonic() - t0
        ex = sess.last("/2/files/list_folder/longpoll")
        assert ex["host"] == dbx_session.API_NOTIFICATION_HOST, ex["host"]
        assert "Authorization" not in ex["headers"], ex["headers"]
        assert sess.arg("/2/files/list_folder/longpoll") == {"cursor": cursor, "timeout": 30}
        self.strict_result(sess, files.list_folder_longpoll)
        assert res.changes is True, res
        assert elapsed < 30 * self.scale, elapsed
        return {"woken_after_s": round(elapsed, 2)}

    def longpoll_timeout(self):
        cursor = self._cursor("/sdk/lp-idle")
        dbx, sess = self.client()
        t0 = time.monotonic()
        res = dbx.files_list_folder_longpoll(cursor, timeout=60)
        elapsed = time.monotonic() - t0
        self.strict_result(sess, files.list_folder_longpoll)
        assert res.changes is False, res
        hold = 60 * self.scale
        assert elapsed >= hold * 0.8, (elapsed, hold)
        return {"held_s": round(elapsed, 2)}

    def longpoll_reset(self):
        cursor = self._cursor("/sdk/lp-reset")
        self.control("POST", "reset_cursors")
        dbx, sess = self.client()
        e = api_error(lambda: dbx.files_list_folder_longpoll(cursor))
        assert e.error.is_reset(), e.error
        self.strict_error(sess, files.list_folder_longpoll, "reset")

    # ------------------------------------------------------- get_metadata

    def get_metadata_path(self):
        self.put("/sdk/meta/File.TXT", b"hello")
        dbx, sess = self.client()
        m = dbx.files_get_metadata("/SDK/meta/file.txt")
        sent = sess.arg("/2/files/get_metadata")
        assert {"include_media_info", "include_deleted", "include_has_explicit_shared_members"} <= set(sent)
        self.strict_result(sess, files.get_metadata)
        assert isinstance(m, files.FileMetadata), m
        assert m.path_display == "/sdk/meta/File.TXT" and m.path_lower == "/sdk/meta/file.txt", m
        assert m.size == 5 and m.content_hash == content_hash(b"hello"), m
        assert m.is_downloadable is True
        folder = dbx.files_get_metadata("/sdk/meta")
        assert isinstance(folder, files.FolderMetadata) and folder.id.startswith("id:"), folder

    def get_metadata_id_rev(self):
        first = self.put("/sdk/meta2/v.txt", b"one")
        self.put("/sdk/meta2/v.txt", b"two!")
        dbx, sess = self.client()
        by_id = dbx.files_get_metadata(first["id"])
        assert by_id.size == 4 and by_id.rev != first["rev"], by_id
        old = dbx.files_get_metadata("rev:" + first["rev"])
        self.strict_result(sess, files.get_metadata)
        assert old.rev == first["rev"] and old.size == 3, old

    def get_metadata_deleted(self):
        self.put("/sdk/meta3/gone.txt", b"g")
        self.remove("/sdk/meta3/gone.txt")
        dbx, sess = self.client()
        m = dbx.files_get_metadata("/sdk/meta3/gone.txt", include_deleted=True)
        self.strict_result(sess, files.get_metadata)
        assert isinstance(m, files.DeletedMetadata), m
        e = api_error(lambda: dbx.files_get_metadata("/sdk/meta3/gone.txt"), "no ApiError without include_deleted")
        assert e.error.get_path().is_not_found(), e.error

    def get_metadata_not_found(self):
        dbx, sess = self.client()
        e = api_error(lambda: dbx.files_get_metadata("/sdk/nothing/here.txt"))
        assert e.error.is_path() and e.error.get_path().is_not_found(), e.error
        self.strict_error(sess, files.get_metadata, "path/not_found")

    # ----------------------------------------------------------- download

    def download_path(self):
        meta = self.put("/sdk/dl/file.bin", b"0123456789")
        dbx, sess = self.client()
        m, resp = dbx.files_download("/sdk/dl/file.bin")
        body = resp.content
        resp.close()
        self.strict_result(sess, files.download)
        assert body == b"0123456789", body
        assert m.rev == meta["rev"] and m.size == 10, m
        assert "Authorization" in sess.last()["headers"]

    def download_rev_id(self):
        v1 = self.put("/sdk/dl2/f.txt", b"version one")
        self.put("/sdk/dl2/f.txt", b"version two")
        dbx, sess = self.client()
        m, resp = dbx.files_download("rev:" + v1["rev"])
        assert resp.content == b"version one" and m.rev == v1["rev"], m
        _, resp = dbx.files_download(v1["id"])
        assert resp.content == b"version two"
        # The deprecated `rev` field.
        m, resp = dbx.files_download("/sdk/dl2/f.txt", rev=v1["rev"])
        assert sess.arg("/2/files/download") == {"path": "/sdk/dl2/f.txt", "rev": v1["rev"]}
        assert resp.content == b"version one", resp.content
        self.strict_result(sess, files.download)

    def download_range(self):
        meta = self.put("/sdk/dl3/log.txt", b"line one\nline two\n")
        dbx, sess = self.client()
        m, resp = dbx.files_download(
            "rev:" + meta["rev"], extra_headers={"Range": "bytes=9-"}
        )
        assert resp.status_code == 206, resp.status_code
        assert resp.content == b"line two\n", resp.content
        assert resp.headers["Content-Range"] == "bytes 9-17/18", resp.headers
        assert m.size == 18, m
        self.strict_result(sess, files.download)
        _, resp = dbx.files_download("/sdk/dl3/log.txt", extra_headers={"Range": "bytes=0-3"})
        assert resp.status_code == 206 and resp.content == b"line", resp.content
        return {"status": 206}

    def download_non_ascii(self):
        path = "/sdk/dl4/Caf\u00e9 \U0001f3ac.txt"
        dbx, sess = self.client()
        dbx.files_upload(b"x", path)
        assert sess.last()["headers"]["Dropbox-API-Arg"].isascii()
        m, resp = dbx.files_download(path)
        raw = resp.headers["Dropbox-API-Result"]
        assert raw.isascii(), raw
        assert m.name == "Caf\u00e9 \U0001f3ac.txt", m.name
        self.strict_result(sess, files.download)

    def download_not_found(self):
        dbx, sess = self.client()
        e = api_error(lambda: dbx.files_download("/sdk/dl/missing.txt"))
        assert e.error.is_path() and e.error.get_path().is_not_found(), e.error
        self.strict_error(sess, files.download, "path/not_found")

    # ------------------------------------------------------------- upload

    def upload_add(self):
        dbx, sess = self.client()
        m = dbx.files_upload(b"render shot1\n", "/sdk/up/commands.txt")
        sent = sess.arg("/2/files/upload")
        # Defaults the SDK sends, plus the content_hash it adds by itself.
        for k in ["path", "mode", "autorename", "mute", "strict_conflict", "content_hash"]:
            assert k in sent, sent
        assert sent["mode"] == {".tag": "add"}, sent["mode"]
        assert sent["content_hash"] == content_hash(b"render shot1\n")
        assert sess.last()["headers"]["Content-Type"] == "application/octet-stream"
        self.strict_result(sess, files.upload)
        assert isinstance(m, files.FileMetadata) and m.size == 13, m
        assert m.content_hash == sent["content_hash"], m
        return {"sent_fields": sorted(sent)}

    def _conflict(self, sess, e, route=files.upload):
        assert isinstance(e.error, files.UploadError), e.error
        assert e.error.is_path(), e.error
        failed = e.error.get_path()
        assert failed.reason.is_conflict() and failed.reason.get_conflict().is_file(), failed
        assert failed.upload_session_id, failed
        self.strict_error(sess, route, "path/conflict/file")

    def upload_add_conflict(self):
        self.put("/sdk/up2/a.txt", b"existing")
        dbx, sess = self.client()
        e = api_error(lambda: dbx.files_upload(b"new", "/sdk/up2/a.txt"))
        self._conflict(sess, e)

    def upload_add_autorename(self):
        self.put("/sdk/up3/doc.txt", b"existing")
        dbx, sess = self.client()
        m = dbx.files_upload(b"new", "/sdk/up3/doc.txt", autorename=True)
        assert sess.arg("/2/files/upload")["autorename"] is True
        assert m.name == "doc (1).txt", m.name

    def upload_overwrite(self):
        old = self.put("/sdk/up4/s.txt", b"old")
        dbx, sess = self.client()
        m = dbx.files_upload(b"newer", "/sdk/up4/s.txt", mode=files.WriteMode.overwrite)
        assert sess.arg("/2/files/upload")["mode"] == {".tag": "overwrite"}
        assert m.rev != old["rev"] and m.id == old["id"] and m.size == 5, m

    def upload_update(self):
        old = self.put("/sdk/up5/c.txt", b"a\n")
        dbx, sess = self.client()
        m = dbx.files_upload(
            b"a\nb\n",
            "/sdk/up5/c.txt",
            mode=files.WriteMode.update(old["rev"]),
            strict_conflict=True,
            mute=True,
        )
        sent = sess.arg("/2/files/upload")
        assert sent["mode"] == {".tag": "update", "update": old["rev"]}, sent
        assert sent["strict_conflict"] is True and sent["mute"] is True
        assert m.rev != old["rev"] and m.size == 4, m

    def upload_update_conflict(self):
        old = self.put("/sdk/up6/c.txt", b"a\n")
        self.put("/sdk/up6/c.txt", b"a\nphone\n")
        dbx, sess = self.client()
        e = api_error(
            lambda: dbx.files_upload(
                b"a\nnode\n",
                "/sdk/up6/c.txt",
                mode=files.WriteMode.update(old["rev"]),
                strict_conflict=True,
                mute=True,
            ),
        )
        self._conflict(sess, e)

    def upload_update_autorename(self):
        old = self.put("/sdk/up7/c.txt", b"a\n")
        self.put("/sdk/up7/c.txt", b"a\nphone\n")
        dbx, _ = self.client()
        m = dbx.files_upload(
            b"a\nnode\n",
            "/sdk/up7/c.txt",
            mode=files.WriteMode.update(old["rev"]),
            autorename=True,
        )
        assert m.name == "c (conflicted copy).txt", m.name

    def upload_strict_conflict(self):
        old = self.put("/sdk/up8/same.txt", b"same")
        current = self.put("/sdk/up8/same.txt", b"same!")
        dbx, sess = self.client()
        # Identical bytes with a stale rev: a no-op without strict_conflict…
        m = dbx.files_upload(b"same!", "/sdk/up8/same.txt", mode=files.WriteMode.update(old["rev"]))
        assert m.rev == current["rev"], m
        # … and a conflict with it.
        e = api_error(
            lambda: dbx.files_upload(
                b"same!",
                "/sdk/up8/same.txt",
                mode=files.WriteMode.update(old["rev"]),
                strict_conflict=True,
            ),
        )
        self._conflict(sess, e)

    def upload_mute_client_modified(self):
        when = datetime.datetime(2026, 8, 23, 10, 15, 0)
        dbx, sess = self.client()
        m = dbx.files_upload(b"s", "/sdk/up9/status.json", mute=True, client_modified=when)
        sent = sess.arg("/2/files/upload")
        assert sent["client_modified"] == "2026-08-23T10:15:00Z" and sent["mute"] is True, sent
        assert m.client_modified == when, m.client_modified

    def upload_content_hash(self):
        dbx, sess = self.client()
        good = content_hash(b"payload")
        m = dbx.files_upload(b"payload", "/sdk/up10/h.txt", content_hash=good)
        assert m.content_hash == good
        e = api_error(lambda: dbx.files_upload(b"payload", "/sdk/up10/bad.txt", content_hash=content_hash(b"other")))
        assert e.error.is_content_hash_mismatch(), e.error
        self.strict_error(sess, files.upload, "content_hash_mismatch")

    def upload_without_hash(self):
        dbx, sess = self.client(auto_content_hash=False)
        m = dbx.files_upload(b"plain", "/sdk/up11/p.txt")
        assert "content_hash" not in sess.arg("/2/files/upload")
        assert m.content_hash == content_hash(b"plain")

    # ---------------------------------------------------- upload sessions

    def session_flow(self):
        parts = [b"A" * 1000, b"B" * 2000, b"C" * 500]
        dbx, sess = self.client()
        start = dbx.files_upload_session_start(parts[0])
        self.strict_result(sess, files.upload_session_start)
        assert sess.arg("/2/files/upload_session/start")["content_hash"] == content_hash(parts[0])
        cursor = files.UploadSessionCursor(start.session_id, len(parts[0]))
        dbx.files_upload_session_append_v2(parts[1], cursor)
        self.strict_result(sess, files.upload_session_append_v2)
        cursor = files.UploadSessionCursor(start.session_id, len(parts[0]) + len(parts[1]))
        commit = files.CommitInfo(
            "/sdk/sess/big.bin", mode=files.WriteMode.overwrite, mute=True, strict_conflict=False
        )
        m = dbx.files_upload_session_finish(parts[2], cursor, commit)
        sent = sess.arg("/2/files/upload_session/finish")
        # The SDK hashes what this call uploads, not the whole file.
        assert sent["content_hash"] == content_hash(parts[2]), sent
        self.strict_result(sess, files.upload_session_finish)
        whole = b"".join(parts)
        assert m.size == len(whole) and m.content_hash == content_hash(whole), m
        _, resp = dbx.files_download("/sdk/sess/big.bin")
        assert resp.content == whole
        # Finishing with an empty last call.
        s2 = dbx.files_upload_session_start(b"xyz", close=True)
        m2 = dbx.files_upload_session_finish(
            b"", files.UploadSessionCursor(s2.session_id, 3), files.CommitInfo("/sdk/sess/small.txt")
        )
        assert m2.size == 3, m2

    def session_incorrect_offset(self):
        dbx, sess = self.client()
        start = dbx.files_upload_session_start(b"12345")
        try:
            dbx.files_upload_session_append_v2(b"678", files.UploadSessionCursor(start.session_id, 2))
        except ApiError as e:
            assert e.error.is_incorrect_offset(), e.error
            assert e.error.get_incorrect_offset().correct_offset == 5, e.error
            self.strict_error(sess, files.upload_session_append_v2, "incorrect_offset")
        else:
            raise AssertionError("no ApiError on append")
        e = api_error(
            lambda: dbx.files_upload_session_finish(
                b"", files.UploadSessionCursor(start.session_id, 9), files.CommitInfo("/sdk/sess2/x")
            ), "no ApiError on finish"
        )
        assert e.error.is_lookup_failed(), e.error
        assert e.error.get_lookup_failed().get_incorrect_offset().correct_offset == 5
        self.strict_error(sess, files.upload_session_finish, "lookup_failed/incorrect_offset")

    def session_closed(self):
        dbx, sess = self.client()
        start = dbx.files_upload_session_start(b"abc", close=True)
        assert sess.arg("/2/files/upload_session/start")["close"] is True
        e = api_error(lambda: dbx.files_upload_session_append_v2(b"def", files.UploadSessionCursor(start.session_id, 3)))
        assert e.error.is_closed(), e.error
        self.strict_error(sess, files.upload_session_append_v2, "closed")

    def session_finish_conflict(self):
        self.put("/sdk/sess3/taken.txt", b"taken")
        dbx, sess = self.client()
        start = dbx.files_upload_session_start(b"mine")
        e = api_error(
            lambda: dbx.files_upload_session_finish(
                b"", files.UploadSessionCursor(start.session_id, 4), files.CommitInfo("/sdk/sess3/taken.txt")
            ),
        )
        assert e.error.is_path() and e.error.get_path().get_conflict().is_file(), e.error
        self.strict_error(sess, files.upload_session_finish, "path/conflict/file")

    # ------------------------------------------------------------ delete

    def delete_file_folder(self):
        self.put("/sdk/rm/a.txt", b"a")
        self.put("/sdk/rm/dir/b.txt", b"b")
        dbx, sess = self.client()
        res = dbx.files_delete_v2("/sdk/rm/a.txt")
        self.strict_result(sess, files.delete_v2)
        assert isinstance(res.metadata, files.FileMetadata) and res.metadata.name == "a.txt", res
        res = dbx.files_delete_v2("/sdk/rm/dir")
        assert isinstance(res.metadata, files.FolderMetadata), res
        left = dbx.files_list_folder("/sdk/rm", recursive=True)
        assert [e.path_lower for e in left.entries] == ["/sdk/rm"], left.entries

    def delete_parent_rev(self):
        old = self.put("/sdk/rm2/c.txt", b"1")
        cur = self.put("/sdk/rm2/c.txt", b"2")
        dbx, sess = self.client()
        try:
            dbx.files_delete_v2("/sdk/rm2/c.txt", parent_rev=old["rev"])
        except ApiError as e:
            assert e.error.is_path_write() and e.error.get_path_write().is_conflict(), e.error
            self.strict_error(sess, files.delete_v2, "path_write/conflict/file")
        else:
            raise AssertionError("stale parent_rev deleted the file")
        res = dbx.files_delete_v2("/sdk/rm2/c.txt", parent_rev=cur["rev"])
        assert sess.arg("/2/files/delete_v2") == {"path": "/sdk/rm2/c.txt", "parent_rev": cur["rev"]}
        assert res.metadata.rev == cur["rev"], res

    def delete_not_found(self):
        dbx, sess = self.client()
        e = api_error(lambda: dbx.files_delete_v2("/sdk/rm/none.txt"))
        assert e.error.is_path_lookup() and e.error.get_path_lookup().is_not_found(), e.error
        self.strict_error(sess, files.delete_v2, "path_lookup/not_found")

    # ------------------------------------------------------------- OAuth

    def _oauth(self, scope=None):
        """The PKCE flow of a CLI: DropboxOAuth2FlowNoRedirect. The
        emulator's authorize page approves at once and shows the code."""
        flow = oauth.DropboxOAuth2FlowNoRedirect(
            self.app_key, use_pkce=True, token_access_type="offline", scope=scope
        )
        flow.requests_session = EmulatorSession(self.base)
        url = flow.start()
        parts = urllib.parse.urlsplit(url)
        assert parts.netloc == dbx_session.WEB_HOST and parts.path == "/oauth2/authorize", url
        query = dict(urllib.parse.parse_qsl(parts.query))
        assert query["code_challenge_method"] == "S256" and query["token_access_type"] == "offline"
        page = flow.requests_session.get(url)
        assert page.status_code == 200, page.text
        code = re.search(r'data-code="([^"]+)"', page.text).group(1)
        result = flow.finish(code)
        token_call = flow.requests_session.last("/oauth2/token")
        assert token_call["host"] == dbx_session.API_HOST
        form = dict(token_call["data"])
        assert form["grant_type"] == "authorization_code" and "code_verifier" in form, form
        assert "client_secret" not in form
        return result

    def oauth_pkce(self):
        result = self._oauth()
        assert result.access_token and result.refresh_token, result
        assert result.account_id.startswith("dbid:") and result.user_id, result
        assert result.expires_at is not None and result.scope, result
        dbx, _ = self.client(
            result.access_token,
            oauth2_refresh_token=result.refresh_token,
            oauth2_access_token_expiration=result.expires_at,
            app_key=self.app_key,
        )
        dbx.files_upload(b"via oauth", "/sdk/oauth/a.txt")
        return {"scope": result.scope}

    def oauth_bad_code(self):
        flow = oauth.DropboxOAuth2FlowNoRedirect(self.app_key, use_pkce=True, token_access_type="offline")
        flow.requests_session = EmulatorSession(self.base)
        try:
            flow.finish("not-a-code")
        except requests.HTTPError as e:
            assert e.response.status_code == 400
            assert e.response.json()["error"] == "invalid_grant", e.response.text
            return
        raise AssertionError("no HTTPError")

    def _token_calls(self):
        return self.stats()["routes"].get("/oauth2/token", {}).get("requests", 0)

    def auth_refresh_only(self):
        result = self._oauth()
        before = self._token_calls()
        dbx, sess = self.client(oauth2_refresh_token=result.refresh_token, app_key=self.app_key)
        dbx.files_list_folder("")
        assert self._token_calls() == before + 1
        form = dict(sess.last("/oauth2/token")["data"])
        assert form == {
            "grant_type": "refresh_token",
            "refresh_token": result.refresh_token,
            "client_id": self.app_key,
        }, form
        assert dbx._oauth2_access_token != result.access_token

    def auth_expired_refresh(self):
        result = self._oauth()
        dbx, sess = self.client(
            result.access_token,
            oauth2_refresh_token=result.refresh_token,
            oauth2_access_token_expiration=result.expires_at,
            app_key=self.app_key,
        )
        self.control("POST", "expire_tokens", {"token": result.access_token})
        before = self._token_calls()
        res = dbx.files_list_folder("")  # 401 expired → refresh → retry
        assert res.entries is not None
        assert self._token_calls() == before + 1
        statuses = [ex["response"].status_code for ex in sess.exchanges]
        assert statuses == [401, 200, 200], statuses
        body = sess.exchanges[0]["response"].json()
        self.strict(dbx_auth.AuthError_validator, body["error"])
        assert body["error"][".tag"] == "expired_access_token", body
        return {"statuses": statuses}

    def auth_expire_fault_refresh(self):
        result = self._oauth()
        dbx, sess = self.client(
            result.access_token,
            oauth2_refresh_token=result.refresh_token,
            oauth2_access_token_expiration=result.expires_at,
            app_key=self.app_key,
        )
        self.faults(next=["expire"])
        m = dbx.files_upload(b"after refresh", "/sdk/auth/expire-fault.txt")
        assert m.size == 13
        statuses = [ex["response"].status_code for ex in sess.exchanges]
        assert statuses == [401, 200, 200], statuses

    def auth_proactive_refresh(self):
        result = self._oauth()
        past = datetime.datetime.utcnow() - datetime.timedelta(minutes=1)
        dbx, sess = self.client(
            result.access_token,
            oauth2_refresh_token=result.refresh_token,
            oauth2_access_token_expiration=past,
            app_key=self.app_key,
        )
        dbx.files_list_folder("")
        paths = [ex["path"] for ex in sess.exchanges]
        assert paths == ["/oauth2/token", "/2/files/list_folder"], paths

    def auth_refresh_scope(self):
        result = self._oauth()
        dbx, sess = self.client(
            oauth2_refresh_token=result.refresh_token,
            app_key=self.app_key,
            scope=["files.metadata.read"],
        )
        dbx.files_list_folder("")
        refresh = sess.last("/oauth2/token")
        assert dict(refresh["data"])["scope"] == "files.metadata.read"
        assert refresh["response"].json()["scope"] == "files.metadata.read"
        try:
            dbx.files_upload(b"x", "/sdk/auth/narrow.txt")
        except AuthError as e:
            assert e.error.is_missing_scope(), e.error
            assert e.error.get_missing_scope().required_scope == "files.content.write"
            return
        raise AssertionError("narrowed token could upload")

    def auth_expired_no_refresh(self):
        token = self.mint()
        dbx, sess = self.client(token)
        self.control("POST", "expire_tokens", {"token": token})
        try:
            dbx.files_list_folder("")
        except AuthError as e:
            assert e.error.is_expired_access_token(), e.error
            # With nothing to refresh with, the SDK tries once more, then raises.
            statuses = [ex["response"].status_code for ex in sess.exchanges]
            assert statuses == [401, 401], statuses
            return
        raise AssertionError("no AuthError")

    def auth_invalid(self):
        dbx, sess = self.client("sl.not-a-token")
        try:
            dbx.files_list_folder("")
        except AuthError as e:
            assert e.error.is_invalid_access_token(), e.error
            self.strict(dbx_auth.AuthError_validator, sess.last()["response"].json()["error"])
            return
        raise AssertionError("no AuthError")

    def auth_missing_scope(self):
        token = self.mint(scope="files.metadata.read")
        dbx, sess = self.client(token)
        dbx.files_list_folder("")
        try:
            dbx.files_upload(b"x", "/sdk/auth/x.txt")
        except AuthError as e:
            assert e.error.is_missing_scope(), e.error
            assert e.error.get_missing_scope().required_scope == "files.content.write"
            self.strict(dbx_auth.AuthError_validator, sess.last()["response"].json()["error"])
            return
        raise AssertionError("no AuthError")

    def token_revoke(self):
        result = self._oauth()
        dbx, sess = self.client(
            result.access_token,
            oauth2_refresh_token=result.refresh_token,
            oauth2_access_token_expiration=result.expires_at,
            app_key=self.app_key,
        )
        dbx.auth_token_revoke()
        ex = sess.last("/2/auth/token/revoke")
        assert ex["data"] == "null" and ex["response"].status_code == 200, ex
        self.strict_result(sess, dbx_auth.token_revoke)
        try:
            dbx.files_list_folder("")
        except AuthError as e:
            # invalid (not expired): the SDK does not try to refresh.
            assert e.error.is_invalid_access_token(), e.error
        else:
            raise AssertionError("revoked token still works")
        after, _ = self.client(oauth2_refresh_token=result.refresh_token, app_key=self.app_key)
        try:
            after.files_list_folder("")
        except AuthError as e:
            assert e.error.is_invalid_access_token(), e.error
            return
        raise AssertionError("revoked refresh token still works")

    # ------------------------------------------------- rate limits, 5xx

    def rate_limit_requests(self):
        self.faults(next=["429"], rate_limit_body="too_many_requests", retry_after_secs=2)
        dbx, sess = self.client()
        try:
            dbx.files_list_folder("")
        except RateLimitError as e:
            assert e.backoff == 2, e.backoff
            assert e.error.reason.is_too_many_requests() and e.error.retry_after == 2, e.error
            resp = sess.last()["response"]
            assert resp.headers["Retry-After"] == "2"
            self.strict(dbx_auth.RateLimitError_validator, resp.json()["error"])
            return {"backoff": e.backoff}
        raise AssertionError("no RateLimitError")

    def rate_limit_write_ops(self):
        self.faults(next=["429"], rate_limit_body="too_many_write_operations", retry_after_secs=3)
        dbx, sess = self.client()
        try:
            dbx.files_upload(b"w", "/sdk/rl/w.txt")
        except RateLimitError as e:
            assert e.error.reason.is_too_many_write_operations(), e.error
            # No retry_after in the body: Stone's default (1) applies.
            assert e.backoff == 1, e.backoff
            resp = sess.last()["response"]
            assert resp.headers["Retry-After"] == "3"
            self.strict(dbx_auth.RateLimitError_validator, resp.json()["error"])
            return {"backoff": e.backoff, "retry_after_header": 3}
        raise AssertionError("no RateLimitError")

    def rate_limit_text(self):
        self.faults(next=["429"], rate_limit_body="text", retry_after_secs=4)
        dbx, _ = self.client()
        try:
            dbx.files_download("/sdk/dl/file.bin")
        except RateLimitError as e:
            assert e.error is None and e.backoff == 4, (e.error, e.backoff)
            return {"backoff": e.backoff}
        raise AssertionError("no RateLimitError")

    def rate_limit_retried(self):
        self.faults(next=["429"], rate_limit_body="too_many_requests", retry_after_secs=1)
        dbx, sess = self.client(max_retries_on_rate_limit=None)
        t0 = time.monotonic()
        dbx.files_list_folder("")
        statuses = [ex["response"].status_code for ex in sess.exchanges]
        assert statuses == [429, 200], statuses
        assert time.monotonic() - t0 >= 0.9
        return {"statuses": statuses}

    def server_500(self):
        self.faults(next=["500"])
        dbx, _ = self.client()
        try:
            dbx.files_get_metadata("/sdk/meta/File.TXT")
        except InternalServerError as e:
            assert e.status_code == 500, e.status_code
            return
        raise AssertionError("no InternalServerError")

    def server_503(self):
        self.faults(next=["503"], retry_after_secs=1)
        dbx, sess = self.client()
        try:
            dbx.files_upload(b"x", "/sdk/err/503.txt")
        except InternalServerError as e:
            assert e.status_code == 503, e.status_code
            assert sess.last()["response"].headers["Retry-After"] == "1"
            return
        raise AssertionError("no InternalServerError")

    def server_retried(self):
        self.faults(next=["500"])
        dbx, sess = self.client(max_retries_on_error=4)
        dbx.files_upload(b"retried", "/sdk/err/retried.txt", mode=files.WriteMode.overwrite)
        statuses = [ex["response"].status_code for ex in sess.exchanges]
        assert statuses == [500, 200], statuses
        return {"statuses": statuses}

    def bad_input(self):
        # The SDK validates arguments itself; a raw request through its
        # transport shows how a 400 surfaces.
        dbx, _ = self.client()
        try:
            dbx.request_json_object(
                "api", "files/list_folder", "rpc", {"path": "/x", "no_such_field": 1}, "user", None
            )
        except BadInputError as e:
            assert 'Error in call to API function "files/list_folder"' in e.message, e.message
            assert "no_such_field" in e.message, e.message
            return
        raise AssertionError("no BadInputError")


    # ---------------------------------------- accepted, ignored; dropped

    def ignored_fields(self):
        """Every optional spec field the emulator accepts but does not act
        on, set to a non-default value: each call still succeeds."""
        self.put("/sdk/ign/a.txt", b"a")
        dbx, sess = self.client()
        templates = file_properties.TemplateFilterBase.filter_some(["ptid:1a5n2i6d3OYEAAAAAAAAAYa"])
        flags = dict(
            include_media_info=True,
            include_has_explicit_shared_members=True,
            include_mounted_folders=False,
            include_non_downloadable_files=False,
            include_restorable_info=True,
            include_property_groups=templates,
        )
        res = dbx.files_list_folder("/sdk/ign", **flags)
        assert [e.name for e in res.entries] == ["a.txt"], res.entries
        self.strict_result(sess, files.list_folder)
        dbx.files_list_folder_get_latest_cursor("/sdk/ign", **flags)
        m = dbx.files_get_metadata(
            "/sdk/ign/a.txt",
            include_media_info=True,
            include_has_explicit_shared_members=True,
            include_property_groups=templates,
        )
        assert m.name == "a.txt"
        groups = [
            file_properties.PropertyGroup(
                "ptid:1a5n2i6d3OYEAAAAAAAAAYa", [file_properties.PropertyField("k", "v")]
            )
        ]
        m = dbx.files_upload(b"p", "/sdk/ign/p.txt", property_groups=groups)
        assert sess.arg("/2/files/upload")["property_groups"][0]["fields"] == [{"name": "k", "value": "v"}]
        self.strict_result(sess, files.upload)
        start = dbx.files_upload_session_start(b"s", session_type=files.UploadSessionType.sequential)
        assert sess.arg("/2/files/upload_session/start")["session_type"] == {".tag": "sequential"}
        m = dbx.files_upload_session_finish(
            b"",
            files.UploadSessionCursor(start.session_id, 1),
            files.CommitInfo("/sdk/ign/s.txt", property_groups=groups),
        )
        assert m.size == 1
        return {
            "ignored": sorted(flags) + ["property_groups", "session_type", "mute"],
        }

    def fault_drop(self):
        self.faults(next=["drop"])
        dbx, _ = self.client()
        try:
            dbx.files_upload(b"never", "/sdk/drop/never.txt")
        except requests.exceptions.ConnectionError:
            pass
        else:
            raise AssertionError("no ConnectionError")
        got = self.http.get(self.base + "/__emulator/files/sdk/drop/never.txt")
        assert got.status_code == 404, "a dropped request changed state"

    def fault_drop_after_commit(self):
        self.faults(next=["drop-after-commit"])
        dbx, _ = self.client()
        try:
            dbx.files_upload(b"landed", "/sdk/drop/landed.txt")
        except requests.exceptions.ConnectionError:
            pass
        else:
            raise AssertionError("no ConnectionError")
        m = dbx.files_get_metadata("/sdk/drop/landed.txt")
        assert m.size == 6, m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="emulator base URL, http://127.0.0.1:PORT")
    ap.add_argument("--token", required=True, help="an access token the emulator accepts")
    ap.add_argument("--app-key", required=True, help="the emulator's app key")
    ap.add_argument(
        "--longpoll-scale",
        type=float,
        default=1.0,
        help="the emulator's longpoll_time_scale (how long a longpoll is held)",
    )
    ap.add_argument("--only", default=None, help="run only checks whose name starts with this")
    opts = ap.parse_args()
    checker = Checker(opts)
    for name, fn in checker.all_checks():
        checker.run(name, fn)
    passed = sum(1 for r in checker.results if r["ok"])
    failed = len(checker.results) - passed
    print(
        json.dumps(
            {
                "summary": {
                    "passed": passed,
                    "failed": failed,
                    "checks": [r["check"] for r in checker.results],
                }
            }
        ),
        flush=True,
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
