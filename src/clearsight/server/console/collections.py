"""Collections: list, create (with a policy), delete (showing the erasure receipt), the policy
editor (admin keys), a paged face table, face deletion, and users. Every action is the AWS
operation, through dispatch; the policy editor is ``Collections.set_policy`` (audited, admin only)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...errors import AccessDeniedException, ClearSightError, InvalidParameterException
from ...policy.policies import TAG_PREFIX, CollectionPolicy
from ...policy.scopes import may_use
from .web import PREFIX, Console, Visitor, copy_as, csrf_field, error_box, esc, q, redirect, twin, when

PAGE_SIZE = 50
POLICY_FIELDS = (("min_threshold", "Threshold floor", "number", "0", "100", "0.5"),
                 ("max_results", "Most results per search", "number", "1", "4096", "1"),
                 ("retention_days", "Retention (days, 0 = keep until deleted)", "number", "0", "36500", "0.5"))
NO_THUMBNAILS = ("No thumbnails: ClearSight stores no image bytes, only a face's vector, box and ids. "
                 "Recognise a face by its ExternalImageId or UserId.")


def _policy_inputs(policy: CollectionPolicy | None, prefix: str = "") -> str:
    p = policy or CollectionPolicy()
    out = "".join(
        f'<label>{label} <input type="{kind}" name="{prefix}{name}" min="{lo}" max="{hi}" step="{step}" '
        f'value="{getattr(p, name):g}"></label>' for name, label, kind, lo, hi, step in POLICY_FIELDS)
    checked = " checked" if p.require_purpose else ""
    return out + (f'<label class="choice"><input type="checkbox" name="{prefix}require_purpose" value="1"{checked}> '
                  'Searches must state a purpose</label>')


def _policy_changes(form: dict[str, str], prefix: str = "") -> dict[str, Any]:
    try:
        changes: dict[str, Any] = {
            "min_threshold": float(form.get(prefix + "min_threshold") or 0),
            "max_results": int(float(form.get(prefix + "max_results") or 4096)),
            "retention_days": float(form.get(prefix + "retention_days") or 0)}
    except ValueError as exc:
        raise InvalidParameterException("a policy field is not a number") from exc
    changes["require_purpose"] = form.get(prefix + "require_purpose") == "1"
    return changes


def _policy_view(p: CollectionPolicy) -> str:
    rows = (("Threshold floor", f"{p.min_threshold:g}"), ("Purpose required", "yes" if p.require_purpose else "no"),
            ("Most results per search", p.max_results),
            ("Retention", f"{p.retention_days:g} days" if p.retention_days else "until deleted"))
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{esc(v)}</dd>" for k, v in rows) + "</dl>"


def routes(console: Console) -> list[BaseRoute]:
    engine = console.engine

    async def listing(request: Request) -> Response:
        visitor = console.visitor(request)
        caller = visitor.caller()
        out = await console.call(caller, "ListCollections", {})
        ids: list[str] = out.get("CollectionIds", [])
        policies = await console.blocking(caller, lambda: {cid: engine.collections.policy(cid) for cid in ids})
        rows = []
        for cid in ids:
            d = await console.call(caller, "DescribeCollection", {"CollectionId": cid})
            policy = policies[cid]
            rows.append({"CollectionId": cid, "FaceCount": d["FaceCount"], "UserCount": d["UserCount"],
                         "FaceModelVersion": d["FaceModelVersion"], "CreationTimestamp": d["CreationTimestamp"],
                         "Policy": policy.__dict__})
        if request.url.path.endswith(".json"):
            return twin({"Collections": rows})
        return console.page(visitor, "collections", "Collections", _listing(visitor, rows)
                            + copy_as(request, "ListCollections", {}))

    async def create(request: Request) -> Response:
        visitor = console.visitor(request)
        form = await console.form(request, visitor)
        cid = form.get("collection_id", "").strip()
        payload: dict[str, Any] = {"CollectionId": cid}
        if visitor.key.admin and form.get("with_policy") == "1":
            c = _policy_changes(form)
            payload["Tags"] = {TAG_PREFIX + "min-threshold": f"{c['min_threshold']:g}",
                               TAG_PREFIX + "max-results": str(c["max_results"]),
                               TAG_PREFIX + "retention-days": f"{c['retention_days']:g}",
                               TAG_PREFIX + "require-purpose": "true" if c["require_purpose"] else "false"}
        try:
            await console.call(visitor.caller(), "CreateCollection", payload)
        except ClearSightError as exc:
            console.flash(visitor, f"{exc.code}: {exc.message}", "error")
            return redirect("/collections")
        console.flash(visitor, f"Created collection {cid}.")
        return redirect(f"/collections/{q(cid)}")

    async def detail(request: Request) -> Response:
        visitor = console.visitor(request)
        cid = request.path_params["cid"].removesuffix(".json")
        caller = visitor.caller()
        d = await console.call(caller, "DescribeCollection", {"CollectionId": cid})
        page: dict[str, Any] = {"MaxResults": PAGE_SIZE}
        if request.query_params.get("next"):
            page["NextToken"] = request.query_params["next"]
        faces_out = await console.call(caller, "ListFaces", {"CollectionId": cid, **page})
        users: list[dict[str, Any]] = []
        users_error = ""
        try:
            users = (await console.call(caller, "ListUsers", {"CollectionId": cid, "MaxResults": 500}))["Users"]
        except ClearSightError as exc:
            users_error = exc.message
        policy = await console.blocking(caller, lambda: engine.collections.policy(cid))
        faces = await console.blocking(caller, lambda: _with_dates(engine, cid, faces_out["Faces"], policy))
        data = {"CollectionId": cid, "Description": d, "Policy": policy.__dict__, "Faces": faces,
                "NextToken": faces_out.get("NextToken"), "Users": users}
        if request.url.path.endswith(".json"):
            return twin(data)
        return console.page(visitor, "collections", f"Collection {cid}",
                            _detail(visitor, data, policy, users_error)
                            + copy_as(request, "ListFaces", {"CollectionId": cid, **page}))

    async def delete(request: Request) -> Response:
        visitor = console.visitor(request)
        form = await console.form(request, visitor)
        cid = request.path_params["cid"]
        if form.get("confirm") != cid:
            console.flash(visitor, f"Not deleted: type {cid} in the box to confirm.", "error")
            return redirect(f"/collections/{q(cid)}")
        out = await console.call(visitor.caller(), "DeleteCollection", {"CollectionId": cid})
        receipt = out.get("ClearSightErasure", {})
        body = (f'<p class="lede">Collection <strong>{esc(cid)}</strong> is deleted.</p>'
                '<section class="card receipt" aria-label="Erasure receipt"><h2>Erasure receipt</h2><dl class="facts">'
                + "".join(f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>" for k, v in receipt.items())
                + f'</dl></section><p><a href="{PREFIX}/collections">Back to collections</a></p>')
        return console.page(visitor, "collections", "Collection deleted", body)

    async def set_policy(request: Request) -> Response:
        visitor = console.visitor(request)
        form = await console.form(request, visitor)
        cid = request.path_params["cid"]
        caller = visitor.caller()
        if not may_use(caller, cid):
            raise AccessDeniedException(f"access key {caller.access_key_id} may not use collection {cid!r}")
        changes = _policy_changes(form)
        try:
            await console.blocking(caller, lambda: engine.collections.set_policy(cid, **changes))
            console.flash(visitor, "Policy saved (the change is in the audit trail).")
        except ClearSightError as exc:
            console.flash(visitor, f"{exc.code}: {exc.message}", "error")
        return redirect(f"/collections/{q(cid)}")

    def action(name: str, build: Any, done: Any) -> Any:
        async def view(request: Request) -> Response:
            visitor = console.visitor(request)
            form = await console.form(request, visitor)
            cid = request.path_params["cid"]
            try:
                out = await console.call(visitor.caller(), name, {"CollectionId": cid, **build(form)})
                console.flash(visitor, done(out, form))
            except ClearSightError as exc:
                console.flash(visitor, f"{name}: {exc.code}: {exc.message}", "error")
            return redirect(f"/collections/{q(cid)}")
        return view

    def ids(form: dict[str, str]) -> list[str]:
        return [f for f in form.get("face_ids", "").replace(" ", ",").split(",") if f]

    def reasons(out: dict[str, Any], key: str) -> str:
        bad = out.get(key) or []
        return "; ".join(f"{u.get('FaceId')}: {', '.join(u.get('Reasons', []))}" for u in bad)

    def deleted(out: dict[str, Any], form: dict[str, str]) -> str:
        text = f"Deleted {len(out.get('DeletedFaces', []))} face(s)."
        return text + (f" Not deleted: {reasons(out, 'UnsuccessfulFaceDeletions')}" if
                       out.get("UnsuccessfulFaceDeletions") else "")

    def associated(out: dict[str, Any], form: dict[str, str]) -> str:
        text = f"Associated {len(out.get('AssociatedFaces', []))} face(s) with {form.get('user_id')}."
        return text + (f" Not associated: {reasons(out, 'UnsuccessfulFaceAssociations')}"
                       if out.get("UnsuccessfulFaceAssociations") else "")

    def disassociated(out: dict[str, Any], form: dict[str, str]) -> str:
        text = f"Disassociated {len(out.get('DisassociatedFaces', []))} face(s) from {form.get('user_id')}."
        return text + (f" Not disassociated: {reasons(out, 'UnsuccessfulFaceDisassociations')}"
                       if out.get("UnsuccessfulFaceDisassociations") else "")

    def user(f: dict[str, str]) -> dict[str, Any]:
        return {"UserId": f.get("user_id", "").strip()}

    def with_faces(f: dict[str, str]) -> dict[str, Any]:
        return {"UserId": f.get("user_id", "").strip(), "FaceIds": ids(f)}

    return [Route("/collections", listing), Route("/collections.json", listing),
            Route("/collections/create", create, methods=["POST"]),
            Route("/collections/{cid}", detail),
            Route("/collections/{cid}/delete", delete, methods=["POST"]),
            Route("/collections/{cid}/policy", set_policy, methods=["POST"]),
            Route("/collections/{cid}/faces/delete", action(
                "DeleteFaces", lambda f: {"FaceIds": ids(f)}, deleted), methods=["POST"]),
            Route("/collections/{cid}/users/create", action(
                "CreateUser", user, lambda o, f: f"Created user {f.get('user_id')}."), methods=["POST"]),
            Route("/collections/{cid}/users/delete", action(
                "DeleteUser", user, lambda o, f: f"Deleted user {f.get('user_id')}."), methods=["POST"]),
            Route("/collections/{cid}/users/associate", action("AssociateFaces", with_faces, associated),
                  methods=["POST"]),
            Route("/collections/{cid}/users/disassociate", action("DisassociateFaces", with_faces, disassociated),
                  methods=["POST"])]


def _with_dates(engine: Any, cid: str, faces: list[dict[str, Any]], policy: CollectionPolicy) -> list[dict[str, Any]]:
    """The listed faces with when they were indexed and when retention purges them (the store's
    rows for the faces ListFaces just returned, and audited as such)."""
    ids = [f["FaceId"] for f in faces]
    created = {r.face_id: r.created for r in engine.store.faces(cid, face_ids=ids, limit=len(ids) or 1)} if ids else {}
    out = []
    for f in faces:
        t = created.get(f["FaceId"])
        expires = t + policy.retention_days * 86400 if t and policy.retention_days > 0 else None
        out.append({**f, "IndexedAt": t, "Expires": expires})
    return out


def _listing(visitor: Visitor, rows: list[dict[str, Any]]) -> str:
    if rows:
        body = "".join(
            f'<tr><th scope="row"><a href="{PREFIX}/collections/{q(r["CollectionId"])}">{esc(r["CollectionId"])}</a>'
            f'</th><td class="num">{r["FaceCount"]}</td><td class="num">{r["UserCount"]}</td>'
            f'<td>{esc(r["FaceModelVersion"])}</td><td>{"required" if r["Policy"]["require_purpose"] else "-"}</td>'
            f'<td class="num">{r["Policy"]["min_threshold"]:g}</td><td>{when(r["CreationTimestamp"])}</td></tr>'
            for r in rows)
        table = ('<table class="grid"><caption>Collections this key may use</caption><thead><tr>'
                 '<th scope="col">Collection</th><th scope="col">Faces</th><th scope="col">Users</th>'
                 '<th scope="col">Face model</th><th scope="col">Purpose</th><th scope="col">Threshold floor</th>'
                 f'<th scope="col">Created</th></tr></thead><tbody>{body}</tbody></table>')
    else:
        table = '<p class="empty">No collection this key may use yet.</p>'
    if visitor.key.admin:
        policy = ('<fieldset class="column"><legend>Policy</legend><label class="choice"><input type="checkbox" '
                  f'name="with_policy" value="1" checked> Set a policy</label>{_policy_inputs(None)}</fieldset>')
    else:
        policy = '<p class="muted">Policies are set by admin keys; a new collection gets the default policy.</p>'
    form = (f'<form method="post" action="{PREFIX}/collections/create" class="card" aria-label="Create a collection">'
            f'<h2>Create a collection</h2>{csrf_field(visitor)}<label>Collection id <input name="collection_id" '
            f'required pattern="[a-zA-Z0-9_.\\-]+" maxlength="255"></label>{policy}'
            '<button type="submit" class="primary">Create</button></form>')
    return f'<div class="split wide"><section class="card">{table}</section>{form}</div>'


def _detail(visitor: Visitor, data: dict[str, Any], policy: CollectionPolicy, users_error: str) -> str:
    cid = data["CollectionId"]
    d = data["Description"]
    base = f"{PREFIX}/collections/{q(cid)}"
    csrf = csrf_field(visitor)
    summary = (f'<dl class="facts inline"><dt>Faces</dt><dd>{d["FaceCount"]}</dd><dt>Users</dt><dd>{d["UserCount"]}'
               f'</dd><dt>Face model</dt><dd>{esc(d["FaceModelVersion"])}</dd><dt>Created</dt>'
               f'<dd>{when(d["CreationTimestamp"])}</dd></dl>')
    if visitor.key.admin:
        policy_html = (f'<form method="post" action="{base}/policy" class="stack" aria-label="Policy editor">{csrf}'
                       f'{_policy_inputs(policy)}<button type="submit">Save policy</button></form>')
    else:
        policy_html = _policy_view(policy) + '<p class="muted">Only admin keys may change a policy.</p>'
    rows = "".join(
        f'<tr><td><input type="checkbox" name="face_ids" value="{esc(f["FaceId"])}" form="faces-form" '
        f'aria-label="Select face {esc(f["FaceId"])}"></td><td><code>{esc(f["FaceId"])}</code></td>'
        f'<td>{esc(f.get("ExternalImageId") or "-")}</td><td>{esc(f.get("UserId") or "-")}</td>'
        f'<td>{when(f["IndexedAt"])}</td><td>{when(f["Expires"]) if f["Expires"] else "never"}</td></tr>'
        for f in data["Faces"]) or '<tr><td colspan="6" class="muted">No faces yet: index some below.</td></tr>'
    more = (f'<a class="button" href="{base}?next={q(data["NextToken"])}">Next page</a>' if data["NextToken"] else "")
    faces = (f'<section class="card"><h2>Faces</h2><p class="muted">{NO_THUMBNAILS}</p>'
             f'<form id="faces-form" method="post" action="{base}/faces/delete">{csrf}</form>'
             '<table class="grid"><thead><tr><th scope="col"><span class="sr">Select</span></th>'
             '<th scope="col">FaceId</th><th scope="col">ExternalImageId</th><th scope="col">UserId</th>'
             f'<th scope="col">Indexed at</th><th scope="col">Expires</th></tr></thead><tbody>{rows}</tbody></table>'
             f'<div class="row"><button type="submit" form="faces-form" class="danger">Delete selected faces</button>'
             f'{more}</div></section>')
    index = ('<section class="card"><h2>Index faces</h2><form class="controls" data-form="index" '
             f'data-index-collection="{esc(cid)}"><div class="drop" data-drop="image">'
             '<label for="file-index">Image to index'
             '</label><input type="file" id="file-index" accept="image/jpeg,image/png" data-file="image">'
             '<p class="muted">the faces\' vectors are stored, the image is not</p></div>'
             '<label>ExternalImageId <input name="external_image_id" maxlength="255" data-external-id></label>'
             '<button type="submit" class="primary">Index faces</button></form>'
             '<div class="alert" role="alert" hidden data-error></div><p data-result role="status"></p></section>')
    if users_error:
        users_html = error_box(AccessDeniedException(users_error))
    else:
        users_html = "".join(
            f'<tr><td>{esc(u["UserId"])}</td><td>{esc(u.get("UserStatus", ""))}</td><td>'
            f'<form method="post" action="{base}/users/delete">{csrf}<input type="hidden" name="user_id" '
            f'value="{esc(u["UserId"])}"><button class="link danger" type="submit" '
            f'aria-label="Delete user {esc(u["UserId"])}">Delete</button></form></td></tr>' for u in data["Users"])
        users_html = ('<table class="grid"><thead><tr><th scope="col">UserId</th><th scope="col">Status</th>'
                      '<th scope="col"><span class="sr">Actions</span></th></tr></thead><tbody>'
                      + (users_html or '<tr><td colspan="3" class="muted">No users.</td></tr>') + '</tbody></table>')
    users = (f'<section class="card"><h2>Users</h2>{users_html}<div class="pair">'
             f'<form method="post" action="{base}/users/create" class="stack" aria-label="Create a user">{csrf}'
             '<label>New UserId <input name="user_id" required maxlength="128"></label>'
             '<button type="submit">Create user</button></form>'
             f'<form method="post" action="{base}/users/associate" class="stack" aria-label="Associate faces">{csrf}'
             '<label>UserId <input name="user_id" required maxlength="128"></label>'
             '<label>FaceIds (comma-separated) <input name="face_ids" required></label>'
             f'<div class="row"><button type="submit">Associate</button><button type="submit" '
             f'formaction="{base}/users/disassociate">Disassociate</button></div></form></div></section>')
    danger = (f'<section class="card"><h2>Delete the collection</h2><p>Deletes every face and user, then erases '
              f'them from the index and the database; the page shows the erasure receipt.</p>'
              f'<form method="post" action="{base}/delete" class="stack">{csrf}<label>Type '
              f'<code>{esc(cid)}</code> to confirm <input name="confirm" required autocomplete="off"></label>'
              f'<button type="submit" class="danger">Delete {esc(cid)}</button></form></section>')
    return (summary + f'<div class="split"><div>{faces}{users}</div><div><section class="card"><h2>Policy</h2>'
            f'{policy_html}</section>{index}{danger}</div></div>')
