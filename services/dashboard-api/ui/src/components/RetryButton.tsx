import { useRetryJob } from "../lib/hooks";
import { Button } from "./ui";

export function RetryButton({ jobId, size = "sm" }: { jobId: string; size?: "sm" | "md" }) {
  const retry = useRetryJob();
  return (
    <span className="inline-flex items-center gap-2">
      <Button size={size} variant="outline" disabled={retry.isPending || retry.isSuccess} onClick={() => retry.mutate(jobId)}>
        {retry.isPending ? "Retrying…" : retry.isSuccess ? "Retried" : "Retry"}
      </Button>
      {retry.isError && <span role="alert" className="text-xs text-red-600">{retry.error.message}</span>}
    </span>
  );
}
