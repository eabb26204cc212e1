import { useMemo } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { RetryButton } from "../components/RetryButton";
import { Button, Card, ErrorBox, Spinner, StatusBadge } from "../components/ui";
import { ALL_STATUSES, type JobFilters, type JobStatus } from "../lib/api";
import { formatConfidence, formatCost, relativeTime } from "../lib/format";
import { useJobs } from "../lib/hooks";

const TEXT_FILTERS = ["sku", "theme", "created_from", "created_to", "cost_min", "cost_max", "max_confidence", "sort"] as const;
const SORTS: [string, string][] = [
  ["-created_at", "Newest first"],
  ["created_at", "Oldest first"],
  ["-cost_usd", "Most expensive"],
  ["cost_usd", "Cheapest"],
  ["-updated_at", "Recently updated"],
  ["sku", "SKU A–Z"],
  ["confidence", "Least certain first"],
];

export function filtersFromParams(params: URLSearchParams): JobFilters {
  const filters: JobFilters = {
    status: params.getAll("status").filter((s): s is JobStatus => (ALL_STATUSES as string[]).includes(s)),
    page: Math.max(1, Number(params.get("page") ?? 1) || 1),
    page_size: 25,
  };
  for (const name of TEXT_FILTERS) {
    const value = params.get(name);
    if (value) filters[name] = value;
  }
  return filters;
}

const inputClass = "w-full rounded-md border border-gray-300 bg-white px-2 py-1.5 text-sm dark:border-gray-700 dark:bg-gray-950";

export function JobsPage() {
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  const jobs = useJobs(filters);

  function update(mutate: (p: URLSearchParams) => void) {
    const next = new URLSearchParams(params);
    mutate(next);
    next.delete("page"); // a new filter starts at page 1
    setParams(next);
  }
  function toggleStatus(status: JobStatus) {
    update((p) => {
      const current = p.getAll("status");
      p.delete("status");
      const next = current.includes(status) ? current.filter((s) => s !== status) : [...current, status];
      for (const s of next) p.append("status", s);
    });
  }
  function setText(name: (typeof TEXT_FILTERS)[number], value: string) {
    update((p) => (value ? p.set(name, value) : p.delete(name)));
  }
  function goTo(page: number) {
    const next = new URLSearchParams(params);
    next.set("page", String(page));
    setParams(next);
  }

  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <h1 className="text-xl font-bold">Jobs</h1>
        <span className="text-xs text-gray-500" aria-live="polite">
          {jobs.isFetching ? "refreshing…" : "live · every 10 s"}
        </span>
      </div>
      <Card>
        <fieldset className="mb-3">
          <legend className="mb-1 text-xs font-semibold uppercase text-gray-500">Status</legend>
          <div className="flex flex-wrap gap-1" data-testid="status-filter">
            {ALL_STATUSES.map((s) => {
              const on = filters.status?.includes(s);
              return (
                <button
                  key={s}
                  type="button"
                  aria-pressed={on}
                  onClick={() => toggleStatus(s)}
                  className={`rounded-full border px-2 py-0.5 text-xs ${on ? "border-indigo-600 bg-indigo-600 text-white" : "border-gray-300 dark:border-gray-700"}`}
                >
                  {s}
                </button>
              );
            })}
          </div>
        </fieldset>
        <div className="grid grid-cols-2 gap-2 md:grid-cols-4 lg:grid-cols-8">
          <label className="text-xs">SKU prefix
            <input aria-label="SKU prefix" className={inputClass} defaultValue={filters.sku} key={`sku-${filters.sku ?? ""}`}
              onKeyDown={(e) => e.key === "Enter" && setText("sku", e.currentTarget.value.trim())}
              onBlur={(e) => e.currentTarget.value.trim() !== (filters.sku ?? "") && setText("sku", e.currentTarget.value.trim())} />
          </label>
          <label className="text-xs">Theme
            <input aria-label="Theme" className={inputClass} defaultValue={filters.theme} key={`theme-${filters.theme ?? ""}`}
              onKeyDown={(e) => e.key === "Enter" && setText("theme", e.currentTarget.value.trim())}
              onBlur={(e) => e.currentTarget.value.trim() !== (filters.theme ?? "") && setText("theme", e.currentTarget.value.trim())} />
          </label>
          <label className="text-xs">Created from
            <input type="datetime-local" className={inputClass} value={filters.created_from ?? ""} onChange={(e) => setText("created_from", e.target.value)} />
          </label>
          <label className="text-xs">Created to
            <input type="datetime-local" className={inputClass} value={filters.created_to ?? ""} onChange={(e) => setText("created_to", e.target.value)} />
          </label>
          <label className="text-xs">Cost min ($)
            <input type="number" min="0" step="0.01" className={inputClass} value={filters.cost_min ?? ""} onChange={(e) => setText("cost_min", e.target.value)} />
          </label>
          <label className="text-xs">Cost max ($)
            <input type="number" min="0" step="0.01" className={inputClass} value={filters.cost_max ?? ""} onChange={(e) => setText("cost_max", e.target.value)} />
          </label>
          <label className="text-xs">Confidence ≤
            <input type="number" min="0" max="1" step="0.05" aria-label="Confidence at most" className={inputClass} value={filters.max_confidence ?? ""}
              title="only cut-outs at most this certain (0–1)" onChange={(e) => setText("max_confidence", e.target.value)} />
          </label>
          <label className="text-xs">Sort
            <select aria-label="Sort" className={inputClass} value={filters.sort ?? "-created_at"} onChange={(e) => setText("sort", e.target.value)}>
              {SORTS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
            </select>
          </label>
        </div>
        <div className="mt-3">
          <Button variant="ghost" size="sm" onClick={() => setParams(new URLSearchParams())}>Clear filters</Button>
        </div>
      </Card>

      {jobs.isError && <ErrorBox error={jobs.error} onRetry={() => jobs.refetch()} />}
      <Card>
        {jobs.isPending ? (
          <Spinner />
        ) : jobs.data ? (
          <>
            <div className="overflow-x-auto">
              <table className="w-full min-w-[640px] text-left text-sm" data-testid="jobs-table">
                <thead className="text-xs uppercase text-gray-500">
                  <tr>
                    <th className="py-2 pr-2">Status</th>
                    <th className="py-2 pr-2">SKU</th>
                    <th className="py-2 pr-2">Theme</th>
                    <th className="py-2 pr-2">Created</th>
                    <th className="py-2 pr-2 text-right" title="how sure the cut-out is">Confidence</th>
                    <th className="py-2 pr-2 text-right">Cost</th>
                    <th className="py-2 text-right">Actions</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-gray-200 dark:divide-gray-800">
                  {jobs.data.items.map((job) => (
                    <tr key={job.id} data-testid="job-row">
                      <td className="py-2 pr-2"><StatusBadge status={job.status} /></td>
                      <td className="py-2 pr-2 font-mono">{job.sku}</td>
                      <td className="py-2 pr-2">{job.theme}</td>
                      <td className="py-2 pr-2" title={new Date(job.created_at).toLocaleString()}>{relativeTime(job.created_at)}</td>
                      <td className="py-2 pr-2 text-right tabular-nums" data-testid="job-confidence">{formatConfidence(job.segment_confidence)}</td>
                      <td className="py-2 pr-2 text-right tabular-nums">{formatCost(job.cost_usd)}</td>
                      <td className="py-2 text-right">
                        <span className="inline-flex items-center gap-2">
                          <Link to={`/jobs/${job.id}`} className="text-indigo-600 hover:underline">View</Link>
                          {job.status === "FAILED" && <RetryButton jobId={job.id} />}
                        </span>
                      </td>
                    </tr>
                  ))}
                  {jobs.data.items.length === 0 && (
                    <tr><td colSpan={7} className="py-6 text-center text-gray-500">No jobs match these filters.</td></tr>
                  )}
                </tbody>
              </table>
            </div>
            <div className="mt-3 flex flex-wrap items-center justify-between gap-2 text-sm">
              <span data-testid="jobs-total">
                {jobs.data.total.toLocaleString()}{jobs.data.total_exact === false ? "+" : ""} job{jobs.data.total === 1 ? "" : "s"} · page {jobs.data.page} of {jobs.data.pages}{jobs.data.total_exact === false ? "+" : ""}
              </span>
              <span className="flex gap-2">
                <Button variant="outline" size="sm" disabled={jobs.data.page <= 1} onClick={() => goTo(jobs.data.page - 1)}>Previous</Button>
                <Button variant="outline" size="sm" disabled={jobs.data.page >= jobs.data.pages && jobs.data.total_exact !== false} onClick={() => goTo(jobs.data.page + 1)}>Next</Button>
              </span>
            </div>
          </>
        ) : null}
      </Card>
    </div>
  );
}
