import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router-dom";
import { PresignedImage } from "../components/Presigned";
import { Button, Card, Dialog, ErrorBox, ReasonField, Spinner } from "../components/ui";
import type { ReviewItem } from "../lib/api";
import { formatConfidence, relativeTime } from "../lib/format";
import { useApprove, useApproveMany, useCanOperate, useReject, useReviewQueue } from "../lib/hooks";
import { REVIEW_SHORTCUTS, moveIndex, reviewKeyAction, toggle } from "../lib/review";

function ReviewRow({ item, active, selected, onSelect, onToggle, canOperate }: {
  item: ReviewItem; active: boolean; selected: boolean; onSelect: () => void; onToggle: () => void; canOperate: boolean;
}) {
  return (
    <li
      data-testid="review-row"
      data-job-id={item.job.id}
      aria-current={active ? "true" : undefined}
      className={`flex cursor-pointer items-center gap-2 rounded-md px-2 py-1.5 text-sm ${active ? "bg-indigo-100 dark:bg-indigo-950" : "hover:bg-gray-100 dark:hover:bg-gray-800"}`}
      onClick={onSelect}
    >
      <input
        type="checkbox"
        aria-label={`Select ${item.job.sku}`}
        checked={selected}
        disabled={!canOperate}
        onClick={(e) => e.stopPropagation()}
        onChange={onToggle}
      />
      <span className="min-w-0 flex-1 truncate font-mono text-xs">{item.job.sku}</span>
      <span className="text-xs text-gray-500">{item.job.theme}</span>
      <span className="w-10 text-right text-xs font-semibold tabular-nums" data-testid="review-row-confidence">{formatConfidence(item.confidence)}</span>
    </li>
  );
}

export function ReviewPage() {
  const queue = useReviewQueue();
  const approve = useApprove();
  const reject = useReject();
  const approveMany = useApproveMany();
  const canOperate = useCanOperate();
  const [index, setIndex] = useState(0);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  // jobs decided here: out of the list at once, before the queue is fetched again
  const [decided, setDecided] = useState<Set<string>>(new Set());
  const [rejectOpen, setRejectOpen] = useState(false);
  const [reason, setReason] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const listRef = useRef<HTMLUListElement>(null);

  const items = useMemo(() => (queue.data?.items ?? []).filter((i) => !decided.has(i.job.id)), [queue.data, decided]);
  const current = items[Math.min(index, Math.max(items.length - 1, 0))] as ReviewItem | undefined;

  useEffect(() => {
    if (index > 0 && index >= items.length) setIndex(Math.max(items.length - 1, 0));
  }, [index, items.length]);
  useEffect(() => {
    const row = listRef.current?.querySelector<HTMLElement>("[aria-current=true]");
    if (row && typeof row.scrollIntoView === "function") row.scrollIntoView({ block: "nearest" });
  }, [index]);

  const doApprove = useCallback((item: ReviewItem) => {
    setError(null);
    approve.mutate({ id: item.job.id }, {
      onSuccess: () => {
        setDecided((d) => new Set(d).add(item.job.id));
        setMessage(`Approved ${item.job.sku}`);
      },
      onError: (e) => setError(`${item.job.sku}: ${e.message}`),
    });
  }, [approve]);

  const onKey = useCallback((e: KeyboardEvent) => {
    if (rejectOpen) return;
    const action = reviewKeyAction(e);
    if (!action) return;
    e.preventDefault();
    if (action === "next") setIndex((i) => moveIndex(i, 1, items.length));
    else if (action === "previous") setIndex((i) => moveIndex(i, -1, items.length));
    else if (!current || !canOperate) return;
    else if (action === "approve") doApprove(current);
    else if (action === "reject") {
      setReason("");
      setRejectOpen(true);
    } else if (action === "toggle-select") setSelected((s) => toggle(s, current.job.id));
  }, [rejectOpen, items.length, current, canOperate, doApprove]);

  useEffect(() => {
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onKey]);

  if (queue.isPending) return <Spinner label="Loading the review queue…" />;
  if (queue.isError) return <ErrorBox error={queue.error} onRetry={() => queue.refetch()} />;

  const selectedIds = items.filter((i) => selected.has(i.job.id)).map((i) => i.job.id);
  const allSelected = items.length > 0 && selectedIds.length === items.length;

  function bulkApprove() {
    setError(null);
    approveMany.mutate(selectedIds, {
      onSuccess: (body) => {
        const ok = body.results.filter((r) => r.ok).map((r) => r.job_id);
        const failed = body.results.filter((r) => !r.ok);
        setDecided((d) => new Set([...d, ...ok]));
        setSelected(new Set());
        setMessage(`Approved ${ok.length} job(s)`);
        if (failed.length) setError(failed.map((r) => `${r.job_id}: ${r.error ?? "refused"}`).join("; "));
      },
      onError: (e) => setError(e.message),
    });
  }

  function submitReject() {
    if (!current || !reason.trim()) return;
    const item = current;
    reject.mutate({ id: item.job.id, reason: reason.trim() }, {
      onSuccess: () => {
        setDecided((d) => new Set(d).add(item.job.id));
        setRejectOpen(false);
        setMessage(`Rejected ${item.job.sku}`);
      },
    });
  }

  return (
    <div className="space-y-4" data-testid="review-page">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div>
          <h1 className="text-xl font-bold">Review queue</h1>
          <p className="text-sm text-gray-500" data-testid="review-count">
            {items.length} held job{items.length === 1 ? "" : "s"}, least confident first{queue.data?.next_cursor ? " (more after these)" : ""}
          </p>
        </div>
        <div className="flex items-center gap-2">
          <label className="flex items-center gap-1 text-sm">
            <input
              type="checkbox"
              aria-label="Select all"
              checked={allSelected}
              disabled={!canOperate || items.length === 0}
              onChange={() => setSelected(allSelected ? new Set() : new Set(items.map((i) => i.job.id)))}
            />
            Select all
          </label>
          <Button onClick={bulkApprove} disabled={!canOperate || selectedIds.length === 0 || approveMany.isPending} data-testid="bulk-approve">
            {approveMany.isPending ? "Approving…" : `Approve selected (${selectedIds.length})`}
          </Button>
        </div>
      </div>

      <ul className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-gray-500" aria-label="Keyboard shortcuts" data-testid="shortcuts">
        {REVIEW_SHORTCUTS.map(([key, what]) => (
          <li key={key}><kbd className="rounded border border-gray-300 px-1 font-mono dark:border-gray-700">{key}</kbd> {what}</li>
        ))}
      </ul>
      {!canOperate && <p className="text-sm text-amber-700 dark:text-amber-400" data-testid="viewer-note">Your key is a viewer's: approving and rejecting need an operator.</p>}
      {message && !error && <p role="status" className="text-sm text-green-700 dark:text-green-400">{message}</p>}
      {error && <p role="alert" className="text-sm text-red-600">{error}</p>}

      {items.length === 0 ? (
        <Card><p className="text-sm text-gray-500" data-testid="review-empty">Nothing waits for review.</p></Card>
      ) : (
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-[18rem_1fr]">
          <Card title="Held jobs" className="lg:max-h-[75vh] lg:overflow-auto">
            <ul ref={listRef} className="space-y-0.5" data-testid="review-list">
              {items.map((item, i) => (
                <ReviewRow
                  key={item.job.id}
                  item={item}
                  active={item === current}
                  selected={selected.has(item.job.id)}
                  canOperate={canOperate}
                  onSelect={() => setIndex(i)}
                  onToggle={() => setSelected((s) => toggle(s, item.job.id))}
                />
              ))}
            </ul>
          </Card>
          {current && (
            <Card
              title={
                <span className="flex flex-wrap items-center gap-2">
                  <Link to={`/jobs/${encodeURIComponent(current.job.id)}`} className="font-mono text-indigo-600 hover:underline">{current.job.sku}</Link>
                  <span className="font-normal text-gray-500">theme {current.job.theme}</span>
                </span>
              }
              action={<span className="text-xs text-gray-500">{items.indexOf(current) + 1} / {items.length}</span>}
            >
              <div data-testid="review-current" data-job-id={current.job.id} className="space-y-3">
                <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-4">
                  <div><dt className="text-xs text-gray-500">Confidence</dt><dd className="text-lg font-bold tabular-nums" data-testid="review-confidence">{formatConfidence(current.confidence)}</dd></div>
                  <div><dt className="text-xs text-gray-500">Threshold</dt><dd className="text-lg font-bold tabular-nums" data-testid="review-threshold">{formatConfidence(current.threshold)}</dd></div>
                  <div className="col-span-2"><dt className="text-xs text-gray-500">Reason</dt><dd data-testid="review-reason">{current.reason}</dd></div>
                </dl>
                <p className="text-xs text-gray-500">held {relativeTime(current.held_at)}{current.job.mask_versions && current.job.mask_versions.length > 1 ? ` · mask v${current.job.mask_versions.length} (touched up)` : ""}</p>
                <div className="grid grid-cols-1 gap-3 sm:grid-cols-3">
                  <PresignedImage jobId={current.job.id} params={{ type: "original" }} label="Original" testId="review-original" />
                  <PresignedImage jobId={current.job.id} params={{ type: "cutout" }} label="Cut-out" checkerboard testId="review-cutout" />
                  {current.job.s3_composite_keys.length > 0 ? (
                    <PresignedImage jobId={current.job.id} params={{ type: "composite", index: 0 }} label="Composite 0" testId="review-composite" />
                  ) : (
                    <div className="flex aspect-square items-center justify-center rounded-md border border-dashed text-xs text-gray-500">no composite</div>
                  )}
                </div>
                <div className="flex flex-wrap gap-2">
                  <Button onClick={() => doApprove(current)} disabled={!canOperate || approve.isPending} data-testid="approve">Approve <kbd className="opacity-70">a</kbd></Button>
                  <Button variant="destructive" onClick={() => { setReason(""); setRejectOpen(true); }} disabled={!canOperate} data-testid="reject">Reject <kbd className="opacity-70">r</kbd></Button>
                  {canOperate ? (
                    <Link to={`/jobs/${encodeURIComponent(current.job.id)}/touch-up`} className="inline-flex items-center rounded-md border border-gray-300 px-3 py-2 text-sm font-medium hover:bg-gray-100 dark:border-gray-700 dark:hover:bg-gray-800" data-testid="touch-up-link">Touch up</Link>
                  ) : (
                    <Button variant="outline" disabled>Touch up</Button>
                  )}
                  <Button variant="ghost" onClick={() => setIndex((i) => moveIndex(i, -1, items.length))}>← Previous</Button>
                  <Button variant="ghost" onClick={() => setIndex((i) => moveIndex(i, 1, items.length))}>Next →</Button>
                </div>
              </div>
            </Card>
          )}
        </div>
      )}

      <Dialog open={rejectOpen} title={`Reject ${current?.job.sku ?? ""}`} onClose={() => setRejectOpen(false)}>
        <form onSubmit={(e) => { e.preventDefault(); submitReject(); }}>
          <ReasonField label="Reason (required)" name="reject-reason" value={reason} onChange={setReason} />
          {reject.isError && <p role="alert" className="mt-2 text-sm text-red-600">{reject.error.message}</p>}
          <div className="mt-4 flex justify-end gap-2">
            <Button type="button" variant="ghost" onClick={() => setRejectOpen(false)}>Cancel</Button>
            <Button type="submit" variant="destructive" disabled={!reason.trim() || reject.isPending}>{reject.isPending ? "Rejecting…" : "Reject job"}</Button>
          </div>
        </form>
      </Dialog>
    </div>
  );
}
