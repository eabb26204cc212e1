import { useState } from "react";
import { Link, useLocation, useParams } from "react-router-dom";
import { AssetTile, CopyButton } from "../components/Asset";
import { AltTextCard, AuditCard, MaskVersionsCard, ReviewCard, canTouchUp } from "../components/JobReview";
import { Stepper } from "../components/Stepper";
import { Button, Card, Dialog, ErrorBox, ReasonField, Spinner, StatusBadge } from "../components/ui";
import type { Job } from "../lib/api";
import { fillTemplate, formatConfidence, formatCost, formatDuration, formatShare, relativeTime } from "../lib/format";
import { useFailJob, useJob, useRetryJob } from "../lib/hooks";
import { setTraceTemplate, traceTemplate } from "../lib/settings";

type AssetRef = { label: string; key: string; params: Record<string, string | number> };

export function jobAssets(job: Job): AssetRef[] {
  const assets: AssetRef[] = [];
  if (job.s3_original_key) assets.push({ label: "Original", key: job.s3_original_key, params: { type: "original" } });
  if (job.s3_cutout_key) assets.push({ label: "Cutout", key: job.s3_cutout_key, params: { type: "cutout" } });
  if (job.s3_mask_key) assets.push({ label: "Mask", key: job.s3_mask_key, params: { type: "mask" } });
  job.s3_background_keys.forEach((key, index) => assets.push({ label: `Background ${index}`, key, params: { type: "background", index } }));
  job.s3_composite_keys.forEach((key, index) => assets.push({ label: `Composite ${index}`, key, params: { type: "composite", index } }));
  job.s3_derivative_keys.forEach((key, index) => {
    const name = key.split("/").pop() ?? key;
    assets.push({ label: `Derivative ${name}`, key, params: { type: "derivative", index } });
  });
  if (job.manifest_s3_key) assets.push({ label: "Manifest", key: job.manifest_s3_key, params: { type: "manifest" } });
  return assets;
}

export interface SegmentInfo {
  confidence: number | null;
  provider: string | null;
  model: string | null;
  modelSha256: string | null;
  reusedFrom: string | null;
  /** A tinted glass body given partial alpha (provider_metadata.segment.translucent), or null. */
  glass: { opacity: number; share: number } | null;
}

// What the segment stage recorded about the cut-out (provider_metadata.segment), or null before it ran.
export function segmentInfo(job: Pick<Job, "segment_confidence" | "provider_metadata">): SegmentInfo | null {
  const raw = job.provider_metadata?.segment;
  const segment = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : null;
  if (!segment && job.segment_confidence == null) return null;
  const text = (value: unknown) => (typeof value === "string" && value ? value : null);
  const confidence = job.segment_confidence ?? (typeof segment?.confidence === "number" ? segment.confidence : null);
  const glass = segment?.translucent && typeof segment.translucent === "object" ? (segment.translucent as Record<string, unknown>) : null;
  return {
    confidence,
    provider: text(segment?.provider),
    model: text(segment?.model),
    modelSha256: text(segment?.model_sha256),
    reusedFrom: text(segment?.reused_from),
    glass:
      glass && typeof glass.opacity === "number" && typeof glass.share === "number"
        ? { opacity: glass.opacity, share: glass.share }
        : null,
  };
}

export function SegmentationCard({ info }: { info: SegmentInfo }) {
  return (
    <Card title="Cut-out">
      <dl className="space-y-1 text-sm" data-testid="segmentation">
        <div className="flex justify-between"><dt>Confidence</dt><dd className="tabular-nums" data-testid="segment-confidence">{formatConfidence(info.confidence)}</dd></div>
        <div className="flex justify-between"><dt>Provider</dt><dd>{info.provider ?? "—"}</dd></div>
        {info.model && <div className="flex justify-between"><dt>Model</dt><dd className="truncate pl-2">{info.model}</dd></div>}
        {info.modelSha256 && (
          <div className="flex justify-between"><dt>Model sha256</dt><dd className="pl-2 font-mono text-xs" title={info.modelSha256}>{info.modelSha256.slice(0, 12)}</dd></div>
        )}
        {info.glass && (
          <div className="flex justify-between" data-testid="segment-glass" title="A translucent body: the new backdrop shows through it">
            <dt>Glass body</dt>
            <dd className="tabular-nums">{formatShare(info.glass.opacity)} opaque, {formatShare(info.glass.share)} of the product</dd>
          </div>
        )}
        {info.reusedFrom && (
          <div className="flex justify-between" data-testid="segment-reused">
            <dt>Reused from</dt>
            <dd className="truncate pl-2"><Link to={`/jobs/${encodeURIComponent(info.reusedFrom)}`} className="font-mono text-xs text-indigo-600 hover:underline" title={info.reusedFrom}>job {info.reusedFrom.slice(0, 12)}</Link></dd>
          </div>
        )}
      </dl>
    </Card>
  );
}

function TimingBars({ timings }: { timings: Record<string, number | null> }) {
  const entries = Object.entries(timings);
  const max = Math.max(1, ...entries.map(([, v]) => v ?? 0));
  return (
    <ul className="space-y-1.5" data-testid="timing-bars">
      {entries.map(([name, ms]) => (
        <li key={name} className="grid grid-cols-[7rem_1fr_4.5rem] items-center gap-2 text-xs">
          <span className="capitalize">{name.replace(/_ms$/, "")}</span>
          <span className="h-2 rounded bg-gray-200 dark:bg-gray-800">
            <span className="block h-2 rounded bg-indigo-500" style={{ width: `${((ms ?? 0) / max) * 100}%` }} />
          </span>
          <span className="text-right tabular-nums text-gray-500">{formatDuration(ms)}</span>
        </li>
      ))}
    </ul>
  );
}

export function JobDetailPage() {
  const { id = "" } = useParams();
  const job = useJob(id);
  const retry = useRetryJob();
  const failJob = useFailJob();
  const [retryOpen, setRetryOpen] = useState(false);
  const [failOpen, setFailOpen] = useState(false);
  const [reason, setReason] = useState("");
  const [template, setTemplate] = useState<string | null>(null);
  const touchedUp = (useLocation().state as { touchedUp?: number; jobs?: string[] } | null) ?? null;

  if (job.isPending) return <Spinner label="Loading job…" />;
  if (job.isError) return <ErrorBox error={job.error} onRetry={() => job.refetch()} />;
  const j = job.data;
  const terminal = j.status === "DONE" || j.status === "FAILED";
  const linkTemplate = template ?? traceTemplate(j.trace_url_template);
  const segment = segmentInfo(j);
  // finished jobs: how long they took; a failed one stopped at its last update
  const elapsed =
    j.processing_ms ??
    (j.status === "FAILED" && j.updated_at ? new Date(j.updated_at).getTime() : Date.now()) - new Date(j.created_at).getTime();

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <Link to="/jobs" className="text-sm text-indigo-600 hover:underline">← Jobs</Link>
          <h1 className="mt-1 flex flex-wrap items-center gap-2 text-xl font-bold">
            <span className="font-mono">{j.sku}</span> <StatusBadge status={j.status} />
          </h1>
          <p className="text-xs text-gray-500">
            job <code>{j.id}</code> · theme {j.theme} · {j.completed_at ? "took" : j.status === "FAILED" ? "failed after" : "running for"} {formatDuration(elapsed)}
          </p>
        </div>
        <div className="flex gap-2">
          {canTouchUp(j) && (
            <Link to={`/jobs/${encodeURIComponent(j.id)}/touch-up`} className="inline-flex items-center rounded-md border border-gray-300 px-3 py-2 text-sm font-medium hover:bg-gray-100 dark:border-gray-700 dark:hover:bg-gray-800" data-testid="touch-up-link">Touch up</Link>
          )}
          {j.status === "FAILED" && <Button onClick={() => setRetryOpen(true)}>Retry</Button>}
          {!terminal && <Button variant="destructive" onClick={() => setFailOpen(true)}>Fail job</Button>}
        </div>
      </div>

      {touchedUp?.touchedUp && (
        <p role="status" className="rounded-md border border-green-300 bg-green-50 p-2 text-sm text-green-900 dark:border-green-800 dark:bg-green-950 dark:text-green-200" data-testid="touched-up">
          Saved mask v{touchedUp.touchedUp}; {touchedUp.jobs?.length ?? 1} job(s) of this photo run again from the cut-out.
        </p>
      )}
      <Card><Stepper job={j} /></Card>

      {j.status === "FAILED" && (
        <div role="alert" className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-200" data-testid="job-error">
          <div className="font-semibold">{j.error_code} {j.failed_stage && <span className="font-normal">in {j.failed_stage}</span>}</div>
          <div className="mt-1 whitespace-pre-wrap break-words">{j.error_message}</div>
        </div>
      )}

      <div className="grid grid-cols-1 gap-4 lg:grid-cols-3">
        <Card title="Timeline">
          <ol className="space-y-2 text-xs" data-testid="timeline">
            <li><span className="font-medium">Created</span> {new Date(j.created_at).toLocaleString()} ({relativeTime(j.created_at)})</li>
            {j.history.map((t, i) => (
              <li key={i}>
                <span className="font-medium">{t.from_status ?? "∅"} → {t.to_status}</span> {new Date(t.at).toLocaleString()}
                {t.note && <span className="text-gray-500"> — {t.note}</span>}
              </li>
            ))}
            {j.completed_at && <li><span className="font-medium">Completed</span> {new Date(j.completed_at).toLocaleString()}</li>}
          </ol>
        </Card>
        <Card title="Step timings"><TimingBars timings={j.timings} /></Card>
        <Card title="Costs and attempts">
          <dl className="space-y-1 text-sm">
            <div className="flex justify-between"><dt>Total cost</dt><dd className="tabular-nums">{formatCost(j.cost_usd)}</dd></div>
            {Object.entries(j.cost_breakdown).map(([k, v]) => (
              <div key={k} className="flex justify-between text-xs text-gray-500"><dt>{k}</dt><dd>{formatCost(v)}</dd></div>
            ))}
            <div className="flex justify-between"><dt>Manual retries</dt><dd>{j.retry_count}</dd></div>
            {Object.entries(j.attempts).map(([stage, n]) => (
              <div key={stage} className="flex justify-between text-xs text-gray-500"><dt>{stage} attempts</dt><dd>{n}</dd></div>
            ))}
            <div className="flex justify-between"><dt>Image sha256</dt><dd className="truncate pl-2 font-mono text-xs" title={j.img_sha256 ?? ""}>{j.img_sha256?.slice(0, 12) ?? "—"}</dd></div>
            {j.shopify && <div className="flex justify-between"><dt>Shopify</dt><dd>{j.shopify.status}{j.shopify.reason ? ` (${j.shopify.reason})` : ""}</dd></div>}
          </dl>
        </Card>
        {segment && <SegmentationCard info={segment} />}
        <ReviewCard job={j} />
        <MaskVersionsCard job={j} />
      </div>

      <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
        <AltTextCard job={j} />
        <AuditCard jobId={j.id} />
      </div>

      <Card title="Trace">
        {j.trace_id ? (
          <div className="flex flex-wrap items-center gap-2 text-sm" data-testid="trace">
            <code className="break-all">{j.trace_id}</code>
            <CopyButton text={j.trace_id} />
            {linkTemplate && (
              <a className="text-indigo-600 hover:underline" href={fillTemplate(linkTemplate, j.trace_id)} target="_blank" rel="noreferrer">Open in trace viewer</a>
            )}
            <details className="w-full text-xs">
              <summary className="cursor-pointer text-gray-500">Link template</summary>
              <input
                className="mt-1 w-full rounded-md border border-gray-300 bg-white px-2 py-1 dark:border-gray-700 dark:bg-gray-950"
                defaultValue={linkTemplate ?? ""}
                placeholder="https://tracing.example/trace/{trace_id}"
                onBlur={(e) => {
                  setTraceTemplate(e.target.value.trim());
                  setTemplate(e.target.value.trim() || null);
                }}
              />
            </details>
          </div>
        ) : (
          <p className="text-sm text-gray-500">No trace recorded for this job.</p>
        )}
      </Card>

      <Card title={`Assets (${jobAssets(j).length})`}>
        {jobAssets(j).length === 0 ? (
          <p className="text-sm text-gray-500">No assets stored yet.</p>
        ) : (
          <div className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-5">
            {jobAssets(j).map((a) => <AssetTile key={a.key} jobId={j.id} label={a.label} s3Key={a.key} params={a.params} />)}
          </div>
        )}
      </Card>

      <Dialog open={retryOpen} title="Retry this job?" onClose={() => setRetryOpen(false)}>
        <p className="text-sm">It resumes at <b>{j.failed_from ?? "?"}</b>, with a fresh attempt budget for {j.failed_stage ?? "that stage"}.</p>
        {retry.isError && <p role="alert" className="mt-2 text-sm text-red-600">{retry.error.message}</p>}
        <div className="mt-4 flex justify-end gap-2">
          <Button variant="ghost" onClick={() => setRetryOpen(false)}>Cancel</Button>
          <Button disabled={retry.isPending} onClick={() => retry.mutate(j.id, { onSuccess: () => setRetryOpen(false) })}>
            {retry.isPending ? "Retrying…" : "Retry job"}
          </Button>
        </div>
      </Dialog>

      <Dialog open={failOpen} title="Fail this job" onClose={() => setFailOpen(false)}>
        <ReasonField label="Reason" value={reason} onChange={setReason} />
        {failJob.isError && <p role="alert" className="mt-2 text-sm text-red-600">{failJob.error.message}</p>}
        <div className="mt-4 flex justify-end gap-2">
          <Button variant="ghost" onClick={() => setFailOpen(false)}>Cancel</Button>
          <Button
            variant="destructive"
            disabled={!reason.trim() || failJob.isPending}
            onClick={() => failJob.mutate({ id: j.id, reason: reason.trim() }, { onSuccess: () => setFailOpen(false) })}
          >
            {failJob.isPending ? "Failing…" : "Fail job"}
          </Button>
        </div>
      </Dialog>
    </div>
  );
}
