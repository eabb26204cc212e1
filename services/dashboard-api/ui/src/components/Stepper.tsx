import { PIPELINE, type Job } from "../lib/api";
import { stepIndex } from "../lib/format";

const LABELS = ["New", "Cut out", "Backgrounds", "Composited", "Derivatives", "Shopify push", "Done"];

export function Stepper({ job }: { job: Pick<Job, "status" | "failed_from"> }) {
  const current = stepIndex(job.status, job.failed_from, PIPELINE);
  const failed = job.status === "FAILED";
  return (
    <ol className="grid grid-cols-7 gap-1" data-testid="stepper">
      {PIPELINE.map((status, i) => {
        const done = i < current || (i === current && status === "DONE");
        const here = i === current && !done;
        const colour = done
          ? "bg-green-500 text-white"
          : here && failed
            ? "bg-red-600 text-white"
            : here
              ? "bg-indigo-600 text-white animate-pulse"
              : "bg-gray-200 text-gray-600 dark:bg-gray-800 dark:text-gray-400";
        return (
          <li key={status} className="flex flex-col items-center text-center" aria-current={here ? "step" : undefined}>
            <span className={`flex h-7 w-7 items-center justify-center rounded-full text-xs font-bold ${colour}`}>
              {done ? "✓" : here && failed ? "!" : i + 1}
            </span>
            <span className="mt-1 hidden text-[11px] leading-tight sm:block">{LABELS[i]}</span>
          </li>
        );
      })}
    </ol>
  );
}
