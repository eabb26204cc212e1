import type { ReactNode } from "react";
import { usePresigned } from "../lib/hooks";

export const CHECKERBOARD =
  "bg-[repeating-conic-gradient(#e5e7eb_0_25%,#fff_0_50%)] bg-[length:16px_16px] dark:bg-[repeating-conic-gradient(#1f2937_0_25%,#111827_0_50%)]";

/** A large view of one of the job's images (presigned S3 URL), with a caption. */
export function PresignedImage({
  jobId,
  params,
  label,
  checkerboard = false,
  testId,
  footer,
}: {
  jobId: string;
  params: Record<string, string | number>;
  label: string;
  checkerboard?: boolean;
  testId?: string;
  footer?: ReactNode;
}) {
  const presigned = usePresigned(jobId, params);
  return (
    <figure className="min-w-0 overflow-hidden rounded-md border border-gray-200 dark:border-gray-800" data-testid={testId}>
      <div className={`flex aspect-square items-center justify-center ${checkerboard ? CHECKERBOARD : "bg-gray-100 dark:bg-gray-900"}`}>
        {presigned.isPending && <span className="text-xs text-gray-500">loading…</span>}
        {presigned.isError && <span className="p-2 text-xs text-red-600">{presigned.error.message}</span>}
        {presigned.data && <img src={presigned.data.url} alt={label} className="h-full w-full object-contain" data-testid="review-image" />}
      </div>
      <figcaption className="flex items-center justify-between p-2 text-xs font-medium">
        <span>{label}</span>
        {footer}
      </figcaption>
    </figure>
  );
}
