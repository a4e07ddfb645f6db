"""The audit trail (filter, verify the chain and show the first bad record, export JSON lines)
and access keys (list, create with the secret shown once, revoke). Neither is a Rekognition
operation: the audit pages need the key's ``audit`` scope (or ``admin``), the key pages ``admin``,
checked with the same scope rule the operation table uses."""

from __future__ import annotations

import json
import shlex
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ... import operations
from ...errors import AccessDeniedException
from ...params import iso_time
from ...policy.scopes import SCOPES, allowed, may_use, parse_scopes
from .web import PREFIX, Console, Visitor, csrf_field, esc, redirect, twin, when

SHOWN = 200
FILTERS = (("since", "From", "datetime-local"), ("until", "Until", "datetime-local"), ("key", "Access key", "text"),
           ("collection", "Collection", "text"), ("purpose", "Purpose", "text"))
# what the trail records: the audited operations of the table, and the policy, retention, job and stream events
RECORDED = sorted({op.name for op in operations.OPERATIONS.values() if op.audited}
                  | {"FaceSearchJob", "MigrateCollection", "RetentionPurge", "SetCollectionPolicy",
                     "StreamProcessorIdentification", "StreamProcessorEnded", "StreamProcessorResumed",
                     "StreamProcessorSearch"})


def _records(console: Console, visitor: Visitor, query: dict[str, str]) -> list[dict[str, Any]]:
    """The records matching the filters, oldest first (blocking: run in the executor)."""
    audit = console.engine.audit
    since, until = iso_time("From", query.get("since")), iso_time("Until", query.get("until"))
    operation = query.get("operation") or None
    caller = visitor.caller()
    out = []
    for r in audit.records(since=since, key=query.get("key") or None, collection=query.get("collection") or None,
                           purpose=query.get("purpose") or None):
        if until is not None and isinstance(r.get("time"), (int, float)) and r["time"] > until:
            continue
        if operation is not None and r.get("operation") != operation:
            continue
        c = r.get("collection")
        if c and "admin" not in caller.scopes and not may_use(caller, c):
            continue  # a key reads the records of the collections it covers
        out.append(r)
    return out


def _verify(console: Console) -> dict[str, Any]:
    audit = console.engine.audit
    result = audit.verify()
    out: dict[str, Any] = {"Intact": result.ok, "Records": result.records, "Head": result.head,
                           "Checkpoints": result.checkpoints, "SignedCheckpoints": result.signed_checkpoints,
                           "AuditKeyId": audit.key.key_id}
    if not result.ok:
        out.update({"FirstBadRecord": result.first_bad, "Problem": result.problem})
    return out


def routes(console: Console) -> list[BaseRoute]:
    def need(visitor: Visitor, scope: str, what: str) -> None:
        allowed(visitor.caller(), scope, what, None)

    async def audit_page(request: Request) -> Response:
        visitor = console.visitor(request)
        need(visitor, "audit", "the audit trail")
        query = {k: v.strip() for k, v in request.query_params.items()}
        records = await console.blocking(visitor.caller(), lambda: _records(console, visitor, query))
        verified = await console.blocking(visitor.caller(), lambda: _verify(console)) if "verify" in query else None
        shown = list(reversed(records[-SHOWN:]))
        if request.url.path.endswith(".json"):
            return twin({"Records": shown, "Matching": len(records), "Verify": verified})
        return console.page(visitor, "audit", "Audit trail", _audit_body(visitor, query, shown, len(records), verified))

    async def export(request: Request) -> Response:
        visitor = console.visitor(request)
        need(visitor, "audit", "the audit trail")
        query = {k: v.strip() for k, v in request.query_params.items()}
        records = await console.blocking(visitor.caller(), lambda: _records(console, visitor, query))
        text = "".join(json.dumps(r) + "\n" for r in records)
        return Response(text, media_type="application/x-ndjson",
                        headers={"Content-Disposition": 'attachment; filename="clearsight-audit.jsonl"'})

    async def keys_page(request: Request) -> Response:
        visitor = console.visitor(request)
        need(visitor, "admin", "the access keys")
        keys = await console.blocking(visitor.caller(), console.service.keys.list)
        rows = [{"AccessKeyId": k.access_key_id, "Name": k.name, "Created": k.created, "Revoked": k.revoked,
                 "Scopes": sorted(k.scopes), "Collections": list(k.collections), "Purpose": k.purpose} for k in keys]
        if request.url.path.endswith(".json"):
            return twin({"AccessKeys": rows})
        return console.page(visitor, "keys", "Access keys", _keys_body(visitor, rows))

    async def create_key(request: Request) -> Response:
        visitor = console.visitor(request)
        need(visitor, "admin", "the access keys")
        form = await console.form(request, visitor)
        scopes = parse_scopes(form.get("scopes", ""))
        name, collections = form.get("name", "").strip(), form.get("collections", "").strip() or "*"
        purpose = form.get("purpose", "").strip() or None
        key_id, secret = await console.blocking(visitor.caller(), lambda: console.service.keys.create(
            name, scopes=scopes, collections=collections, purpose=purpose))
        body = ('<section class="card receipt"><h2>Store the secret now</h2><p>It is shown once and cannot be '
                'read again; revoke the key and make another if it is lost.</p><dl class="facts">'
                f'<dt>AccessKeyId</dt><dd><code data-new-key>{esc(key_id)}</code></dd><dt>SecretAccessKey</dt>'
                f'<dd><code data-new-secret>{esc(secret)}</code></dd><dt>Scopes</dt>'
                f'<dd>{esc(", ".join(sorted(scopes)))}'
                f'</dd><dt>Collections</dt><dd>{esc(collections)}</dd></dl></section>'
                f'<p><a href="{PREFIX}/keys">Back to the keys</a></p>')
        return console.page(visitor, "keys", f"Key {name} created", body)

    async def revoke(request: Request) -> Response:
        visitor = console.visitor(request)
        need(visitor, "admin", "the access keys")
        form = await console.form(request, visitor)
        key_id = form.get("key_id", "")
        if key_id == visitor.key.access_key_id:
            raise AccessDeniedException("a key cannot revoke itself from its own session; log in with another")
        await console.blocking(visitor.caller(), lambda: console.service.keys.revoke(key_id))
        console.sessions.end_key(key_id)
        console.flash(visitor, f"Revoked {key_id}; its sessions are ended and its requests refused.")
        return redirect("/keys")

    return [Route("/audit", audit_page), Route("/audit.json", audit_page), Route("/audit/export.jsonl", export),
            Route("/keys", keys_page), Route("/keys.json", keys_page),
            Route("/keys/create", create_key, methods=["POST"]), Route("/keys/revoke", revoke, methods=["POST"])]


def _audit_body(visitor: Visitor, query: dict[str, str], records: list[dict[str, Any]], matching: int,
                verified: dict[str, Any] | None) -> str:
    fields = "".join(f'<label>{label} <input type="{kind}" name="{name}" value="{esc(query.get(name, ""))}"></label>'
                     for name, label, kind in FILTERS)
    chosen = query.get("operation", "")
    fields += ('<label>Operation <select name="operation"><option value="">any</option>' + "".join(
        f'<option{" selected" if op == chosen else ""}>{op}</option>' for op in RECORDED) + "</select></label>")
    from urllib.parse import urlencode

    qs = urlencode({k: v for k, v in query.items() if k != "verify" and v})
    verify_html = ""
    if verified is not None:
        if verified["Intact"]:
            verify_html = (f'<div class="verdict ok" role="status" data-verify="intact"><strong>Chain intact.</strong> '
                           f'{verified["Records"]} records, head <code>{esc(verified["Head"][:16])}</code>, checked '
                           f'against {verified["Checkpoints"]} checkpoint(s).</div>')
        else:
            verify_html = (f'<div class="verdict bad" role="alert" data-verify="broken"><strong>Chain broken at record '
                           f'{esc(verified.get("FirstBadRecord"))}.</strong> {esc(verified.get("Problem"))}</div>')
    rows = "".join(_record_row(r) for r in records) or '<tr><td colspan="8" class="muted">No records match.</td></tr>'
    return (f'<form method="get" action="{PREFIX}/audit" class="card filters" aria-label="Filter the records">{fields}'
            '<div class="row"><button type="submit" class="primary">Filter</button>'
            '<button type="submit" name="verify" value="1">Verify the chain</button>'
            f'<a class="button" href="{PREFIX}/audit/export.jsonl{"?" + qs if qs else ""}">Export JSON lines</a></div>'
            f'</form>{verify_html}<section class="card"><p class="muted">{matching} matching record(s); the newest '
            f'{min(matching, SHOWN)} shown, newest first. Face and user ids are recorded as pseudonyms.</p>'
            '<table class="grid audit"><thead><tr><th scope="col">#</th><th scope="col">Time</th>'
            '<th scope="col">Operation</th><th scope="col">Collection</th><th scope="col">Key</th>'
            '<th scope="col">Purpose</th><th scope="col">Outcome</th><th scope="col">Results</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></section>' + _cli(query))


def _cli(query: dict[str, str]) -> str:
    """The same listing from the server's shell (the audit trail is not a Rekognition operation)."""
    flags = {"since": "--since", "key": "--key", "collection": "--collection", "purpose": "--purpose"}
    args = "".join(f" {flag} {shlex.quote(query[k])}" for k, flag in flags.items() if query.get(k))
    return ('<details class="snippets"><summary>Copy as clearsight CLI</summary><p class="muted">The audit trail is '
            'read on the server, not over the AWS API:</p>'
            f'<pre tabindex="0">clearsight audit export{esc(args)} &gt; audit.jsonl\nclearsight audit verify</pre>'
            '</details>')


def _record_row(r: dict[str, Any]) -> str:
    if "unreadable_record" in r:
        return (f'<tr class="bad"><td>{r["seq"]}</td><td colspan="7">Unreadable: tampered with. '
                'Verify the chain.</td></tr>')
    outcome = str(r.get("outcome"))
    detail = f'<div class="muted small">{esc(r.get("detail"))}</div>' if r.get("detail") else ""
    return (f'<tr data-operation="{esc(r.get("operation"))}"><td class="num">{esc(r.get("seq"))}</td>'
            f'<td>{when(r.get("time"))}</td><td>{esc(r.get("operation"))}</td>'
            f'<td>{esc(r.get("collection") or "-")}</td>'
            f'<td><code>{esc(r.get("access_key_id"))}</code></td><td>{esc(r.get("purpose") or "-")}</td>'
            f'<td><span class="tag {esc(outcome)}">{esc(outcome)}</span>{detail}</td>'
            f'<td class="num">{len(r.get("results") or [])}</td></tr>')


def _keys_body(visitor: Visitor, rows: list[dict[str, Any]]) -> str:
    csrf = csrf_field(visitor)
    body = "".join(
        f'<tr><td><code>{esc(r["AccessKeyId"])}</code></td><td>{esc(r["Name"])}</td><td>{when(r["Created"])}</td>'
        f'<td>{esc(", ".join(r["Scopes"]))}</td><td>{esc(", ".join(r["Collections"]))}</td>'
        f'<td>{esc(r["Purpose"] or "-")}</td><td>'
        + (f'<span class="tag refused">revoked {when(r["Revoked"])}</span>' if r["Revoked"] else
           '<span class="tag ok">active</span>' if r["AccessKeyId"] == visitor.key.access_key_id else
           f'<form method="post" action="{PREFIX}/keys/revoke">{csrf}<input type="hidden" name="key_id" '
           f'value="{esc(r["AccessKeyId"])}"><button type="submit" class="link danger" '
           f'aria-label="Revoke {esc(r["AccessKeyId"])}">Revoke</button></form>') + "</td></tr>" for r in rows)
    scopes = "".join(f'<label class="choice"><input type="checkbox" name="scopes" value="{s}"'
                     f'{" checked" if s in ("detect", "compare", "search") else ""}> {s}</label>' for s in SCOPES)
    return ('<div class="split wide"><section class="card"><table class="grid"><thead><tr><th scope="col">AccessKeyId'
            '</th><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Scopes</th><th scope="col">'
            'Collections</th><th scope="col">Purpose</th><th scope="col">State</th></tr></thead>'
            f'<tbody>{body}</tbody></table></section><form method="post" action="{PREFIX}/keys/create" class="card" '
            f'aria-label="Create a key"><h2>Create a key</h2>{csrf}<label>Name <input name="name" required '
            f'maxlength="128"></label><fieldset><legend>Scopes</legend>{scopes}</fieldset>'
            '<label>Collections (patterns) <input name="collections" value="*"></label>'
            '<label>Default purpose <input name="purpose"></label>'
            '<button type="submit" class="primary">Create key</button></form></div>')
