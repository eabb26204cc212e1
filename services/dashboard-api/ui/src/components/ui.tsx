import { useEffect, useRef, type ButtonHTMLAttributes, type ReactNode } from "react";
import type { JobStatus } from "../lib/api";

type Variant = "default" | "destructive" | "outline" | "ghost" | "secondary";
const VARIANTS: Record<Variant, string> = {
  default: "bg-indigo-600 text-white hover:bg-indigo-500",
  destructive: "bg-red-600 text-white hover:bg-red-500",
  outline: "border border-gray-300 dark:border-gray-700 hover:bg-gray-100 dark:hover:bg-gray-800",
  ghost: "hover:bg-gray-100 dark:hover:bg-gray-800",
  secondary: "bg-gray-200 text-gray-900 hover:bg-gray-300 dark:bg-gray-800 dark:text-gray-100 dark:hover:bg-gray-700",
};

export function Button({
  variant = "default",
  size = "md",
  className = "",
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; size?: "sm" | "md" }) {
  const sizing = size === "sm" ? "px-2 py-1 text-xs" : "px-3 py-2 text-sm";
  return (
    <button
      className={`inline-flex items-center justify-center gap-1 rounded-md font-medium transition focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 disabled:cursor-not-allowed disabled:opacity-50 ${sizing} ${VARIANTS[variant]} ${className}`}
      {...props}
    />
  );
}

export function Card({ title, children, className = "", action }: { title?: ReactNode; children: ReactNode; className?: string; action?: ReactNode }) {
  return (
    <section className={`rounded-lg border border-gray-200 bg-white p-4 shadow-sm dark:border-gray-800 dark:bg-gray-900 ${className}`}>
      {(title || action) && (
        <div className="mb-3 flex items-center justify-between gap-2">
          {title && <h2 className="text-sm font-semibold text-gray-700 dark:text-gray-300">{title}</h2>}
          {action}
        </div>
      )}
      {children}
    </section>
  );
}

export const STATUS_COLOURS: Record<JobStatus, string> = {
  NEW: "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
  QUEUED: "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
  SEGMENTING: "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200",
  BG_REMOVED: "bg-sky-100 text-sky-800 dark:bg-sky-900 dark:text-sky-200",
  BG_GENERATING: "bg-sky-100 text-sky-800 dark:bg-sky-900 dark:text-sky-200",
  BACKGROUND_READY: "bg-cyan-100 text-cyan-800 dark:bg-cyan-900 dark:text-cyan-200",
  COMPOSITING: "bg-cyan-100 text-cyan-800 dark:bg-cyan-900 dark:text-cyan-200",
  COMPOSITED: "bg-violet-100 text-violet-800 dark:bg-violet-900 dark:text-violet-200",
  DERIVATIVES: "bg-amber-100 text-amber-800 dark:bg-amber-900 dark:text-amber-200",
  IN_REVIEW: "bg-orange-100 text-orange-800 dark:bg-orange-900 dark:text-orange-200",
  SHOPIFY_PUSH: "bg-fuchsia-100 text-fuchsia-800 dark:bg-fuchsia-900 dark:text-fuchsia-200",
  DONE: "bg-green-100 text-green-800 dark:bg-green-900 dark:text-green-200",
  FAILED: "bg-red-100 text-red-800 dark:bg-red-900 dark:text-red-200",
};

export function StatusBadge({ status }: { status: JobStatus }) {
  return (
    <span data-testid="status-badge" className={`inline-block rounded-full px-2 py-0.5 text-xs font-semibold ${STATUS_COLOURS[status] ?? ""}`}>
      {status}
    </span>
  );
}

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <div role="status" className="flex items-center gap-2 p-4 text-sm text-gray-500">
      <span className="h-4 w-4 animate-spin rounded-full border-2 border-gray-300 border-t-indigo-600" />
      {label}
    </div>
  );
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div role="alert" className="flex flex-wrap items-center justify-between gap-2 rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
      <span>{message}</span>
      {onRetry && <Button size="sm" variant="outline" onClick={onRetry}>Try again</Button>}
    </div>
  );
}

export function Dialog({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    ref.current?.querySelector<HTMLElement>("textarea, input, button")?.focus();
    return () => window.removeEventListener("keydown", onKey);
  }, [open, onClose]);
  if (!open) return null;
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center bg-black/50 p-4" onClick={onClose}>
      <div
        ref={ref}
        role="dialog"
        aria-modal="true"
        aria-label={title}
        className="w-full max-w-md rounded-lg bg-white p-5 shadow-xl dark:bg-gray-900"
        onClick={(e) => e.stopPropagation()}
      >
        <h3 className="mb-3 text-lg font-semibold">{title}</h3>
        {children}
      </div>
    </div>
  );
}

/** The reason a person gives in a dialog (reject, fail): a labelled textarea of up to 500 characters. */
export function ReasonField({ label, value, onChange, name }: { label: string; value: string; onChange: (value: string) => void; name?: string }) {
  return (
    <label className="block text-sm">{label}
      <textarea
        name={name}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        maxLength={500}
        rows={3}
        className="mt-1 w-full rounded-md border border-gray-300 bg-white p-2 text-sm dark:border-gray-700 dark:bg-gray-950"
      />
    </label>
  );
}

export function StatCard({ label, value, sub, testId }: { label: string; value: ReactNode; sub?: ReactNode; testId?: string }) {
  return (
    <Card>
      <div data-testid={testId}>
        <div className="text-xs uppercase tracking-wide text-gray-500">{label}</div>
        <div className="mt-1 text-2xl font-bold">{value}</div>
        {sub && <div className="mt-1 text-xs text-gray-500">{sub}</div>}
      </div>
    </Card>
  );
}
