// Typed client for the dashboard API. Every /api call sends the API key saved in localStorage.

export type JobStatus =
  | "NEW" | "BG_REMOVED" | "BACKGROUND_READY" | "COMPOSITED" | "DERIVATIVES" | "SHOPIFY_PUSH"
  | "IN_REVIEW" | "DONE" | "FAILED" | "QUEUED" | "SEGMENTING" | "BG_GENERATING" | "COMPOSITING";

export const PIPELINE: JobStatus[] = [
  "NEW", "BG_REMOVED", "BACKGROUND_READY", "COMPOSITED", "DERIVATIVES", "SHOPIFY_PUSH", "DONE",
];
export const ALL_STATUSES: JobStatus[] = [...PIPELINE.slice(0, 5), "IN_REVIEW", ...PIPELINE.slice(5), "FAILED"];
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
  review?: Review | null;
  mask_versions?: MaskVersion[];
  theme_version?: number | null;
  alt_text?: string | null;
}

/** Why a job was held before publish, and what a person decided. */
export interface Review {
  held_at: string;
  confidence: number | null;
  threshold: number;
  reason: string;
  decision: "approved" | "rejected" | null;
  decided_by: string | null;
  decided_at: string | null;
  note: string | null;
}

export interface MaskVersion {
  version: number;
  s3_mask_key: string;
  s3_cutout_key: string;
  source: "model" | "touch-up" | "recut";
  created_at: string;
  created_by: string | null;
  note: string | null;
  /** presigned URLs (GET /api/jobs/{id}/masks) */
  mask_url?: string;
  cutout_url?: string;
}
export interface MaskVersions { versions: MaskVersion[]; current: number | null }

export interface ReviewItem { job: Job; confidence: number | null; threshold: number; reason: string; held_at: string }
export interface ReviewPage { items: ReviewItem[]; next_cursor: string | null }
export interface BulkResult { results: { job_id: string; ok: boolean; error?: string | null }[] }

export type TouchUpMethod = "paint" | "grabcut" | "learned";
export interface Stroke { mode: "add" | "remove"; size: number; points: [number, number][] }
export interface ClickPoint { x: number; y: number; positive: boolean }
export interface TouchUpBody {
  base_version: number;
  strokes: Stroke[];
  points: ClickPoint[];
  method: TouchUpMethod;
  note?: string;
}

export interface AuditEntry {
  action: string;
  actor: string;
  at: string;
  role?: string;
  job_id?: string | null;
  [key: string]: unknown;
}

/** A theme as the API stores it (validated server-side by the same pydantic model). */
export type ThemeDoc = Record<string, unknown> & { name: string; title?: string };
export interface ThemeListItem {
  name: string;
  version: number;
  status: "active" | "archived";
  updated_at: string | null;
  updated_by: string | null;
  theme: ThemeDoc;
}
export interface ThemeDetail {
  name: string;
  status: "active" | "archived";
  version: number;
  theme: ThemeDoc;
  versions: { version: number; created_at: string; created_by: string | null }[];
}
export interface ThemePreview { variants: { index: number; image: string }[] }
export interface Me { name: string; role: "viewer" | "operator" }

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
  constructor(public status: number, message: string, public body: unknown = null) {
    super(message);
  }
}

function errorFrom(response: Response, body: unknown): ApiError {
  const detail =
    body && typeof body === "object" && "detail" in body ? String((body as { detail: unknown }).detail) : response.statusText;
  return new ApiError(response.status, detail || `HTTP ${response.status}`, body);
}

function authHeaders(init: RequestInit): Headers {
  const headers = new Headers(init.headers);
  const key = getApiKey();
  if (key) headers.set("X-API-Key", key);
  if (init.body) headers.set("Content-Type", "application/json");
  return headers;
}

/** A call that answers with bytes (an image): the blob, or an ApiError from the JSON body. */
export async function requestBlob(path: string, init: RequestInit = {}): Promise<Blob> {
  const response = await fetch(path, { ...init, headers: authHeaders(init) });
  if (response.ok) return response.blob();
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* plain text */
  }
  throw errorFrom(response, body);
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = authHeaders(init);
  const response = await fetch(path, { ...init, headers });
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!response.ok && !(path === "/health" && response.status === 503)) throw errorFrom(response, body);
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
  me: () => request<Me>("/api/me"),

  review: (cursor?: string | null, limit = 50) => {
    const params = new URLSearchParams({ limit: String(limit) });
    if (cursor) params.set("cursor", cursor);
    return request<ReviewPage>(`/api/review?${params}`);
  },
  approve: (id: string, note?: string) =>
    request<Job>(`/api/jobs/${encodeURIComponent(id)}/approve`, { method: "POST", body: JSON.stringify(note ? { note } : {}) }),
  reject: (id: string, reason: string) =>
    request<Job>(`/api/jobs/${encodeURIComponent(id)}/reject`, { method: "POST", body: JSON.stringify({ reason }) }),
  approveMany: (jobIds: string[]) =>
    request<BulkResult>("/api/review/approve", { method: "POST", body: JSON.stringify({ job_ids: jobIds }) }),
  audit: (id: string) => request<AuditEntry[] | { items: AuditEntry[] }>(`/api/jobs/${encodeURIComponent(id)}/audit`),

  masks: (id: string) => request<MaskVersions>(`/api/jobs/${encodeURIComponent(id)}/masks`),
  touchUp: (id: string, body: TouchUpBody) =>
    request<{ version: number; jobs: string[] }>(`/api/jobs/${encodeURIComponent(id)}/touch-up`, { method: "POST", body: JSON.stringify(body) }),
  touchUpPreview: (id: string, body: TouchUpBody) =>
    requestBlob(`/api/jobs/${encodeURIComponent(id)}/touch-up/preview`, { method: "POST", body: JSON.stringify(body) }),
  setAltText: (id: string, altText: string) =>
    request<Job>(`/api/jobs/${encodeURIComponent(id)}/alt-text`, { method: "PUT", body: JSON.stringify({ alt_text: altText }) }),

  themes: (includeArchived = false) =>
    request<{ items: ThemeListItem[] }>(`/api/themes${includeArchived ? "?include_archived=true" : ""}`),
  theme: (name: string) => request<ThemeDetail>(`/api/themes/${encodeURIComponent(name)}`),
  createTheme: (theme: ThemeDoc) => request<ThemeDetail>("/api/themes", { method: "POST", body: JSON.stringify({ theme }) }),
  updateTheme: (name: string, theme: ThemeDoc) =>
    request<ThemeDetail>(`/api/themes/${encodeURIComponent(name)}`, { method: "PUT", body: JSON.stringify({ theme }) }),
  duplicateTheme: (name: string, newName: string) =>
    request<ThemeDetail>(`/api/themes/${encodeURIComponent(name)}/duplicate`, { method: "POST", body: JSON.stringify({ name: newName }) }),
  archiveTheme: (name: string) => request<ThemeDetail>(`/api/themes/${encodeURIComponent(name)}/archive`, { method: "POST" }),
  restoreTheme: (name: string) => request<ThemeDetail>(`/api/themes/${encodeURIComponent(name)}/restore`, { method: "POST" }),
  previewTheme: (theme: ThemeDoc, size?: number, signal?: AbortSignal) =>
    request<ThemePreview>("/api/themes/preview", { method: "POST", body: JSON.stringify(size ? { theme, size } : { theme }), signal }),
};
