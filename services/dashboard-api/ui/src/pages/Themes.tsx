import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { Button, Card, Dialog, ErrorBox, Spinner } from "../components/ui";
import { api, type ThemeListItem } from "../lib/api";
import { relativeTime } from "../lib/format";
import { useCanOperate, useInvalidateThemes, useThemes } from "../lib/hooks";
import { THEME_NAME } from "../lib/themeForm";

/** Asks for the new theme's name and duplicates `source` under it. */
export function DuplicateDialog({ source, onClose }: { source: string | null; onClose: () => void }) {
  const navigate = useNavigate();
  const invalidate = useInvalidateThemes();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit() {
    if (!source) return;
    setBusy(true);
    setError(null);
    try {
      await api.duplicateTheme(source, name.trim());
      invalidate();
      onClose();
      navigate(`/themes/${encodeURIComponent(name.trim())}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <Dialog open={source !== null} title={`Duplicate ${source ?? ""}`} onClose={onClose}>
      <form onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <label className="block text-sm">New name
          <input name="duplicate-name" value={name} onChange={(e) => setName(e.target.value)} className="mt-1 w-full rounded-md border border-gray-300 bg-white px-2 py-1.5 font-mono text-sm dark:border-gray-700 dark:bg-gray-950" />
        </label>
        {name && !THEME_NAME.test(name.trim()) && <p className="mt-1 text-xs text-amber-700">lower-case letters, digits, - and _ (starting with a letter or digit)</p>}
        {error && <p role="alert" className="mt-2 text-sm text-red-600">{error}</p>}
        <div className="mt-4 flex justify-end gap-2">
          <Button type="button" variant="ghost" onClick={onClose}>Cancel</Button>
          <Button type="submit" disabled={busy || !THEME_NAME.test(name.trim())}>{busy ? "Duplicating…" : "Duplicate"}</Button>
        </div>
      </form>
    </Dialog>
  );
}

function ThemeRow({ item, canOperate, onDuplicate }: { item: ThemeListItem; canOperate: boolean; onDuplicate: () => void }) {
  const invalidate = useInvalidateThemes();
  const [error, setError] = useState<string | null>(null);
  const archived = item.status === "archived";
  async function toggleArchive() {
    setError(null);
    try {
      await (archived ? api.restoreTheme(item.name) : api.archiveTheme(item.name));
      invalidate();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }
  return (
    <tr className={`border-t border-gray-100 dark:border-gray-800 ${archived ? "text-gray-400" : ""}`} data-testid="theme-row" data-theme-name={item.name}>
      <td className="py-2 pr-3"><Link to={`/themes/${encodeURIComponent(item.name)}`} className="font-mono text-indigo-600 hover:underline">{item.name}</Link></td>
      <td className="py-2 pr-3">{String(item.theme.title ?? "")}</td>
      <td className="py-2 pr-3 tabular-nums">v{item.version}</td>
      <td className="py-2 pr-3"><span className={`rounded-full px-2 py-0.5 text-xs ${archived ? "bg-gray-200 dark:bg-gray-800" : "bg-green-100 text-green-800 dark:bg-green-900 dark:text-green-200"}`}>{item.status}</span></td>
      <td className="py-2 pr-3 text-xs text-gray-500">{relativeTime(item.updated_at)}{item.updated_by ? ` by ${item.updated_by}` : ""}</td>
      <td className="py-2 text-right">
        <span className="inline-flex gap-1">
          <Button size="sm" variant="outline" disabled={!canOperate} onClick={onDuplicate}>Duplicate</Button>
          <Button size="sm" variant="outline" disabled={!canOperate} onClick={toggleArchive}>{archived ? "Restore" : "Archive"}</Button>
        </span>
        {error && <div role="alert" className="text-xs text-red-600">{error}</div>}
      </td>
    </tr>
  );
}

export function ThemesPage() {
  const [showArchived, setShowArchived] = useState(false);
  const themes = useThemes(showArchived);
  const canOperate = useCanOperate();
  const [duplicating, setDuplicating] = useState<string | null>(null);
  return (
    <div className="space-y-4" data-testid="themes-page">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-xl font-bold">Themes</h1>
        <div className="flex items-center gap-3">
          <label className="flex items-center gap-1 text-sm"><input type="checkbox" checked={showArchived} onChange={(e) => setShowArchived(e.target.checked)} /> Show archived</label>
          {canOperate ? (
            <Link to="/themes/new" className="rounded-md bg-indigo-600 px-3 py-2 text-sm font-medium text-white hover:bg-indigo-500" data-testid="new-theme">New theme</Link>
          ) : (
            <Button disabled>New theme</Button>
          )}
        </div>
      </div>
      <Card>
        {themes.isPending && <Spinner label="Loading themes…" />}
        {themes.isError && <ErrorBox error={themes.error} onRetry={() => themes.refetch()} />}
        {themes.data && (
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm" data-testid="themes-table">
              <thead className="text-xs uppercase text-gray-500">
                <tr><th className="pb-2">Name</th><th className="pb-2">Title</th><th className="pb-2">Version</th><th className="pb-2">Status</th><th className="pb-2">Updated</th><th /></tr>
              </thead>
              <tbody>
                {themes.data.items.map((item) => (
                  <ThemeRow key={item.name} item={item} canOperate={canOperate} onDuplicate={() => setDuplicating(item.name)} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <DuplicateDialog source={duplicating} onClose={() => setDuplicating(null)} />
    </div>
  );
}
