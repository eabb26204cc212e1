import { useEffect, useMemo, useState, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { Button, Card, ErrorBox, Spinner } from "../components/ui";
import { ApiError, api, type ThemeDoc, type ThemePreview } from "../lib/api";
import { relativeTime } from "../lib/format";
import { useCanOperate, useInvalidateThemes, useTheme } from "../lib/hooks";
import {
  BACKGROUND_KINDS, FORM_FIELDS, NEW_THEME, THEME_NAME, backgroundColourFields, getPath, parseThemeJson, setPath,
  switchBackground, type BackgroundKind, type Path,
} from "../lib/themeForm";
import { errorsFor, fieldErrors, otherErrors, type FieldErrors } from "../lib/validation";
import { DuplicateDialog } from "./Themes";

const input = "mt-1 w-full rounded-md border border-gray-300 bg-white px-2 py-1.5 text-sm dark:border-gray-700 dark:bg-gray-950";

export function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

function Field({ label, field, errors, children, hint }: { label: string; field: string; errors: FieldErrors; children: ReactNode; hint?: string }) {
  const messages = errorsFor(errors, field);
  return (
    <div className="text-sm" data-field={field}>
      <label className="block">
        {label}
        {children}
      </label>
      {hint && <p className="mt-0.5 text-xs text-gray-500">{hint}</p>}
      {messages.map((m) => <p key={m} role="alert" className="mt-0.5 text-xs text-red-600" data-testid={`error-${field}`}>{m}</p>)}
    </div>
  );
}

function num(value: string): number | undefined {
  if (value.trim() === "") return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

export function ThemeEditorPage() {
  const { name: routeName = "new" } = useParams();
  const isNew = routeName === "new";
  const stored = useTheme(routeName, !isNew);
  if (!isNew && stored.isPending) return <Spinner label="Loading theme…" />;
  if (!isNew && stored.isError) return <ErrorBox error={stored.error} onRetry={() => stored.refetch()} />;
  return <ThemeEditor key={routeName} isNew={isNew} initial={isNew ? NEW_THEME : stored.data!.theme} detail={stored.data ?? null} />;
}

function ThemeEditor({ isNew, initial, detail }: { isNew: boolean; initial: ThemeDoc; detail: Awaited<ReturnType<typeof api.theme>> | null }) {
  const navigate = useNavigate();
  const invalidate = useInvalidateThemes();
  const canOperate = useCanOperate();
  const [theme, setTheme] = useState<ThemeDoc>(initial);
  const [jsonText, setJsonText] = useState(() => JSON.stringify(initial, null, 2));
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [saveError, setSaveError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [duplicating, setDuplicating] = useState<string | null>(null);
  const [preview, setPreview] = useState<ThemePreview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [previewing, setPreviewing] = useState(false);

  function update(next: ThemeDoc) {
    setTheme(next);
    setJsonText(JSON.stringify(next, null, 2));
    setJsonError(null);
    setSaved(null);
  }
  const set = (path: Path, value: unknown) => update(setPath(theme, path, value));

  // Live preview: the draft, debounced, rendered by the API's real renderer.
  const draftText = useMemo(() => JSON.stringify(theme), [theme]);
  const debouncedText = useDebounced(draftText, 600);
  useEffect(() => {
    const controller = new AbortController();
    setPreviewing(true);
    // a new theme renders before it has a name or title (those are checked when it is saved)
    const draft = JSON.parse(debouncedText) as ThemeDoc;
    const previewed = { ...draft, name: draft.name || "preview", title: draft.title || "Preview" };
    api.previewTheme(previewed, 320, controller.signal)
      .then((result) => {
        setPreview(result);
        setPreviewError(null);
        setErrors({});
      })
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        if (err instanceof ApiError) {
          setErrors(fieldErrors(err.body));
          setPreviewError(`${err.status}: ${err.message}`);
        } else setPreviewError(String(err));
      })
      .finally(() => { if (!controller.signal.aborted) setPreviewing(false); });
    return () => controller.abort();
  }, [debouncedText]);

  async function save() {
    setSaving(true);
    setSaveError(null);
    try {
      const result = isNew ? await api.createTheme(theme) : await api.updateTheme(String(initial.name), theme);
      invalidate();
      setErrors({});
      setSaved(`Saved ${result.name} v${result.version}`);
      if (isNew) navigate(`/themes/${encodeURIComponent(result.name)}`);
    } catch (err) {
      if (err instanceof ApiError) {
        setErrors(fieldErrors(err.body));
        setSaveError(`${err.status}: ${err.message}`);
      } else setSaveError(String(err));
    } finally {
      setSaving(false);
    }
  }

  async function toggleArchive() {
    if (!detail) return;
    try {
      await (detail.status === "archived" ? api.restoreTheme(detail.name) : api.archiveTheme(detail.name));
      invalidate();
    } catch (err) {
      setSaveError(err instanceof Error ? err.message : String(err));
    }
  }

  const background = (theme.background ?? {}) as Record<string, unknown>;
  const kind = String(background.kind ?? "solid") as BackgroundKind;
  const str = (path: Path) => String(getPath(theme, path) ?? "");
  const unplaced = otherErrors(errors, FORM_FIELDS);
  const nameOk = THEME_NAME.test(String(theme.name ?? ""));

  return (
    <div className="space-y-4" data-testid="theme-editor">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <Link to="/themes" className="text-sm text-indigo-600 hover:underline">← Themes</Link>
          <h1 className="mt-1 text-xl font-bold">
            {isNew ? "New theme" : <><span className="font-mono">{String(initial.name)}</span> <span className="text-sm font-normal text-gray-500">v{detail?.version} · {detail?.status}</span></>}
          </h1>
        </div>
        <div className="flex flex-wrap gap-2">
          {!isNew && <Button variant="outline" disabled={!canOperate} onClick={() => setDuplicating(String(initial.name))}>Duplicate</Button>}
          {!isNew && detail && <Button variant="outline" disabled={!canOperate} onClick={toggleArchive}>{detail.status === "archived" ? "Restore" : "Archive"}</Button>}
          <Button onClick={save} disabled={!canOperate || saving || jsonError !== null} data-testid="save-theme">{saving ? "Saving…" : isNew ? "Create theme" : "Save new version"}</Button>
        </div>
      </div>
      {saveError && <p role="alert" className="text-sm text-red-600" data-testid="save-error">{saveError}</p>}
      {saved && <p role="status" className="text-sm text-green-700 dark:text-green-400" data-testid="saved">{saved}</p>}

      <div className="grid grid-cols-1 gap-4 xl:grid-cols-[minmax(0,1fr)_minmax(0,1fr)]">
        <div className="space-y-4">
          <Card title="Theme">
            <div className="grid grid-cols-1 gap-3 sm:grid-cols-2" data-testid="theme-form">
              <Field label="Name" field="name" errors={errors} hint={isNew ? "lower-case letters, digits, - and _" : "a theme's name does not change; duplicate it instead"}>
                <input name="name" className={`${input} font-mono`} value={str(["name"])} disabled={!isNew} onChange={(e) => set(["name"], e.target.value)} />
              </Field>
              <Field label="Title" field="title" errors={errors}>
                <input name="title" className={input} value={str(["title"])} onChange={(e) => set(["title"], e.target.value)} />
              </Field>
              <div className="sm:col-span-2">
                <Field label="Description" field="description" errors={errors}>
                  <input name="description" className={input} value={str(["description"])} onChange={(e) => set(["description"], e.target.value)} />
                </Field>
              </div>
              <Field label="Background" field="background" errors={errors}>
                <select name="background-kind" className={input} value={kind} onChange={(e) => set(["background"], switchBackground(background, e.target.value as BackgroundKind))}>
                  {BACKGROUND_KINDS.map((k) => <option key={k} value={k}>{k}</option>)}
                </select>
              </Field>
              <div className="flex flex-wrap items-end gap-2">
                {backgroundColourFields(background).map(([path, label]) => {
                  const value = String(getPath(background, path) ?? "#000000");
                  return (
                    <label key={path.join(".")} className="text-xs">
                      {label}
                      <span className="mt-1 flex items-center gap-1">
                        <input type="color" aria-label={`${label} colour`} value={/^#[0-9a-f]{6}$/i.test(value) ? value : "#000000"} onChange={(e) => set(["background", ...path], e.target.value)} className="h-8 w-10 cursor-pointer rounded border border-gray-300 dark:border-gray-700" />
                        <input name={`background.${path.join(".")}`} value={value} onChange={(e) => set(["background", ...path], e.target.value)} className="w-20 rounded-md border border-gray-300 bg-white px-1 py-1 font-mono text-xs dark:border-gray-700 dark:bg-gray-950" />
                      </span>
                    </label>
                  );
                })}
              </div>
              <Field label="Variants" field="variants" errors={errors}>
                <input name="variants" type="number" min={1} max={12} className={input} value={str(["variants"])} onChange={(e) => set(["variants"], num(e.target.value))} />
              </Field>
              <Field label="Placement" field="placement" errors={errors}>
                <select name="placement" className={input} value={str(["placement"]) || "auto"} onChange={(e) => set(["placement"], e.target.value === "auto" ? undefined : e.target.value)}>
                  <option value="auto">auto</option><option value="centre">centre</option><option value="floor">floor</option>
                </select>
              </Field>
              <Field label="Shadow opacity" field="shadow" errors={errors}>
                <input name="shadow.opacity" type="number" step={0.05} min={0} max={1} className={input} value={str(["shadow", "opacity"])} placeholder="0.35" onChange={(e) => set(["shadow", "opacity"], num(e.target.value))} />
              </Field>
              <Field label="Margin (all sides)" field="margins" errors={errors} hint="fraction of the canvas side">
                <input name="margins" type="number" step={0.01} min={0} max={0.45} className={input} value={str(["margins", "top"])} placeholder="0.1"
                  onChange={(e) => {
                    const v = num(e.target.value);
                    set(["margins"], v === undefined ? undefined : { top: v, right: v, bottom: v, left: v });
                  }} />
              </Field>
              <Field label="Review threshold" field="review_threshold" errors={errors} hint="0 = never hold, 1 = hold everything; empty = the global setting">
                <input name="review_threshold" type="number" step={0.05} min={0} max={1} className={input} value={str(["review_threshold"])} onChange={(e) => set(["review_threshold"], num(e.target.value))} />
              </Field>
              <Field label="Alt text template" field="alt_text_template" errors={errors} hint="placeholders {sku}, {title}, {theme}">
                <input name="alt_text_template" className={input} value={str(["alt_text_template"])} placeholder="{title} ({theme})" onChange={(e) => set(["alt_text_template"], e.target.value || undefined)} />
              </Field>
              <div className="sm:col-span-2">
                <Field label="Prompt (AI background option)" field="prompt" errors={errors}>
                  <input name="prompt" className={input} value={str(["prompt"])} onChange={(e) => set(["prompt"], e.target.value)} />
                </Field>
              </div>
            </div>
            {isNew && theme.name !== "" && !nameOk && <p className="mt-2 text-xs text-amber-700">That name will be refused: lower-case letters, digits, - and _.</p>}
          </Card>
          <Card title="JSON (the whole theme)">
            <textarea
              aria-label="Theme JSON"
              name="theme-json"
              spellCheck={false}
              rows={18}
              className="w-full rounded-md border border-gray-300 bg-white p-2 font-mono text-xs dark:border-gray-700 dark:bg-gray-950"
              value={jsonText}
              onChange={(e) => {
                setJsonText(e.target.value);
                const parsed = parseThemeJson(e.target.value);
                setJsonError(parsed.error);
                if (parsed.theme) setTheme(parsed.theme);
              }}
            />
            {jsonError && <p role="alert" className="text-xs text-red-600" data-testid="json-error">JSON: {jsonError}</p>}
            {unplaced.map((m) => <p key={m} role="alert" className="text-xs text-red-600" data-testid="error-other">{m}</p>)}
          </Card>
          {detail && detail.versions.length > 0 && (
            <Card title="Versions">
              <ol className="space-y-1 text-xs" data-testid="theme-versions">
                {[...detail.versions].reverse().map((v) => (
                  <li key={v.version}>v{v.version} · {new Date(v.created_at).toLocaleString()} ({relativeTime(v.created_at)}){v.created_by ? ` by ${v.created_by}` : ""}</li>
                ))}
              </ol>
            </Card>
          )}
        </div>
        <Card title={<span>Live preview {previewing && <span className="text-xs font-normal text-gray-500">rendering…</span>}</span>}>
          {previewError && <p role="alert" className="mb-2 text-sm text-red-600" data-testid="preview-error">{previewError}</p>}
          {!preview && !previewError && <Spinner label="Rendering…" />}
          {preview && (
            <div className="grid grid-cols-1 gap-3 sm:grid-cols-2" data-testid="theme-preview">
              {preview.variants.map((v) => (
                <figure key={v.index}>
                  <img src={v.image} alt={`Variant ${v.index}`} className="w-full rounded-md border border-gray-200 dark:border-gray-800" data-testid="theme-preview-variant" />
                  <figcaption className="mt-1 text-xs text-gray-500">variant {v.index}</figcaption>
                </figure>
              ))}
            </div>
          )}
        </Card>
      </div>
      <DuplicateDialog source={duplicating} onClose={() => setDuplicating(null)} />
    </div>
  );
}
