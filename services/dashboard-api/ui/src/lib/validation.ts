// Validation errors from the API, keyed by the field they name (unit-tested).
//
// Accepts the shapes the API may answer with: the themes API's {"detail", "extra": {"problems":
// [{"field", "message"}]}}, Litestar's {"detail", "extra": [{"key", "message"}]},
// pydantic's [{"loc": [...], "msg"}] under "errors"/"extra"/"detail", and {"field", "detail"}.
// Field paths are dotted, without a leading "theme" (the request wraps the theme in {"theme"}).

export type FieldErrors = Record<string, string[]>;

function pathOf(raw: unknown): string | null {
  let text: string;
  if (Array.isArray(raw)) text = raw.map(String).join(".");
  else if (typeof raw === "string" && raw) text = raw;
  else return null;
  let parts = text.replace(/\[(\d+)\]/g, ".$1").split(".");
  parts = parts.filter((p) => p !== "" && p !== "body" && p !== "data");
  if (parts[0] === "theme") parts = parts.slice(1);
  return parts.join(".");
}

function add(errors: FieldErrors, path: string, message: string) {
  (errors[path] ??= []).push(message);
}

export function fieldErrors(body: unknown): FieldErrors {
  const errors: FieldErrors = {};
  if (!body || typeof body !== "object") return errors;
  const record = body as Record<string, unknown>;
  const extra = record.extra && typeof record.extra === "object" ? (record.extra as Record<string, unknown>) : null;
  const lists = [record.errors, record.extra, record.problems, extra?.problems, extra?.errors, Array.isArray(record.detail) ? record.detail : null];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!item || typeof item !== "object") continue;
      const entry = item as Record<string, unknown>;
      const path = pathOf(entry.loc ?? entry.field ?? entry.key ?? entry.path);
      const message = String(entry.msg ?? entry.message ?? entry.detail ?? "invalid");
      if (path !== null) add(errors, path, message);
    }
  }
  if (Object.keys(errors).length === 0 && typeof record.field === "string") {
    add(errors, pathOf(record.field) ?? "", String(record.detail ?? record.message ?? "invalid"));
  }
  return errors;
}

/** The errors for `field` and everything under it (background -> background.colour). */
export function errorsFor(errors: FieldErrors, field: string): string[] {
  return Object.entries(errors)
    .filter(([path]) => path === field || path.startsWith(`${field}.`))
    .flatMap(([path, messages]) => messages.map((m) => (path === field ? m : `${path.slice(field.length + 1)}: ${m}`)));
}

/** Errors naming no field of the form (`known`): shown beside the JSON editor. */
export function otherErrors(errors: FieldErrors, known: string[]): string[] {
  return Object.entries(errors)
    .filter(([path]) => !known.some((field) => path === field || path.startsWith(`${field}.`)))
    .flatMap(([path, messages]) => messages.map((m) => (path ? `${path}: ${m}` : m)));
}
