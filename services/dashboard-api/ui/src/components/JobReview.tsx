// The job page's issue-20 cards: the review hold, the mask versions and the alt text.
import { useState } from "react";
import { CHECKERBOARD } from "./Presigned";
import { Button, Card, Dialog, ReasonField } from "./ui";
import type { Job, MaskVersion } from "../lib/api";
import { formatConfidence, relativeTime } from "../lib/format";
import { useAltText, useApprove, useAudit, useCanOperate, useMasks, useReject } from "../lib/hooks";

/** A job may be touched up when it is held, done or failed and has a mask to start from. */
export function canTouchUp(job: Pick<Job, "status" | "s3_mask_key">): boolean {
  return Boolean(job.s3_mask_key) && ["IN_REVIEW", "DONE", "FAILED"].includes(job.status);
}

export function ReviewCard({ job }: { job: Job }) {
  const approve = useApprove();
  const reject = useReject();
  const canOperate = useCanOperate();
  const [rejectOpen, setRejectOpen] = useState(false);
  const [reason, setReason] = useState("");
  const review = job.review;
  if (!review) return null;
  const held = job.status === "IN_REVIEW";
  return (
    <Card title="Review" className={held ? "border-orange-300 dark:border-orange-800" : ""}>
      <dl className="space-y-1 text-sm" data-testid="job-review">
        <div className="flex justify-between"><dt>Confidence</dt><dd className="tabular-nums">{formatConfidence(review.confidence)}</dd></div>
        <div className="flex justify-between"><dt>Threshold</dt><dd className="tabular-nums">{formatConfidence(review.threshold)}</dd></div>
        <div className="flex justify-between gap-2"><dt>Reason</dt><dd className="text-right">{review.reason}</dd></div>
        <div className="flex justify-between"><dt>Held</dt><dd>{relativeTime(review.held_at)}</dd></div>
        <div className="flex justify-between gap-2" data-testid="review-decision">
          <dt>Decision</dt>
          <dd className="text-right">
            {review.decision ? `${review.decision} by ${review.decided_by ?? "?"} ${relativeTime(review.decided_at)}` : held ? "waiting" : "none yet"}
            {review.note && <span className="block text-xs text-gray-500">{review.note}</span>}
          </dd>
        </div>
      </dl>
      {held && (
        <div className="mt-3 flex gap-2">
          <Button size="sm" disabled={!canOperate || approve.isPending} onClick={() => approve.mutate({ id: job.id })} data-testid="job-approve">Approve</Button>
          <Button size="sm" variant="destructive" disabled={!canOperate} onClick={() => setRejectOpen(true)}>Reject</Button>
        </div>
      )}
      {(approve.isError || reject.isError) && <p role="alert" className="mt-2 text-xs text-red-600">{(approve.error ?? reject.error)?.message}</p>}
      <Dialog open={rejectOpen} title="Reject this job" onClose={() => setRejectOpen(false)}>
        <ReasonField label="Reason (required)" value={reason} onChange={setReason} />
        <div className="mt-4 flex justify-end gap-2">
          <Button variant="ghost" onClick={() => setRejectOpen(false)}>Cancel</Button>
          <Button variant="destructive" disabled={!reason.trim() || reject.isPending} onClick={() => reject.mutate({ id: job.id, reason: reason.trim() }, { onSuccess: () => setRejectOpen(false) })}>Reject job</Button>
        </div>
      </Dialog>
    </Card>
  );
}

function VersionRow({ version, current, urls }: { version: MaskVersion; current: boolean; urls?: MaskVersion }) {
  return (
    <li className="flex items-center gap-3 text-xs" data-testid="mask-version" data-version={version.version}>
      {urls?.cutout_url ? (
        <img src={urls.cutout_url} alt={`Cut-out v${version.version}`} className={`h-12 w-12 rounded border border-gray-200 object-contain dark:border-gray-800 ${CHECKERBOARD}`} />
      ) : (
        <span className={`h-12 w-12 rounded border border-gray-200 dark:border-gray-800 ${CHECKERBOARD}`} />
      )}
      <div className="min-w-0 flex-1">
        <div className="font-medium">
          v{version.version} · {version.source}{current && <span className="ml-1 rounded bg-indigo-100 px-1 text-indigo-800 dark:bg-indigo-950 dark:text-indigo-200">current</span>}
        </div>
        <div className="text-gray-500">{relativeTime(version.created_at)}{version.created_by ? ` by ${version.created_by}` : ""}{version.note ? ` — ${version.note}` : ""}</div>
        <code className="block truncate text-[11px] text-gray-500" title={version.s3_mask_key}>{version.s3_mask_key}</code>
      </div>
    </li>
  );
}

export function MaskVersionsCard({ job }: { job: Job }) {
  const versions = job.mask_versions ?? [];
  const masks = useMasks(job.id, versions.length > 0);
  if (versions.length === 0) return null;
  const current = masks.data?.current ?? versions.find((v) => v.s3_mask_key === job.s3_mask_key)?.version ?? versions[versions.length - 1].version;
  const byVersion = new Map((masks.data?.versions ?? []).map((v) => [v.version, v]));
  return (
    <Card title={`Mask versions (${versions.length})`}>
      <ol className="space-y-2" data-testid="mask-versions">
        {[...versions].reverse().map((v) => <VersionRow key={v.version} version={v} current={v.version === current} urls={byVersion.get(v.version)} />)}
      </ol>
    </Card>
  );
}

export function AltTextCard({ job }: { job: Job }) {
  const save = useAltText();
  const canOperate = useCanOperate();
  const [draft, setDraft] = useState<string | null>(null);
  const value = draft ?? job.alt_text ?? "";
  return (
    <Card title="Alt text">
      <form
        className="flex flex-wrap items-center gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate({ id: job.id, altText: value.trim() }, { onSuccess: () => setDraft(null) });
        }}
      >
        <input
          aria-label="Alt text"
          name="alt-text"
          value={value}
          maxLength={512}
          disabled={!canOperate}
          onChange={(e) => setDraft(e.target.value)}
          placeholder="made from the theme's template when the job is published"
          className="min-w-48 flex-1 rounded-md border border-gray-300 bg-white px-2 py-1.5 text-sm dark:border-gray-700 dark:bg-gray-950"
        />
        <Button size="sm" type="submit" disabled={!canOperate || draft === null || save.isPending} data-testid="save-alt-text">{save.isPending ? "Saving…" : "Save"}</Button>
      </form>
      {save.isError && <p role="alert" className="mt-1 text-xs text-red-600">{save.error.message}</p>}
      {save.isSuccess && draft === null && <p role="status" className="mt-1 text-xs text-green-700 dark:text-green-400">Saved{job.status === "DONE" ? "; Shopify is updated" : ""}.</p>}
    </Card>
  );
}

function auditDetails(details: unknown): string {
  if (!details || typeof details !== "object") return "";
  return Object.entries(details as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" · ");
}

/** Who did what to the job from the dashboard (approve, reject, touch-up, retry, alt text). */
export function AuditCard({ jobId }: { jobId: string }) {
  const audit = useAudit(jobId);
  if (!audit.data || audit.data.length === 0) return null;
  return (
    <Card title="Audit trail">
      <ol className="space-y-1 text-xs" data-testid="job-audit">
        {audit.data.map((entry, i) => (
          <li key={String(entry.id ?? i)}>
            <span className="font-medium">{entry.action}</span> by {entry.actor}
            {entry.role ? ` (${entry.role})` : ""} · {new Date(entry.at).toLocaleString()} ({relativeTime(entry.at)})
            {auditDetails(entry.details) && <span className="block text-gray-500">{auditDetails(entry.details)}</span>}
          </li>
        ))}
      </ol>
    </Card>
  );
}
