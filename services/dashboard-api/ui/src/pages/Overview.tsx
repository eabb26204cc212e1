import { Link } from "react-router-dom";
import { JobsPerHourChart, StepDurationBars } from "../components/charts";
import { RetryButton } from "../components/RetryButton";
import { Card, ErrorBox, Spinner, StatCard, StatusBadge } from "../components/ui";
import { formatCost, formatDuration, relativeTime } from "../lib/format";
import { useHealth, useJobs, useProcessor, useStats } from "../lib/hooks";

export function OverviewPage() {
  const stats = useStats();
  const processor = useProcessor();
  const failures = useJobs({ status: ["FAILED"], page_size: 10 });
  const health = useHealth();

  const alive = processor.data?.stages.reduce((n, s) => n + s.alive, 0) ?? 0;
  const paused = processor.data?.stages.reduce((n, s) => n + s.paused, 0) ?? 0;
  const lag = processor.data?.stages.reduce((n, s) => n + (s.lag ?? 0), 0) ?? 0;

  return (
    <div className="space-y-4">
      <h1 className="text-xl font-bold">Overview</h1>
      {stats.isError && <ErrorBox error={stats.error} onRetry={() => stats.refetch()} />}
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-4">
        <StatCard
          testId="card-jobs-today"
          label="Jobs today"
          value={stats.data ? stats.data.jobs_today.total : "…"}
          sub={stats.data && `${stats.data.jobs_today.done} done · ${stats.data.jobs_today.failed} failed`}
        />
        <StatCard label="Avg cost / job (24 h)" value={stats.data ? formatCost(stats.data.avg_cost_usd_24h) : "…"} />
        <StatCard label="Avg processing time" value={stats.data ? formatDuration(stats.data.avg_processing_ms_24h) : "…"} />
        <StatCard
          testId="card-processor"
          label="Processor"
          value={processor.data ? `${alive} worker${alive === 1 ? "" : "s"}` : "…"}
          sub={processor.data && `${paused} paused · lag ${lag}`}
        />
      </div>

      <div className="grid grid-cols-1 gap-4 lg:grid-cols-3">
        <Card title="Jobs per hour (24 h)" className="lg:col-span-2">
          {stats.data ? <JobsPerHourChart buckets={stats.data.jobs_per_hour} /> : <Spinner />}
          <p className="mt-1 text-xs text-gray-500">
            <span className="text-green-600">■</span> done <span className="text-red-600">■</span> failed{" "}
            <span className="text-indigo-500">■</span> in progress
          </p>
        </Card>
        <Card title="Step durations (24 h)">{stats.data ? <StepDurationBars steps={stats.data.steps} /> : <Spinner />}</Card>
      </div>

      <div className="grid grid-cols-1 gap-4 lg:grid-cols-3">
        <Card
          title="Recent failures"
          className="lg:col-span-2"
          action={<Link className="text-sm text-indigo-600 hover:underline" to="/jobs?status=FAILED">View all failures</Link>}
        >
          {failures.isPending && <Spinner />}
          {failures.isError && <ErrorBox error={failures.error} onRetry={() => failures.refetch()} />}
          {failures.data && failures.data.items.length === 0 && <p className="text-sm text-gray-500">No failed jobs.</p>}
          {failures.data && failures.data.items.length > 0 && (
            <ul className="divide-y divide-gray-200 dark:divide-gray-800" data-testid="recent-failures">
              {failures.data.items.map((job) => (
                <li key={job.id} className="flex flex-wrap items-center justify-between gap-2 py-2 text-sm">
                  <div className="min-w-0">
                    <Link to={`/jobs/${job.id}`} className="font-mono text-indigo-600 hover:underline">{job.sku}</Link>
                    <span className="ml-2 text-gray-500">{job.theme}</span>
                    <div className="text-xs text-gray-500">
                      {job.failed_stage ?? "?"}: {job.error_code ?? "error"} · {relativeTime(job.updated_at)}
                    </div>
                  </div>
                  <div className="flex items-center gap-2">
                    <StatusBadge status={job.status} />
                    <RetryButton jobId={job.id} />
                  </div>
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="System" action={<Link className="text-sm text-indigo-600 hover:underline" to="/workers">Processor status</Link>}>
          <dl className="space-y-2 text-sm" data-testid="system-info">
            {health.data &&
              Object.entries(health.data.components).map(([name, c]) => (
                <div key={name} className="flex justify-between gap-2">
                  <dt className="capitalize">{name}</dt>
                  <dd className={c.status === "ok" ? "text-green-600" : "text-red-600"} title={c.error ?? ""}>
                    {c.status} · {c.latency_ms} ms
                  </dd>
                </div>
              ))}
            {health.isPending && <Spinner />}
            <div className="flex justify-between gap-2"><dt>Workers alive</dt><dd>{alive}</dd></div>
            <div className="flex justify-between gap-2"><dt>Jobs in 24 h window</dt><dd>{stats.data?.window_jobs ?? "…"}</dd></div>
            <div className="flex justify-between gap-2"><dt>Refresh</dt><dd>stats 30 s · workers 5 s</dd></div>
            <div className="flex justify-between gap-2"><dt>UI version</dt><dd>{__APP_VERSION__}</dd></div>
          </dl>
        </Card>
      </div>
    </div>
  );
}
