"""kube-apiserver's errors: metav1.Status objects with upstream's reasons, codes and messages (apimachinery's
api/errors), so kubectl prints what it prints against a real cluster."""

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           406: "NotAcceptable", 409: "Conflict", 410: "Expired", 413: "RequestEntityTooLarge",
           415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}


class StatusError(Exception):
    """An API error: CODE, upstream's REASON and MESSAGE, and the DETAILS (name, group, kind, causes)."""

    def __init__(self, code: int, message: str, reason: str = "", details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.details = code, reason or REASONS.get(code, "Unknown"), details

    def status(self) -> dict:
        return status(self.code, str(self), self.reason, self.details)


def status(code: int, message: str = "", reason: str = "", details: dict | None = None) -> dict:
    """A Status object: Success for 2xx, Failure otherwise."""
    out = {"kind": "Status", "apiVersion": "v1", "metadata": {},
           "status": "Success" if code < 400 else "Failure"}
    if message:
        out["message"] = message
    if code >= 400:
        out["reason"] = reason or REASONS.get(code, "Unknown")
    if details:
        out["details"] = details
    out["code"] = code
    return out


def qualified(resource: str, group: str) -> str:
    """"deployments", "apps" -> "deployments.apps" (the core group adds nothing)."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> StatusError:
    return StatusError(404, f'{qualified(resource, group)} "{name}" not found',
                       details={"name": name, "group": group, "kind": resource} if group else
                       {"name": name, "kind": resource})


def already_exists(resource: str, group: str, name: str) -> StatusError:
    return StatusError(409, f'{qualified(resource, group)} "{name}" already exists', "AlreadyExists",
                       {"name": name, "group": group, "kind": resource})


def conflict(resource: str, group: str, name: str, why: str) -> StatusError:
    return StatusError(409, f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
                       "Conflict", {"name": name, "group": group, "kind": resource})


CAUSES = {"Required value": "FieldValueRequired", "Invalid value": "FieldValueInvalid",
          "Unsupported value": "FieldValueNotSupported", "Duplicate value": "FieldValueDuplicate",
          "Forbidden": "FieldValueForbidden", "Too long": "FieldValueTooLong", "Too many": "FieldValueTooMany"}


def invalid(kind: str, group: str, resource: str, name: str, errors: list[tuple[str, str]]) -> StatusError:
    """422 Invalid: ERRORS are (field path, "Required value" / "Invalid value: ...: why" ...)."""
    causes = [{"reason": next((r for k, r in CAUSES.items() if reason.startswith(k)), "FieldValueInvalid"),
               "message": reason, "field": field} for field, reason in errors]
    text = "; ".join(f"{field}: {reason}" if field else reason for field, reason in errors)
    if len(errors) > 1:
        text = "[" + ", ".join(f"{field}: {reason}" if field else reason for field, reason in errors) + "]"
    return StatusError(422, f'{kind}{"." + group if group else ""} "{name}" is invalid: {text}', "Invalid",
                       {"name": name, "group": group, "kind": kind, "causes": causes})


def method_not_supported(resource: str, group: str, verb: str) -> StatusError:
    return StatusError(405, f"{verb} is not supported on resources of kind \"{qualified(resource, group)}\"",
                       "MethodNotAllowed", {"group": group, "kind": resource})


def forbidden(user: str, verb: str, resource: str, group: str, namespace: str, name: str = "") -> StatusError:
    where = f' in the namespace "{namespace}"' if namespace else ""
    what = f'{qualified(resource, group)}{" " + chr(34) + name + chr(34) if name else ""} is forbidden'
    return StatusError(403, f'{what}: User "{user}" cannot {verb} resource "{resource}" in API group '
                            f'"{group}"{where}', "Forbidden", {"name": name, "group": group, "kind": resource})
