import { Button, Card, ErrorBox, Spinner } from "../components/ui";
import type { StageStatus } from "../lib/api";
import { relativeTime } from "../lib/format";
import { useControl, useProcessor } from "../lib/hooks";

function StageCard({ stage }: { stage: StageStatus }) {
  const control = useControl();
  const allPaused = stage.alive > 0 && stage.paused === stage.alive;
  return (
    <Card
      title={<span className="capitalize">{stage.stage}</span>}
      action={
        <span className="flex items-center gap-2">
          <Button size="sm" variant="outline" disabled={control.isPending} onClick={() => control.mutate({ action: "stop", stage: stage.stage })}>Pause</Button>
          <Button size="sm" variant="outline" disabled={control.isPending} onClick={() => control.mutate({ action: "start", stage: stage.stage })}>Resume</Button>
        </span>
      }
    >
      <div data-testid={`stage-${stage.stage}`} className="space-y-2">
        <div className="flex flex-wrap gap-4 text-sm">
          <span><b>{stage.alive}</b> alive</span>
          <span className={stage.paused ? "text-amber-600" : ""}><b>{stage.paused}</b> paused{allPaused ? " (all)" : ""}</span>
          <span>lag <b data-testid="lag">{stage.lag ?? "—"}</b></span>
          {stage.input_topic && <code className="text-xs text-gray-500">{stage.input_topic}</code>}
        </div>
        {control.isError && <p role="alert" className="text-xs text-red-600">{control.error.message}</p>}
        {control.isSuccess && <p className="text-xs text-green-600">Command sent.</p>}
        {stage.workers.length === 0 ? (
          <p className="text-xs text-gray-500">No worker has reported for this stage.</p>
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full min-w-[520px] text-left text-xs">
              <thead className="text-gray-500">
                <tr><th className="py-1">Instance</th><th>State</th><th>Last heartbeat</th><th className="text-right">In flight</th><th className="text-right">Processed</th><th className="text-right">Failed</th></tr>
              </thead>
              <tbody className="divide-y divide-gray-200 dark:divide-gray-800">
                {stage.workers.map((w) => (
                  <tr key={w.id} data-testid="worker-row" title={w.last_error ?? ""}>
                    <td className="py-1 font-mono">{w.instance ?? w.id}{w.host ? ` @ ${w.host}` : ""}</td>
                    <td>
                      <span className={!w.alive ? "text-gray-500" : w.paused ? "text-amber-600" : "text-green-600"}>
                        {!w.alive ? "stale" : w.paused ? "paused" : "running"}
                      </span>
                    </td>
                    <td>{relativeTime(w.last_seen)}</td>
                    <td className="text-right tabular-nums">{w.in_flight}</td>
                    <td className="text-right tabular-nums">{w.processed}</td>
                    <td className="text-right tabular-nums">{w.failed}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </Card>
  );
}

export function WorkersPage() {
  const processor = useProcessor();
  const control = useControl();
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h1 className="text-xl font-bold">Workers</h1>
        <span className="flex gap-2">
          <Button variant="outline" disabled={control.isPending} onClick={() => control.mutate({ action: "stop", stage: "all" })}>Pause all</Button>
          <Button disabled={control.isPending} onClick={() => control.mutate({ action: "start", stage: "all" })}>Resume all</Button>
        </span>
      </div>
      {control.isError && <ErrorBox error={control.error} />}
      {processor.isPending && <Spinner />}
      {processor.isError && <ErrorBox error={processor.error} onRetry={() => processor.refetch()} />}
      {processor.data?.kafka_error && <ErrorBox error={`Consumer lag unavailable: ${processor.data.kafka_error}`} />}
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
        {processor.data?.stages.map((s) => <StageCard key={s.stage} stage={s} />)}
      </div>
    </div>
  );
}
