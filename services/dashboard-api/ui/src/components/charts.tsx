// Two small SVG charts; no chart library needed for bars.
import type { HourBucket, StepDuration } from "../lib/api";
import { formatDuration } from "../lib/format";

export function JobsPerHourChart({ buckets }: { buckets: HourBucket[] }) {
  const width = 720;
  const height = 180;
  const pad = { left: 32, bottom: 22, top: 8 };
  const max = Math.max(1, ...buckets.map((b) => b.total));
  const slot = (width - pad.left) / Math.max(1, buckets.length);
  const plotHeight = height - pad.bottom - pad.top;
  const y = (v: number) => pad.top + plotHeight - (v / max) * plotHeight;
  return (
    <svg viewBox={`0 0 ${width} ${height}`} className="h-48 w-full" role="img" aria-label="Jobs per hour over the last 24 hours" data-testid="jobs-per-hour">
      <line x1={pad.left} x2={width} y1={y(0)} y2={y(0)} className="stroke-gray-300 dark:stroke-gray-700" />
      <text x={pad.left - 4} y={y(max) + 4} textAnchor="end" className="fill-gray-500 text-[10px]">{max}</text>
      <text x={pad.left - 4} y={y(0)} textAnchor="end" className="fill-gray-500 text-[10px]">0</text>
      {buckets.map((b, i) => {
        const x = pad.left + i * slot + 2;
        const w = Math.max(1, slot - 4);
        const done = b.done;
        const failed = b.failed;
        const other = b.total - done - failed;
        const hour = new Date(b.hour).getHours();
        let top = y(0);
        const parts: [number, string][] = [[done, "fill-green-500"], [failed, "fill-red-500"], [other, "fill-indigo-400"]];
        return (
          <g key={b.hour}>
            <title>{`${new Date(b.hour).toLocaleString()}: ${b.total} jobs (${done} done, ${failed} failed)`}</title>
            {parts.map(([value, cls]) => {
              const h = (value / max) * plotHeight;
              top -= h;
              return value > 0 ? <rect key={cls} x={x} y={top} width={w} height={h} className={cls} /> : null;
            })}
            {i % 3 === 0 && (
              <text x={x + w / 2} y={height - 6} textAnchor="middle" className="fill-gray-500 text-[10px]">
                {String(hour).padStart(2, "0")}h
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

export function StepDurationBars({ steps }: { steps: StepDuration[] }) {
  const max = Math.max(1, ...steps.map((s) => s.p95_ms ?? 0));
  return (
    <ul className="space-y-2" data-testid="step-durations">
      {steps.map((s) => (
        <li key={s.step} className="text-xs">
          <div className="flex justify-between">
            <span className="font-medium capitalize">{s.step}</span>
            <span className="text-gray-500">
              p50 {formatDuration(s.p50_ms)} · p95 {formatDuration(s.p95_ms)} · n={s.count}
            </span>
          </div>
          <div className="relative mt-1 h-2 rounded bg-gray-200 dark:bg-gray-800">
            <div className="absolute h-2 rounded bg-indigo-300 dark:bg-indigo-800" style={{ width: `${((s.p95_ms ?? 0) / max) * 100}%` }} />
            <div className="absolute h-2 rounded bg-indigo-600" style={{ width: `${((s.p50_ms ?? 0) / max) * 100}%` }} />
          </div>
        </li>
      ))}
    </ul>
  );
}
