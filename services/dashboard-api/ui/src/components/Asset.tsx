import { useState } from "react";
import { usePresigned } from "../lib/hooks";

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API needs a secure context; fall back to a hidden textarea.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="rounded border border-gray-300 px-1.5 py-0.5 text-[11px] hover:bg-gray-100 dark:border-gray-700 dark:hover:bg-gray-800"
      onClick={async () => {
        setCopied(await copy(text));
        setTimeout(() => setCopied(false), 1500);
      }}
      aria-label={`Copy ${text}`}
    >
      {copied ? "Copied" : label}
    </button>
  );
}

export function AssetTile({ jobId, label, s3Key, params }: { jobId: string; label: string; s3Key: string; params: Record<string, string | number> }) {
  const isImage = /\.(jpe?g|png|webp|avif)$/i.test(s3Key);
  const presigned = usePresigned(jobId, params);
  const [broken, setBroken] = useState(false);
  return (
    <figure className="overflow-hidden rounded-md border border-gray-200 dark:border-gray-800" data-testid="asset">
      <div className="flex h-32 items-center justify-center bg-[repeating-conic-gradient(#e5e7eb_0_25%,#fff_0_50%)] bg-[length:16px_16px] dark:bg-[repeating-conic-gradient(#1f2937_0_25%,#111827_0_50%)]">
        {presigned.isPending && <span className="text-xs text-gray-500">loading…</span>}
        {presigned.isError && <span className="p-2 text-xs text-red-600">{presigned.error.message}</span>}
        {presigned.data && isImage && !broken && (
          <a href={presigned.data.url} target="_blank" rel="noreferrer" className="h-full w-full">
            <img src={presigned.data.url} alt={label} loading="lazy" className="h-full w-full object-contain" onError={() => setBroken(true)} data-testid="asset-preview" />
          </a>
        )}
        {presigned.data && (!isImage || broken) && (
          <a href={presigned.data.url} target="_blank" rel="noreferrer" className="text-xs text-indigo-600 hover:underline">
            {broken ? "preview unavailable — open" : "open"}
          </a>
        )}
      </div>
      <figcaption className="space-y-1 p-2 text-xs">
        <div className="font-medium">{label}</div>
        <div className="flex items-center gap-1">
          <code className="min-w-0 flex-1 truncate text-[11px] text-gray-500" title={s3Key}>{s3Key}</code>
          <CopyButton text={s3Key} />
        </div>
      </figcaption>
    </figure>
  );
}
