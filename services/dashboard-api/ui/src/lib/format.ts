// Small, pure formatting helpers (unit-tested).

export function relativeTime(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return "—";
  const seconds = Math.round((now.getTime() - new Date(iso).getTime()) / 1000);
  const future = seconds < 0;
  const abs = Math.abs(seconds);
  const units: [number, string][] = [
    [86400 * 365, "y"], [86400 * 30, "mo"], [86400, "d"], [3600, "h"], [60, "m"], [1, "s"],
  ];
  if (abs < 5) return "just now";
  for (const [size, label] of units) {
    if (abs >= size) {
      const n = Math.floor(abs / size);
      return future ? `in ${n}${label}` : `${n}${label} ago`;
    }
  }
  return "just now";
}

export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return "—";
  return usd < 0.01 && usd > 0 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function formatShare(share: number | null | undefined): string {
  // a 0..1 share as a whole percentage ("—" when there is none)
  if (share === null || share === undefined) return "—";
  return `${Math.round(share * 100)}%`;
}

export function formatConfidence(confidence: number | null | undefined): string {
  // the cut-out's confidence, 0..1, as a percentage ("—" when the provider gave none)
  return formatShare(confidence);
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m ${seconds}s`;
}

export function stepIndex(status: string, failedFrom: string | null, pipeline: string[]): number {
  // Where the stepper stands: a failed job stands at the state it failed from.
  const at = status === "FAILED" ? failedFrom ?? "NEW" : status;
  const legacy: Record<string, string> = {
    QUEUED: "NEW", SEGMENTING: "NEW", BG_GENERATING: "BG_REMOVED", COMPOSITING: "BACKGROUND_READY",
    // held for a person before publish: the derivatives are made, the push waits
    IN_REVIEW: "SHOPIFY_PUSH",
  };
  return pipeline.indexOf(legacy[at] ?? at);
}

export function fillTemplate(template: string, traceId: string): string {
  return template.split("{trace_id}").join(encodeURIComponent(traceId));
}
