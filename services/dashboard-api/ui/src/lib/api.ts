// Typed client for the dashboard API. Every /api call sends the API key saved in localStorage.

export type JobStatus =
  | "NEW" | "BG_REMOVED" | "BACKGROUND_READY" | "COMPOSITED" | "DERIVATIVES" | "SHOPIFY_PUSH"
  | "DONE" | "FAILED" | "QUEUED" | "SEGMENTING" | "BG_GENERATING" | "COMPOSITING";

export const PIPELINE: JobStatus[] = [
  "NEW", "BG_REMOVED", "BACKGROUND_READY", "COMPOSITED", "DERIVATIVES", "SHOPIFY_PUSH", "DONE",
];
export const ALL_STATUSES: JobStatus[] = [...PIPELINE, "FAILED"];
export const STAGES = ["download", "segment", "background", "composite", "derive", "manifest", "publish"];

export interface JobSummary {
  id: string;
  sku: string;
  theme: string;
  status: JobStatus;
  created_at: string;
  updated_at: string | null;
  completed_at: string | null;
  cost_usd: number;
  retry_count: number;
  error_code: string | null;
  failed_stage: string | null;
  segment_confidence: number | null;
}

export interface JobPage {
  items: JobSummary[];
  total: number;
  /** false: at least `total` jobs match (the server caps its count) */
  total_exact?: boolean;
  page: number;
  page_size: number;
  pages: number;
}

export interface Transition { from_status: JobStatus | null; to_status: JobStatus; at: string; note: string | null }

export interface Job extends JobSummary {
  image_url: string;
  img_sha256: string | null;
  delivery_id: string | null;
  s3_original_key: string | null;
  s3_cutout_key: string | null;
  s3_mask_key: string | null;
  s3_background_keys: string[];
  s3_composite_keys: string[];
  s3_derivative_keys: string[];
  manifest_s3_key: string | null;
  shopify: { status: string; reason: string | null; product_id: string | null } | null;
  attempts: Record<string, number>;
  error_message: string | null;
  failed_from: JobStatus | null;
  trace_id: string | null;
  trace_url: string | null;
  trace_url_template: string | null;
  timings: Record<string, number | null>;
  cost_breakdown: Record<string, number>;
  provider_metadata: Record<string, unknown>;
  history: Transition[];
  processing_ms: number | null;
}

export interface StepDuration { step: string; count: number; p50_ms: number | null; p95_ms: number | null }
export interface HourBucket { hour: string; total: number; done: number; failed: number }
export interface DashboardStats {
  generated_at: string;
  jobs_today: { total: number; done: number; failed: number };
  avg_cost_usd_24h: number | null;
  avg_processing_ms_24h: number | null;
  steps: StepDuration[];
  jobs_per_hour: HourBucket[];
  window_jobs: number;
  sampled: boolean;
}

export interface Worker {
  id: string;
  instance: string | null;
  host: string | null;
  pid: number | null;
  in_flight: number;
  processed: number;
  failed: number;
  last_error: string | null;
  paused: boolean;
  started_at: string | null;
  last_seen: string | null;
  alive: boolean;
}
export interface StageStatus {
  stage: string;
  input_topic: string | null;
  workers: Worker[];
  alive: number;
  paused: number;
  lag: number | null;
  groups: { group_id: string; lag: number }[];
}
export interface ProcessorStatus { generated_at: string; stages: StageStatus[]; kafka_error: string | null }

export interface Health {
  status: "ok" | "degraded";
  components: Record<string, { status: string; latency_ms: number; error: string | null }>;
}

export interface Presigned { url: string; key: string; expires_in: number; type: string }

export interface JobFilters {
  status?: JobStatus[];
  sku?: string;
  theme?: string;
  created_from?: string;
  created_to?: string;
  cost_min?: string;
  cost_max?: string;
  max_confidence?: string;
  sort?: string;
  page?: number;
  page_size?: number;
}

const KEY_STORAGE = "plinth.apiKey";

export function getApiKey(): string | null {
  return localStorage.getItem(KEY_STORAGE);
}
export function setApiKey(key: string | null): void {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const key = getApiKey();
  if (key) headers.set("X-API-Key", key);
  if (init.body) headers.set("Content-Type", "application/json");
  const response = await fetch(path, { ...init, headers });
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!response.ok && !(path === "/health" && response.status === 503)) {
    const detail =
      body && typeof body === "object" && "detail" in body ? String((body as { detail: unknown }).detail) : response.statusText;
    throw new ApiError(response.status, detail || `HTTP ${response.status}`);
  }
  return body as T;
}

export function jobsQueryString(filters: JobFilters): string {
  const params = new URLSearchParams();
  for (const status of filters.status ?? []) params.append("status", status);
  for (const name of ["sku", "theme", "created_from", "created_to", "cost_min", "cost_max", "max_confidence", "sort"] as const) {
    const value = filters[name];
    if (value) params.set(name, name.startsWith("created_") ? new Date(value).toISOString() : value);
  }
  if (filters.page && filters.page > 1) params.set("page", String(filters.page));
  if (filters.page_size) params.set("page_size", String(filters.page_size));
  const query = params.toString();
  return query ? `?${query}` : "";
}

export const api = {
  jobs: (filters: JobFilters) => request<JobPage>(`/api/jobs${jobsQueryString(filters)}`),
  job: (id: string) => request<Job>(`/api/jobs/${encodeURIComponent(id)}`),
  stats: () => request<DashboardStats>("/api/jobs/stats"),
  retry: (id: string) => request<Job>(`/api/jobs/${encodeURIComponent(id)}/retry`, { method: "POST" }),
  fail: (id: string, reason: string) =>
    request<Job>(`/api/jobs/${encodeURIComponent(id)}/fail`, { method: "POST", body: JSON.stringify({ reason }) }),
  presign: (id: string, params: Record<string, string | number>) => {
    const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
    return request<Presigned>(`/api/jobs/${encodeURIComponent(id)}/presign?${query}`);
  },
  processor: () => request<ProcessorStatus>("/api/processor/status"),
  control: (action: "start" | "stop", stage: string) =>
    request<{ event_id: string }>(`/api/processor/${action}`, { method: "POST", body: JSON.stringify({ stage }) }),
  health: () => request<Health>("/health"),
};
